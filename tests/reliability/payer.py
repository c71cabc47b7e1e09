"""A payer racing a run of the overdue check, in a process of its own (P19).

Started with ``manage.py shell -c "from tests.reliability.payer import main; main(...)"`` against the test
database. It waits for the next run's log, then pays open invoices just ahead of the run's committed
progress, so that some land in the batch the run is reading: one invoice per transaction, or three
updated in descending id order (against the run's ascending walk: the deadlock case). After each
payment's COMMIT has returned, it records ``clock_timestamp()`` per invoice in ``race_payments``: a
moment the payment had certainly committed by.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from django.db import connection, transaction

PAY = "UPDATE invoicing_invoice SET status = 'paid', amount_paid = total WHERE id = %s AND status = 'sent'"
PAYMENTS_PER_BATCH = 2
RECORD = "INSERT INTO race_payments (invoice_id, acked_at) SELECT unnest(%s::bigint[]), clock_timestamp()"


def main(*, after_log: int, order_file: str, ready_file: str, batch_size: int, seed: int) -> None:
    order = json.loads(Path(order_file).read_text())
    rng = random.Random(seed)
    Path(ready_file).write_text("ready")
    log_id = _wait_for_run(after_log)
    paid: set[int] = set()
    payments_at: dict[int, int] = {}
    while (progress := _progress(log_id)) is not None:
        time.sleep(0.0005)
        # A few payments per committed batch: about one invoice in four paid, the rest reminded.
        if payments_at.get(progress, 0) >= PAYMENTS_PER_BATCH:
            continue
        payments_at[progress] = payments_at.get(progress, 0) + 1
        ahead = order[progress : progress + 3 * batch_size]
        chosen = rng.sample(ahead, min(len(ahead), rng.choice((1, 1, 3))))
        ids = [invoice for invoice in chosen if invoice not in paid]
        if ids:
            _pay(ids)
            paid.update(ids)


def _wait_for_run(after_log: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT min(id) FROM scheduler_jobexecutionlog WHERE id > %s", [after_log])
            (log_id,) = cursor.fetchone()
        if log_id:
            return log_id
        time.sleep(0.01)
    raise TimeoutError(f"no run log after id {after_log} within {timeout} s")


def _progress(log_id: int) -> int | None:
    """The invoices the run has examined in committed batches, or None once it has finished."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT invoices_processed, finished_at IS NOT NULL FROM scheduler_jobexecutionlog WHERE id = %s",
            [log_id],
        )
        processed, finished = cursor.fetchone()
    return None if finished else processed


def _pay(ids: list[int]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        for invoice in sorted(ids, reverse=True):
            cursor.execute(PAY, [invoice])
    # Autocommit again: this statement starts after the payment's COMMIT returned.
    with connection.cursor() as cursor:
        cursor.execute(RECORD, [ids])
