"""The scheduled task: one slot produces at most one real run, however often it is delivered
(docs/SPEC.md §6)."""

import pydoc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from croniter import croniter
from django.db import connection
from django.test import override_settings
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.scheduler import scheduler
from django_q.signing import SignedPackage

from reminders.models import Notification
from scheduler.config import load_overdue_config
from scheduler.models import JobExecutionLog, RunStatus
from scheduler.schedules import TASK_FUNC, schedule_sync
from scheduler.services import slot_key
from scheduler.tasks import RunFailed, overdue_check_task
from tests.invoicing.factories import InvoiceFactory
from tests.scheduler.factories import JobExecutionLogFactory

SLOT = "2026-03-11T00:00:00+00:00"

pytestmark = pytest.mark.django_db


def test_scheduled_run_records_its_trigger_and_slot() -> None:
    InvoiceFactory.create_batch(3)
    log = JobExecutionLog.objects.get(pk=overdue_check_task(scheduled_for=SLOT))
    assert (log.triggered_by, log.status) == ("schedule", RunStatus.COMPLETED)
    assert log.scheduled_for == datetime(2026, 3, 11, tzinfo=UTC)
    assert log.notifications_created == 3


def test_a_failed_run_fails_the_task_so_the_cluster_lists_it_too() -> None:
    InvoiceFactory.create_batch(2)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE invoicing_customer RENAME COLUMN email TO email_gone")
    with pytest.raises(RunFailed, match=r"Run #\d+ failed"):
        overdue_check_task(scheduled_for=SLOT)
    assert JobExecutionLog.objects.get().status == RunStatus.FAILED


def test_same_slot_delivered_twice_runs_once() -> None:
    InvoiceFactory.create_batch(3)
    first = overdue_check_task(scheduled_for=SLOT)
    second = overdue_check_task(scheduled_for=SLOT)
    assert first is not None
    assert second is None
    assert list(JobExecutionLog.objects.values_list("pk", flat=True)) == [first]
    assert Notification.objects.count() == 3


def test_slot_redelivered_while_its_run_is_still_going_does_nothing() -> None:
    config = load_overdue_config()
    slot = datetime.fromisoformat(SLOT)
    JobExecutionLogFactory(
        status=RunStatus.RUNNING,
        finished_at=None,
        scheduled_for=slot,
        slot_key=slot_key(slot, config.timezone),
    )
    InvoiceFactory()
    assert overdue_check_task(scheduled_for=SLOT) is None
    assert not Notification.objects.exists()


def test_next_slot_runs_again() -> None:
    overdue_check_task(scheduled_for=SLOT)
    later = (datetime.fromisoformat(SLOT) + timedelta(days=1)).isoformat()
    assert overdue_check_task(scheduled_for=later) is not None
    assert JobExecutionLog.objects.count() == 2


def test_run_now_from_the_admin_has_no_slot_and_always_runs() -> None:
    first = overdue_check_task(triggered_by="admin")
    second = overdue_check_task(triggered_by="admin")
    logs = JobExecutionLog.objects.filter(pk__in=[first, second])
    assert sorted(logs.values_list("triggered_by", "scheduled_for")) == [("admin", None), ("admin", None)]


@pytest.mark.parametrize("value", ["2026-03-11T00:00:00", "tomorrow", ""])
def test_slot_without_a_utc_offset_is_refused_before_any_run(value: str) -> None:
    with pytest.raises(ValueError, match=f"scheduled_for={value!r} is invalid: expected an ISO 8601"):
        overdue_check_task(scheduled_for=value)
    assert not JobExecutionLog.objects.exists()


def deliver_due_schedules(next_run: datetime) -> None:
    """Let django-q2's own scheduler fire the schedule as if ``next_run`` had just come."""
    Schedule.objects.update(next_run=next_run)
    scheduler(broker=get_broker())


def run_queued_tasks(func: str = TASK_FUNC) -> list[Any]:
    """Take each queued task off the broker and call it the way a cluster worker does; return the results
    of the tasks of ``func`` (a real run also queues the sending of its reminders)."""
    broker = get_broker()
    results = []
    while queued := broker.dequeue():
        for ack_id, payload in queued:
            task = SignedPackage.loads(payload)
            result = pydoc.locate(task["func"])(*task["args"], **task["kwargs"])
            if task["func"] == func:
                results.append(result)
            broker.acknowledge(ack_id)
    return results


@pytest.mark.django_db(transaction=True)
@override_settings(OVERDUE_INVOICE_SCHEDULE_VALUE="30 1 * * *", OVERDUE_INVOICE_TIMEZONE="America/New_York")
def test_local_hour_repeated_by_dst_fall_back_runs_once() -> None:
    """On 2024-11-03 New York's clocks go from 01:59 EDT back to 01:00 EST: 01:30 happens twice, and the
    cron schedule fires at both instants. The second delivery finds its slot taken."""
    config = load_overdue_config()
    schedule_sync(config=config, now=datetime(2024, 11, 3, 4, 0, tzinfo=UTC))
    first_instant = Schedule.objects.get().next_run
    # What the cluster computes right after the first firing (UTC: a time in the fold equals no other zone's).
    local_first = first_instant.astimezone(config.timezone)
    second_instant = croniter("30 1 * * *", local_first).get_next(datetime).astimezone(UTC)
    assert first_instant == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)
    assert second_instant == datetime(2024, 11, 3, 6, 30, tzinfo=UTC)
    InvoiceFactory.create_batch(2)

    deliver_due_schedules(first_instant)
    deliver_due_schedules(second_instant)
    results = run_queued_tasks()

    assert len(results) == 2
    log = JobExecutionLog.objects.get()
    assert results == [log.pk, None]
    assert (log.triggered_by, log.status, log.scheduled_for) == (
        "schedule",
        RunStatus.COMPLETED,
        first_instant,
    )
    assert Notification.objects.count() == 2
