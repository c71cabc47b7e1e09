from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.signing import SignedPackage
from django_q.status import Stat, Status

from scheduler.schedules import SCHEDULE_NAME, TASK_FUNC


def save_heartbeat(
    *, at: datetime | None = None, state: str = Conf.IDLE, cluster_id: str = "test", host: str | None = None
) -> None:
    """Write a cluster heartbeat to the shared cache, as django-q2's sentinel does every guard cycle;
    from this machine unless ``host`` names another."""
    stat = Status(pid=1, cluster_id=cluster_id)
    stat.status = state
    stat.host = host or stat.host
    stat.timestamp = at or timezone.now()
    # The sentinel keeps each heartbeat 3 seconds and renews it; a test may take longer than that.
    get_broker().set_stat(Stat.get_key(cluster_id), SignedPackage.dumps(stat, True), 300)


def create_check_schedule(
    *, next_run: datetime, cron: str | None = "0 0 * * *", **fields: object
) -> Schedule:
    schedule = Schedule.objects.create(
        name=SCHEDULE_NAME,
        func=TASK_FUNC,
        schedule_type=fields.pop("schedule_type", Schedule.CRON),
        cron=cron,
        repeats=-1,
        **fields,
    )
    # Schedule.save() puts a new cron schedule at its next slot after the real clock; tests pick the slot.
    Schedule.objects.filter(pk=schedule.pk).update(next_run=next_run)
    schedule.refresh_from_db()
    return schedule


@pytest.fixture
def fixed_now() -> datetime:
    return datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
