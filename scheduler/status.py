"""Is the scheduler alive, and did the overdue check run when it should have? (docs/SPEC.md §7)

``scheduler_status`` reads three sources, each of which another process writes:
- django-q2's cluster heartbeats in the shared cache (the sentinel saves one every guard cycle, kept for
  3 seconds), so the web process sees whether any cluster is up;
- the django-q2 ``Schedule`` rows: the cluster moves ``next_run`` forward whenever it enqueues a slot, so
  a ``next_run`` well in the past means no cluster is scheduling;
- our run log: the newest real run, the newest successful one, and apart the newest dry run (a dry run
  says what a run would do; it is never "the last run").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from croniter import croniter
from django.db.models import Q
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.status import Stat
from django_q.utils import localtime

from reminders.monitoring import DeliveryStatus, delivery_status
from reminders.webhooks import WebhookStatus, webhook_status
from scheduler.models import JobExecutionLog, RunStatus
from scheduler.schedules import SCHEDULE_NAME

# The sentinel saves a heartbeat every half second; a minute without one means the cluster is gone.
HEARTBEAT_MAX_AGE = timedelta(seconds=60)
# The cluster looks at due schedules every 30 seconds, so a slot is normally picked up within that.
LATE_AFTER = timedelta(minutes=2)
SUCCESSFUL_STATUSES = (RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_ERRORS)
STOPPED_CLUSTER_STATES = (Conf.STOPPED, Conf.STOPPING)


@dataclass(frozen=True)
class SchedulerStatus:
    checked_at: datetime
    cluster_alive: bool
    schedule_found: bool
    next_run_time: datetime | None
    late_schedules: tuple[str, ...]
    last_execution: JobExecutionLog | None
    last_successful_execution: JobExecutionLog | None
    last_dry_run: JobExecutionLog | None
    success_due_since: datetime | None
    deliveries: DeliveryStatus
    # Not part of ``healthy``: a partner's receiver that is down says nothing of the reminders.
    webhooks: WebhookStatus

    @property
    def schedule_late(self) -> bool:
        return SCHEDULE_NAME in self.late_schedules

    @property
    def scheduler_running(self) -> bool:
        """A cluster is alive, our schedule exists, and no schedule waits for it past ``LATE_AFTER``."""
        return self.cluster_alive and self.schedule_found and not self.late_schedules

    @property
    def last_success_recent(self) -> bool:
        """The newest successful real run started at or after the newest slot that must be done by now."""
        if self.last_successful_execution is None:
            return False
        if self.success_due_since is None:
            return True
        return self.last_successful_execution.started_at >= self.success_due_since

    @property
    def healthy(self) -> bool:
        """Runs happen on time, and reminders reach the customers (docs/SPEC.md §7, §10)."""
        return self.scheduler_running and self.last_success_recent and self.deliveries.health == "ok"

    @property
    def health(self) -> str:
        return "ok" if self.healthy else "unavailable"


def scheduler_status(*, now: datetime | None = None) -> SchedulerStatus:
    now = now or timezone.now()
    schedule = Schedule.objects.filter(name=SCHEDULE_NAME).first()
    return SchedulerStatus(
        checked_at=now,
        cluster_alive=cluster_alive(now=now),
        schedule_found=schedule is not None,
        next_run_time=schedule.next_run if schedule else None,
        late_schedules=late_schedule_names(now=now),
        last_execution=last_execution(),
        last_successful_execution=last_successful_execution(),
        last_dry_run=last_dry_run(),
        success_due_since=success_due_since(schedule, now=now) if schedule else None,
        deliveries=delivery_status(now=now),
        webhooks=webhook_status(),
    )


def cluster_alive(*, now: datetime) -> bool:
    return bool(fresh_heartbeats(now=now))


def fresh_heartbeats(*, now: datetime, host: str | None = None) -> list[Stat]:
    """The heartbeats of running clusters, at most ``HEARTBEAT_MAX_AGE`` old; of ``host``'s only, if given."""
    return [
        stat for stat in Stat.get_all() if _is_fresh(stat, now=now) and (host is None or stat.host == host)
    ]


def _is_fresh(stat: Stat, *, now: datetime) -> bool:
    return stat.status not in STOPPED_CLUSTER_STATES and now - stat.timestamp <= HEARTBEAT_MAX_AGE


def late_schedule_names(*, now: datetime) -> tuple[str, ...]:
    """Active schedules of this cluster whose ``next_run`` passed more than ``LATE_AFTER`` ago."""
    mine = Q(cluster__isnull=True) | Q(cluster=Conf.CLUSTER_NAME)
    late = Schedule.objects.exclude(repeats=0).filter(mine, next_run__lt=now - LATE_AFTER)
    return tuple(str(schedule.name or schedule.pk) for schedule in late.order_by("next_run"))


def last_execution() -> JobExecutionLog | None:
    """The newest real run, whatever its status."""
    return JobExecutionLog.objects.filter(dry_run=False).order_by("-started_at", "-id").first()


def last_dry_run() -> JobExecutionLog | None:
    return JobExecutionLog.objects.filter(dry_run=True).order_by("-started_at", "-id").first()


def last_successful_execution() -> JobExecutionLog | None:
    successful = JobExecutionLog.objects.filter(status__in=SUCCESSFUL_STATUSES, dry_run=False)
    return successful.order_by("-started_at", "-id").first()


def success_due_since(schedule: Schedule, *, now: datetime) -> datetime | None:
    """The newest slot whose run must have finished by ``now``: a run may take up to the cluster's
    task timeout, and the cluster may pick the slot up ``LATE_AFTER`` late.

    ``None`` for schedule types other than cron and minutes (not used by the overdue check)."""
    finished_by = now - timedelta(seconds=Conf.TIMEOUT or 0) - LATE_AFTER
    if schedule.schedule_type == Schedule.CRON:
        return croniter(schedule.cron, localtime(finished_by)).get_prev(datetime)
    if schedule.schedule_type == Schedule.MINUTES and schedule.next_run is not None:
        return _interval_slot_at_or_before(
            schedule.next_run, timedelta(minutes=schedule.minutes or 1), finished_by
        )
    return None


def _interval_slot_at_or_before(anchor: datetime, interval: timedelta, moment: datetime) -> datetime:
    steps_back = math.ceil((anchor - moment) / interval)
    return anchor - steps_back * interval
