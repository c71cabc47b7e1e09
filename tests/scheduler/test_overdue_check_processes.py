"""Crash safety with a real ``run_overdue_check`` process killed with SIGKILL (P9), on PostgreSQL."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

import pytest
from django.db import connection
from django.db.models import Count

from invoicing.models import Invoice
from reminders.models import Notification
from scheduler.models import JobExecutionLog, RunStatus
from tests.invoicing.factories import CustomerFactory
from tests.processes import needs_postgresql, run_manage, start_manage
from tests.scheduler.oracle import owed

pytestmark = [needs_postgresql, pytest.mark.processes, pytest.mark.django_db(transaction=True)]

AS_OF = date(2026, 3, 15)
BATCH = 20
T = TypeVar("T")


@pytest.fixture
def slow_batches() -> Iterator[None]:
    """Each reminder insert statement takes 50 ms longer, so a run lasts long enough to be killed mid-way."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION slow_batch() RETURNS trigger AS $$ "
            "BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER slow_batch AFTER INSERT ON reminders_notification "
            "FOR EACH STATEMENT EXECUTE FUNCTION slow_batch()"
        )
    yield
    # A transactional test database is flushed, not rolled back: the trigger must go by hand.
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS slow_batch ON reminders_notification")
        cursor.execute("DROP FUNCTION IF EXISTS slow_batch()")


def wait_for(probe: Callable[[], T | None], timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (found := probe()) is not None:
            return found
        time.sleep(0.02)
    raise AssertionError(f"nothing after {timeout} s")


def load_overdue_invoices(count: int) -> None:
    customer = CustomerFactory()
    Invoice.objects.bulk_create(
        Invoice(
            customer=customer,
            number=f"INV-{n:05d}",
            issue_date=AS_OF - timedelta(days=60),
            due_date=AS_OF - timedelta(days=1 + n % 30),
            currency="EUR",
            total=Decimal("100.00"),
            status="sent",
        )
        for n in range(count)
    )


def test_a_killed_run_leaves_whole_batches_and_the_next_run_finishes_exactly(slow_batches):
    load_overdue_invoices(600)
    expected = owed(AS_OF, (1,))
    process = start_manage("run_overdue_check", "--as-of", AS_OF.isoformat(), "--batch-size", str(BATCH))

    victim = wait_for(lambda: JobExecutionLog.objects.filter(notifications_created__gte=3 * BATCH).first())
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)

    victim.refresh_from_db()
    committed = Notification.objects.filter(run_id=victim.pk).count()
    assert victim.status == RunStatus.RUNNING
    assert victim.notifications_created == committed == victim.invoices_processed
    assert committed % BATCH == 0
    assert 0 < committed < 600

    recovery = run_manage("run_overdue_check", "--as-of", AS_OF.isoformat(), "--batch-size", str(BATCH))

    assert recovery.returncode == 0, recovery.stdout + recovery.stderr
    victim.refresh_from_db()
    assert victim.status == RunStatus.ABANDONED
    notified = dict(Notification.objects.values_list("invoice_id").annotate(n=Count("id")))
    assert set(notified) == set(expected)
    assert set(notified.values()) == {1}
    finisher = JobExecutionLog.objects.exclude(pk=victim.pk).get()
    assert finisher.notifications_created == 600 - committed
    assert finisher.already_notified == committed


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_signalled_run_ends_failed_naming_the_signal_releases_the_lock_and_exits_128_plus_it(
    slow_batches, stop
):
    """`kill`, `docker stop`, systemd (SIGTERM) and Ctrl-C (SIGINT) mid-run: the log does not stay
    `running`, its committed batches stay whole, and the next run gets the lock at once."""
    load_overdue_invoices(600)
    process = start_manage("run_overdue_check", "--as-of", AS_OF.isoformat(), "--batch-size", str(BATCH))
    victim = wait_for(lambda: JobExecutionLog.objects.filter(notifications_created__gte=2 * BATCH).first())

    process.send_signal(stop)
    output, _ = process.communicate(timeout=30)

    assert process.returncode == 128 + stop, output
    victim.refresh_from_db()
    assert victim.status == RunStatus.FAILED
    assert f"stopped by {stop.name}" in victim.traceback
    assert victim.finished_at is not None
    committed = Notification.objects.filter(run_id=victim.pk).count()
    assert victim.notifications_created == committed
    assert committed % BATCH == 0
    assert "Traceback" not in output.split("CommandError")[-1]
    follower = run_manage("run_overdue_check", "--as-of", AS_OF.isoformat(), "--batch-size", "1000")
    assert follower.returncode == 0, follower.stdout + follower.stderr
    assert JobExecutionLog.objects.exclude(pk=victim.pk).get().status == RunStatus.COMPLETED
    assert Notification.objects.count() == 600


def test_reset_of_demo_data_while_a_run_is_going_is_refused_clearly(slow_batches):
    load_overdue_invoices(3000)
    process = start_manage("run_overdue_check", "--as-of", AS_OF.isoformat(), "--batch-size", str(BATCH))
    try:
        wait_for(lambda: JobExecutionLog.objects.filter(notifications_created__gte=BATCH).first())
        reset = run_manage("seed_demo_data", "--reset", "--delete-non-demo-data", "--invoices", "10")
    finally:
        process.wait(timeout=60)
    assert reset.returncode == 2
    assert "a run of the overdue check is going on" in reset.stderr
    assert "ProtectedError" not in reset.stderr + reset.stdout
    assert len(reset.stderr) < 500
    assert Invoice.objects.count() == 3000
