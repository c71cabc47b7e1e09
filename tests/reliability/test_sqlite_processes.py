"""The embedded SQLite database shared by real processes at once (docs/SPEC.md §6, P14, P20): runs of the
overdue check and senders in processes of their own, payments and API requests from the test's process,
all writing to one file, and none of them fails with ``database is locked`` (config/settings.py: a busy
timeout, WAL, ``BEGIN IMMEDIATE``)."""

from __future__ import annotations

import re
from collections import Counter
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import factory
import pytest
from django.db import connection, transaction
from django.urls import reverse
from django_q.models import OrmQ

from api.tokens import api_token_create
from invoicing.models import Invoice, InvoiceStatus
from reminders.models import Message, MessageState, Notification
from scheduler.models import JobExecutionLog, RunStatus
from tests.api.conftest import bearer
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.processes import running_manage
from tests.reliability.runs import RUN_ENV

pytestmark = [
    pytest.mark.processes,
    pytest.mark.sqlite_processes,
    pytest.mark.skipif(
        connection.vendor != "sqlite",
        reason="races processes on one SQLite file; on PostgreSQL tests/scheduler/test_concurrency.py does",
    ),
    pytest.mark.django_db(transaction=True),
]

OVERDUE = 400
RUNS_PER_ROUND = 3
SENDERS_PER_ROUND = 2
# Each round reaches the next reminder threshold (RUN_ENV: 1, 7 and 30 days after the due date).
ROUNDS = (date(2026, 2, 1), date(2026, 2, 7), date(2026, 3, 2))
FINISH_WITHIN = 180
MESSAGE_ID = re.compile(rb"^Message-ID: (\S+)", re.MULTILINE | re.IGNORECASE)


def pay_one_open_invoice() -> bool:
    """A payment as the desk makes one: read the invoice, then write it, in one transaction."""
    with transaction.atomic():
        invoice = Invoice.objects.filter(status=InvoiceStatus.SENT).order_by("?").first()
        if invoice is None:
            return False
        invoice.amount_paid = invoice.total
        invoice.status = InvoiceStatus.PAID
        invoice.save(update_fields=["amount_paid", "status"])
    return True


def test_runs_senders_payments_and_api_requests_share_one_sqlite_file(
    client, django_user_model, tmp_path: Path
) -> None:
    django_user_model.objects.create_user(username="ops", is_staff=True)
    staff_key = api_token_create(username="ops", name="race").key
    customers = CustomerFactory.create_batch(20)
    InvoiceFactory.create_batch(OVERDUE, customer=factory.Iterator(customers))
    outbox = tmp_path / "outbox"
    env = {**RUN_ENV, "EMAIL_URL": f"filemail:///{outbox}", "REMINDER_SEND_CHUNK": "10"}
    payments = queued = 0
    outputs: list[Path] = []
    returncodes: list[int] = []
    for round_number, as_of in enumerate(ROUNDS):
        check = ("run_overdue_check", "--as-of", as_of.isoformat(), "--batch-size", "20")
        commands = [check] * RUNS_PER_ROUND
        commands += [("send_reminders",)] * SENDERS_PER_ROUND
        with ExitStack() as stack:
            processes = []
            for number, command in enumerate(commands):
                outputs.append(tmp_path / f"round-{round_number}-{number}-{command[0]}.log")
                output = stack.enter_context(outputs[-1].open("w"))
                processes.append(stack.enter_context(running_manage(*command, output=output, **env)))
            while any(process.poll() is None for process in processes):
                payments += pay_one_open_invoice()
                response = client.post(reverse("scheduler-api:run"), headers=bearer(staff_key))
                assert response.status_code == 202, response.content
                queued += 1
            returncodes += [process.wait(timeout=FINISH_WITHIN) for process in processes]
    logs = "\n".join(f"{path.name}:\n{path.read_text()}" for path in outputs)

    assert "database is locked" not in logs, logs
    assert returncodes == [0] * len(returncodes), logs
    runs = list(JobExecutionLog.objects.all())
    assert {run.status for run in runs} <= {RunStatus.COMPLETED, RunStatus.SKIPPED}, logs
    assert len(runs) == RUNS_PER_ROUND * len(ROUNDS)
    completed_per_day = Counter(run.as_of for run in runs if run.status == RunStatus.COMPLETED)
    assert set(completed_per_day) == set(ROUNDS), completed_per_day
    for run in runs:
        assert run.notifications_created == Notification.objects.filter(run_id=run.pk).count(), run
    pairs = list(Notification.objects.values_list("invoice", "level"))
    assert len(pairs) == len(set(pairs))
    assert (
        Counter(level for _, level in pairs)[1]
        == OVERDUE - Invoice.objects.filter(status=InvoiceStatus.PAID, notifications__isnull=True).count()
    )
    message_ids = [MESSAGE_ID.search(path.read_bytes()).group(1) for path in outbox.glob("*.eml")]
    assert len(message_ids) == len(set(message_ids))
    assert len(message_ids) == Message.objects.filter(state=MessageState.SENT).count() > 0
    assert Invoice.objects.filter(status=InvoiceStatus.PAID).count() == payments > 0
    assert OrmQ.objects.count() == queued
