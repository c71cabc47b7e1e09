"""A schedule slot runs once however often django-q2 delivers its task, and the two instants of a local
hour repeated by a DST fall-back are one slot (docs/SPEC.md §6): real processes and a real ``qcluster``."""

from __future__ import annotations

import signal
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone
from django_q.models import OrmQ, Task
from django_q.tasks import async_task

from reminders.models import Notification
from scheduler.models import JobExecutionLog, RunStatus
from scheduler.schedules import TASK_FUNC
from tests.processes import wait_until
from tests.reliability.conftest import load_invoices, report
from tests.reliability.runs import PROCESS_TEST, outcome
from tests.scheduler.oracle import owed

pytestmark = PROCESS_TEST

ZONE = "America/New_York"
ENV = {"OVERDUE_INVOICE_TIMEZONE": ZONE}
# New York's clocks go back from 01:59 EDT to 01:00 EST on 2024-11-03: 01:30 happens at both instants.
FALL_BACK = (datetime(2024, 11, 3, 5, 30, tzinfo=UTC), datetime(2024, 11, 3, 6, 30, tzinfo=UTC))
WITHIN = 180


def slots(count: int) -> list[datetime]:
    return [datetime(2026, 3, 1, 5, 0, tzinfo=UTC) + timedelta(days=day) for day in range(count)]


def label(slot: datetime) -> str:
    """The slot a delivery is for: both fall-back instants are the one slot of that night."""
    return "fall-back night" if slot in FALL_BACK else slot.isoformat()


def today_in_zone() -> date:
    return timezone.now().astimezone(ZoneInfo(ZONE)).date()


def waiting_log_inserts() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted "
            "AND relation = 'scheduler_jobexecutionlog'::regclass"
        )
        return cursor.fetchone()[0]


def deliver(slot: datetime) -> tuple[str, ...]:
    code = (
        "from scheduler.tasks import overdue_check_task; "
        f"print('RESULT', overdue_check_task(scheduled_for={slot.isoformat()!r}))"
    )
    return ("shell", "-c", code)


def test_a_slot_delivered_to_several_processes_at_the_same_moment_runs_once(size, rng, run_process):
    load_invoices(rng, count=300, around=today_in_zone(), days_before=60, days_after=30)
    expected = owed(today_in_zone(), (1,))
    deliveries = [slot for slot in slots(size.slots) for _ in range(size.deliveries_per_slot)]
    deliveries += list(FALL_BACK)
    rng.shuffle(deliveries)
    # Every delivery waits at its log insert behind this lock, then all race for their slot at once.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE scheduler_jobexecutionlog IN SHARE MODE")
        processes = [run_process(*deliver(slot), **ENV) for slot in deliveries]
        all_waiting = wait_until(lambda: waiting_log_inserts() == len(processes), timeout=WITHIN)
    returncodes = [process.wait(timeout=WITHIN) for process in processes]

    outputs = [process.output_path.read_text() for process in processes]
    assert all_waiting, outputs
    assert returncodes == [0] * len(processes), outputs
    ran = Counter(
        label(slot) for slot, out in zip(deliveries, outputs, strict=True) if "RESULT None" not in out
    )
    distinct_slots = {label(slot) for slot in deliveries}
    assert JobExecutionLog.objects.count() == len(distinct_slots)
    assert ran == dict.fromkeys(distinct_slots, 1), ran
    result = outcome(list(JobExecutionLog.objects.all()), expected)
    assert result.exact, result
    report(
        "a slot delivered to several processes at once",
        slots=len(distinct_slots),
        deliveries=len(deliveries),
        runs=JobExecutionLog.objects.count(),
        slots_run_twice=sum(1 for count in ran.values() if count > 1),
        duplicates=result.duplicates,
        lost=result.lost,
    )


def enqueue(slot: datetime, deliveries: int) -> None:
    """Queue the slot's task on the ORM broker, and hand the same package out ``deliveries - 1`` more
    times, as the broker does when a task's acknowledgement does not come back in time."""
    async_task(TASK_FUNC, triggered_by="schedule", scheduled_for=slot.isoformat())
    package = OrmQ.objects.order_by("-pk").first()
    for _ in range(deliveries - 1):
        OrmQ.objects.create(key=package.key, payload=package.payload, lock=package.lock)


def all_delivered(tasks: int) -> bool:
    finished = not JobExecutionLog.objects.filter(status=RunStatus.RUNNING).exists()
    # Each real run also queues a sending of its reminders; only the check's tasks are counted here.
    return finished and not OrmQ.objects.exists() and Task.objects.filter(func=TASK_FUNC).count() == tasks


def test_a_cluster_runs_each_slot_once_however_often_it_is_delivered_and_across_a_dst_fall_back(
    size, rng, run_process
):
    load_invoices(rng, count=300, around=today_in_zone(), days_before=60, days_after=30)
    expected = owed(today_in_zone(), (1,))
    for slot in slots(size.slots):
        enqueue(slot, size.deliveries_per_slot)
    for instant in FALL_BACK:
        enqueue(instant, 1)
    packages = OrmQ.objects.count()

    cluster = run_process("qcluster", Q_CLUSTER_WORKERS="2", **ENV)
    done = wait_until(lambda: all_delivered(size.slots + 2), timeout=WITHIN)
    cluster.send_signal(signal.SIGTERM)
    returncode = cluster.wait(timeout=60)

    output = cluster.output_path.read_text()
    assert done, output
    assert returncode == 0, output
    assert Task.objects.filter(success=False).count() == 0, output
    per_slot = Counter(JobExecutionLog.objects.values_list("slot_key", flat=True))
    assert len(per_slot) == size.slots + 1, per_slot
    assert set(per_slot.values()) == {1}, per_slot
    fall_back_run = JobExecutionLog.objects.get(slot_key="2024-11-03T01:30")
    assert fall_back_run.scheduled_for in FALL_BACK
    refused = output.count("has already run; this delivery does nothing")
    assert refused == packages - len(per_slot), output
    result = outcome(list(JobExecutionLog.objects.all()), expected)
    assert result.exact, result
    assert Notification.objects.count() == len(expected)
    report(
        "a qcluster given redelivered tasks and a DST fall-back night",
        slots=len(per_slot),
        deliveries=packages,
        runs=JobExecutionLog.objects.count(),
        deliveries_refused_by_the_slot=refused,
        duplicates=result.duplicates,
        lost=result.lost,
    )
