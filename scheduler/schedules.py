"""The one django-q2 schedule of the overdue check, kept equal to the configuration (docs/SPEC.md §6).

``schedule_sync`` runs on every deploy (``manage.py sync_schedules``). django-q2's cluster then moves
``next_run`` from slot to slot itself; this module only sets it when the schedule is new or the
configuration no longer matches it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from croniter import croniter
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from scheduler.config import OverdueConfig

SCHEDULE_NAME = "overdue-invoice-check"
TASK_FUNC = "scheduler.tasks.overdue_check_task"
# django-q2 parses this with ast (the "x=1, y=2" form its admin shows).
TASK_KWARGS = "triggered_by='schedule'"
INTENDED_DATE_KWARG = "scheduled_for"


class SyncAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class SyncResult:
    action: SyncAction
    schedule: Schedule
    next_run_moved: bool
    duplicates_removed: int


def schedule_fields(*, config: OverdueConfig) -> dict[str, Any]:
    """Every field of the check's schedule that follows from the configuration, except ``next_run``."""
    fields: dict[str, Any] = {
        "func": TASK_FUNC,
        "args": None,
        "kwargs": TASK_KWARGS,
        "hook": None,
        "repeats": -1,
        "cluster": None,
        "intended_date_kwarg": INTENDED_DATE_KWARG,
    }
    if config.schedule_type == "interval":
        minutes = config.interval_hours * 60
        return {**fields, "schedule_type": Schedule.MINUTES, "minutes": minutes, "cron": None}
    return {**fields, "schedule_type": Schedule.CRON, "cron": config.schedule_value, "minutes": None}


def next_run_after(*, config: OverdueConfig, now: datetime) -> datetime:
    """The first slot after ``now``: the next cron time on the configured zone's clock, or now + interval."""
    if config.schedule_type == "interval":
        return now + timedelta(hours=config.interval_hours)
    local_now = now.astimezone(config.timezone)
    return croniter(config.schedule_value, local_now).get_next(datetime).astimezone(UTC)


def next_run_fits(*, schedule: Schedule, config: OverdueConfig, now: datetime) -> bool:
    """Whether the stored ``next_run`` is still a slot of this configuration, so sync must keep it.

    A past ``next_run`` is a slot the cluster has not fired yet (it was down): it fires once on start.
    """
    if schedule.next_run is None:
        return False
    if config.schedule_type == "interval":
        return schedule.schedule_type == Schedule.MINUTES and schedule.minutes == config.interval_hours * 60
    if schedule.next_run <= now:
        return croniter.match(config.schedule_value, schedule.next_run.astimezone(config.timezone))
    # Compared in UTC: two wall-clock times of one zone compare equal across a DST fold.
    return schedule.next_run.astimezone(UTC) == next_run_after(config=config, now=now)


def schedule_sync(*, config: OverdueConfig, now: datetime | None = None) -> SyncResult:
    """Create or update the one schedule named ``SCHEDULE_NAME`` so that it runs the check as configured.

    Idempotent: a second call with the same configuration writes nothing. Other schedules with the same
    name are deleted (the oldest is kept). ``next_run`` moves only when it no longer fits the
    configuration. Raises ``django.core.exceptions.ValidationError`` if django-q2 refuses the schedule.
    """
    now = now or timezone.now()
    return _sync(
        name=SCHEDULE_NAME,
        wanted=schedule_fields(config=config),
        keeps_next_run=lambda schedule: next_run_fits(schedule=schedule, config=config, now=now),
        first_run=lambda: next_run_after(config=config, now=now),
    )


def _sync(
    *,
    name: str,
    wanted: dict[str, Any],
    keeps_next_run: Callable[[Schedule], bool],
    first_run: Callable[[], datetime],
) -> SyncResult:
    """The one schedule named ``name`` made equal to ``wanted``, its duplicates deleted (the oldest is
    kept); ``next_run`` set to ``first_run()`` when it is new or ``keeps_next_run`` says it no longer fits."""
    with transaction.atomic():
        existing = list(Schedule.objects.select_for_update().filter(name=name).order_by("pk"))
        duplicates = _delete_duplicates(existing[1:])
        if not existing:
            return SyncResult(SyncAction.CREATED, _create(name, wanted, first_run()), True, duplicates)
        schedule = existing[0]
        changed = [field for field, value in wanted.items() if getattr(schedule, field) != value]
        move = not keeps_next_run(schedule)
        if not changed and not move:
            return SyncResult(SyncAction.UNCHANGED, schedule, False, duplicates)
        for field, value in wanted.items():
            setattr(schedule, field, value)
        if move:
            schedule.next_run = first_run()
        schedule.full_clean()
        schedule.save(update_fields=[*changed, *(["next_run"] if move else [])])
        return SyncResult(SyncAction.UPDATED, schedule, move, duplicates)


def _delete_duplicates(duplicates: list[Schedule]) -> int:
    deleted, _ = Schedule.objects.filter(pk__in=[schedule.pk for schedule in duplicates]).delete()
    return deleted


def _create(name: str, wanted: dict[str, Any], next_run: datetime) -> Schedule:
    schedule = Schedule(name=name, next_run=next_run, **wanted)
    schedule.full_clean()
    schedule.save()
    # Schedule.save() replaces a new cron schedule's next_run with one computed from the wall clock; ours
    # is computed from `now`, in the configured zone.
    Schedule.objects.filter(pk=schedule.pk).update(next_run=next_run)
    schedule.next_run = next_run
    return schedule


# --- The short schedule of the reminder senders (SPEC §10) ---------------------------------------------

DELIVERY_SCHEDULE_NAME = "reminder-delivery"
DELIVERY_TASK_FUNC = "scheduler.tasks.send_reminders_task"


def delivery_schedule_fields(*, minutes: int, func: str = DELIVERY_TASK_FUNC) -> dict[str, Any]:
    return {
        "func": func,
        "args": None,
        "kwargs": None,
        "hook": None,
        "repeats": -1,
        "cluster": None,
        "intended_date_kwarg": None,
        "schedule_type": Schedule.MINUTES,
        "minutes": minutes,
        "cron": None,
    }


def delivery_schedule_sync(
    *,
    minutes: int,
    now: datetime | None = None,
    name: str = DELIVERY_SCHEDULE_NAME,
    func: str = DELIVERY_TASK_FUNC,
) -> SyncResult:
    """Create or update the one schedule named ``name`` (the reminders' by default): run ``func``, which
    sends what is due, every ``minutes``. Idempotent like ``schedule_sync``; ``next_run`` moves only
    when ``minutes`` changed."""
    now = now or timezone.now()
    return _sync(
        name=name,
        wanted=delivery_schedule_fields(minutes=minutes, func=func),
        keeps_next_run=lambda schedule: (
            schedule.next_run is not None
            and schedule.schedule_type == Schedule.MINUTES
            and schedule.minutes == minutes
        ),
        first_run=lambda: now + timedelta(minutes=minutes),
    )


# --- The short schedule of the webhook senders (SPEC §14) ----------------------------------------------

WEBHOOK_SCHEDULE_NAME = "webhook-delivery"
WEBHOOK_TASK_FUNC = "scheduler.tasks.send_webhooks_task"


def webhook_schedule_sync(*, minutes: int, now: datetime | None = None) -> SyncResult:
    """The one schedule named ``WEBHOOK_SCHEDULE_NAME``: deliver the due webhooks every ``minutes``."""
    return delivery_schedule_sync(
        minutes=minutes, now=now, name=WEBHOOK_SCHEDULE_NAME, func=WEBHOOK_TASK_FUNC
    )
