"""P14: concurrent runs never duplicate a notification; one run works, the others end ``skipped``.

Four real ``run_overdue_check`` processes against the test PostgreSQL database.
"""

from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import pytest
from django.db import connection, transaction

from reminders.models import Notification
from scheduler.models import JobExecutionLog, RunStatus
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.processes import needs_postgresql, running_manage, wait_until

PROCESSES = 4
OVERDUE = 300
FINISH_WITHIN = 120

pytestmark = [pytest.mark.processes, needs_postgresql, pytest.mark.django_db(transaction=True)]


def statuses() -> Counter[str]:
    return Counter(JobExecutionLog.objects.values_list("status", flat=True))


def others_skipped() -> bool:
    return statuses()[RunStatus.SKIPPED] == PROCESSES - 1


def test_concurrent_runs_one_completes_the_others_skip_and_nothing_is_duplicated(tmp_path: Path) -> None:
    customers = CustomerFactory.create_batch(10)
    overdue = [InvoiceFactory(customer=customers[n % 10]) for n in range(OVERDUE)]
    InvoiceFactory.create_batch(20, status="paid", amount_paid=100)
    with ExitStack() as stack:
        outputs = [stack.enter_context((tmp_path / f"run-{n}.log").open("w")) for n in range(PROCESSES)]
        # A run over a few hundred invoices is quicker than starting a process, so without this the runs
        # could follow one another instead of overlapping. Holding back inserts into the notification
        # table keeps the run that gets the lock busy until every other run has tried it and been skipped.
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {Notification._meta.db_table} IN SHARE MODE")
            runs = [stack.enter_context(running_manage("run_overdue_check", output=out)) for out in outputs]
            all_skipped = wait_until(others_skipped, timeout=FINISH_WITHIN)
        returncodes = [run.wait(timeout=FINISH_WITHIN) for run in runs]
    logs = "\n".join(f"{out.name}:\n{Path(out.name).read_text()}" for out in outputs)

    assert all_skipped, f"runs seen: {statuses()}\n{logs}"
    assert returncodes == [0] * PROCESSES, logs
    assert statuses() == {RunStatus.COMPLETED: 1, RunStatus.SKIPPED: PROCESSES - 1}
    worker = JobExecutionLog.objects.get(status=RunStatus.COMPLETED)
    skipped = JobExecutionLog.objects.filter(status=RunStatus.SKIPPED)
    assert all(run.notifications_created == 0 for run in skipped)
    pairs = list(Notification.objects.values_list("invoice", "level"))
    assert len(pairs) == len(set(pairs)) == worker.notifications_created == OVERDUE
    assert {invoice for invoice, _ in pairs} == {invoice.pk for invoice in overdue}
    assert not Notification.objects.exclude(run_id=worker.pk).exists()
