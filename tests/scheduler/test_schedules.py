"""P2: the django-q2 schedule matches the configuration; syncing is idempotent; next_run moves only when
the configuration changes, and is computed on the configured zone's clock."""

import ast
import pydoc
from datetime import UTC, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import override_settings
from django_q.models import Schedule
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from scheduler.config import MAX_INTERVAL_HOURS, OverdueConfig
from scheduler.schedules import SCHEDULE_NAME, SyncAction, schedule_sync
from scheduler.tasks import overdue_check_task
from tests.scheduler.oracle import make_config

NOW = datetime(2026, 3, 10, 15, 20, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")
CRONS = ["0 0 * * *", "*/15 * * * *", "30 1 * * 1-5", "0 6 1 * *", "30 2 * * *"]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]

pytestmark = pytest.mark.django_db


def the_schedule() -> Schedule:
    return Schedule.objects.get(name=SCHEDULE_NAME)


def kwargs_as_django_q_reads_them(schedule: Schedule) -> dict[str, object]:
    call = ast.parse(f"f({schedule.kwargs})").body[0].value  # type: ignore[attr-defined]
    return {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}


def assert_matches(schedule: Schedule, config: OverdueConfig) -> None:
    assert pydoc.locate(schedule.func) is overdue_check_task
    assert kwargs_as_django_q_reads_them(schedule) == {"triggered_by": "schedule"}
    assert schedule.intended_date_kwarg == "scheduled_for"
    assert schedule.repeats == -1
    if config.schedule_type == "interval":
        assert (schedule.schedule_type, schedule.minutes, schedule.cron) == (
            Schedule.MINUTES,
            config.interval_hours * 60,
            None,
        )
    else:
        assert (schedule.schedule_type, schedule.cron, schedule.minutes) == (
            Schedule.CRON,
            config.schedule_value,
            None,
        )


class SyncProperties(TestCase):
    @settings(max_examples=25, deadline=None)
    @given(
        schedule=st.one_of(
            st.tuples(
                st.just("cron"), st.sampled_from(["0 0 * * *", "*/15 * * * *", "30 1 * * 1-5", "0 6 1 * *"])
            ),
            st.tuples(st.just("interval"), st.integers(1, MAX_INTERVAL_HOURS).map(str)),
        ),
        zone=st.sampled_from(ZONES),
        now=st.datetimes(datetime(2000, 1, 1), datetime(2090, 1, 1), timezones=st.just(UTC)),
        wait=st.floats(0, 0.999),
    )
    def test_schedule_matches_the_configuration_and_a_second_sync_changes_nothing(
        self, schedule: tuple[str, str], zone: str, now: datetime, wait: float
    ) -> None:
        """A second sync at any moment before the slot keeps everything, next_run included."""
        config = make_config(SCHEDULE_TYPE=schedule[0], SCHEDULE_VALUE=schedule[1], TIMEZONE=zone)
        first = schedule_sync(config=config, now=now)
        stored = the_schedule()
        assert_matches(stored, config)
        assert stored.next_run == first.schedule.next_run > now
        second = schedule_sync(config=config, now=now + (stored.next_run - now) * wait)
        assert second.action == SyncAction.UNCHANGED
        assert list(Schedule.objects.values()) == [the_schedule_values(stored)]
        Schedule.objects.all().delete()


def the_schedule_values(schedule: Schedule) -> dict[str, object]:
    return Schedule.objects.filter(pk=schedule.pk).values().get()


def test_first_sync_creates_the_cron_schedule() -> None:
    config = make_config(SCHEDULE_VALUE="15 2 * * *")
    result = schedule_sync(config=config, now=NOW)
    assert (result.action, result.duplicates_removed) == (SyncAction.CREATED, 0)
    assert_matches(the_schedule(), config)
    assert the_schedule().next_run == datetime(2026, 3, 11, 2, 15, tzinfo=UTC)


def test_interval_schedule_runs_every_n_hours_from_now() -> None:
    config = make_config(SCHEDULE_TYPE="interval", SCHEDULE_VALUE="6")
    schedule_sync(config=config, now=NOW)
    assert_matches(the_schedule(), config)
    assert the_schedule().next_run == NOW + timedelta(hours=6)


def test_cron_next_run_is_midnight_on_the_configured_zones_clock() -> None:
    schedule_sync(config=make_config(SCHEDULE_VALUE="0 0 * * *", TIMEZONE="Europe/Paris"), now=NOW)
    next_run = the_schedule().next_run
    assert next_run == datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
    assert next_run.astimezone(PARIS).replace(tzinfo=None) == datetime(2026, 3, 11, 0, 0)


def test_cron_next_run_follows_the_zone_across_a_dst_change() -> None:
    """Paris moves to summer time on 2026-03-29: local midnight is then 22:00 UTC, not 23:00."""
    schedule_sync(config=make_config(TIMEZONE="Europe/Paris"), now=datetime(2026, 3, 30, 12, tzinfo=UTC))
    assert the_schedule().next_run == datetime(2026, 3, 30, 22, 0, tzinfo=UTC)


def test_slot_in_the_spring_forward_gap_runs_at_the_end_of_the_gap() -> None:
    """New York skips 02:00-03:00 on 2026-03-08; a 02:30 slot runs at 03:00 local that night."""
    config = make_config(SCHEDULE_VALUE="30 2 * * *", TIMEZONE="America/New_York")
    schedule_sync(config=config, now=datetime(2026, 3, 8, 5, 0, tzinfo=UTC))
    assert the_schedule().next_run == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


def test_second_sync_with_the_same_configuration_writes_nothing() -> None:
    config = make_config()
    schedule_sync(config=config, now=NOW)
    before = the_schedule_values(the_schedule())
    result = schedule_sync(config=config, now=NOW + timedelta(hours=1))
    assert (result.action, result.next_run_moved) == (SyncAction.UNCHANGED, False)
    assert the_schedule_values(the_schedule()) == before


def test_unchanged_configuration_keeps_the_next_run_the_cluster_set() -> None:
    config = make_config()
    schedule_sync(config=config, now=NOW)
    # The cluster fired the 2026-03-11 slot and moved on to the next one.
    Schedule.objects.update(next_run=datetime(2026, 3, 12, 0, 0, tzinfo=UTC))
    result = schedule_sync(config=config, now=datetime(2026, 3, 11, 9, 0, tzinfo=UTC))
    assert result.action == SyncAction.UNCHANGED
    assert the_schedule().next_run == datetime(2026, 3, 12, 0, 0, tzinfo=UTC)


def test_unchanged_configuration_keeps_a_slot_the_stopped_cluster_has_not_fired() -> None:
    config = make_config()
    schedule_sync(config=config, now=NOW)
    result = schedule_sync(config=config, now=NOW + timedelta(days=3))
    assert result.action == SyncAction.UNCHANGED
    assert the_schedule().next_run == datetime(2026, 3, 11, 0, 0, tzinfo=UTC)


def test_changed_cron_moves_next_run() -> None:
    schedule_sync(config=make_config(SCHEDULE_VALUE="0 0 * * *"), now=NOW)
    result = schedule_sync(config=make_config(SCHEDULE_VALUE="0 18 * * *"), now=NOW)
    assert (result.action, result.next_run_moved) == (SyncAction.UPDATED, True)
    assert the_schedule().cron == "0 18 * * *"
    assert the_schedule().next_run == datetime(2026, 3, 10, 18, 0, tzinfo=UTC)


def test_changed_zone_moves_next_run() -> None:
    schedule_sync(config=make_config(TIMEZONE="UTC"), now=NOW)
    result = schedule_sync(config=make_config(TIMEZONE="America/New_York"), now=NOW)
    assert (result.action, result.next_run_moved) == (SyncAction.UPDATED, True)
    assert the_schedule().next_run == datetime(2026, 3, 11, 4, 0, tzinfo=UTC)


def test_changed_interval_moves_next_run() -> None:
    schedule_sync(config=make_config(SCHEDULE_TYPE="interval", SCHEDULE_VALUE="6"), now=NOW)
    later = NOW + timedelta(hours=1)
    result = schedule_sync(config=make_config(SCHEDULE_TYPE="interval", SCHEDULE_VALUE="12"), now=later)
    assert (result.action, result.next_run_moved) == (SyncAction.UPDATED, True)
    assert (the_schedule().minutes, the_schedule().next_run) == (720, later + timedelta(hours=12))


def test_switch_from_interval_to_cron_moves_next_run() -> None:
    schedule_sync(config=make_config(SCHEDULE_TYPE="interval", SCHEDULE_VALUE="6"), now=NOW)
    result = schedule_sync(config=make_config(), now=NOW)
    assert result.action == SyncAction.UPDATED
    assert_matches(the_schedule(), make_config())
    assert the_schedule().next_run == datetime(2026, 3, 11, 0, 0, tzinfo=UTC)


def test_schedule_edited_by_hand_is_restored_without_moving_next_run() -> None:
    config = make_config()
    schedule_sync(config=config, now=NOW)
    Schedule.objects.update(func="somewhere.else", kwargs="triggered_by='api'", repeats=3)
    result = schedule_sync(config=config, now=NOW)
    assert (result.action, result.next_run_moved) == (SyncAction.UPDATED, False)
    assert_matches(the_schedule(), config)
    assert the_schedule().next_run == datetime(2026, 3, 11, 0, 0, tzinfo=UTC)


def test_duplicates_of_the_schedule_are_removed_keeping_the_oldest() -> None:
    schedule_sync(config=make_config(), now=NOW)
    oldest = the_schedule().pk
    for _ in range(2):
        Schedule.objects.create(name=SCHEDULE_NAME, func="scheduler.tasks.overdue_check_task")
    Schedule.objects.create(name="another-job", func="somewhere.else")
    result = schedule_sync(config=make_config(), now=NOW)
    assert result.duplicates_removed == 2
    assert list(Schedule.objects.filter(name=SCHEDULE_NAME).values_list("pk", flat=True)) == [oldest]
    assert Schedule.objects.filter(name="another-job").exists()


def test_schedule_django_q_refuses_is_not_saved() -> None:
    """The configuration's own checks stop this earlier; the schedule is validated all the same."""
    every_minute_spelt_out = ",".join(str(minute) for minute in range(60)) + " * * * *"
    too_long = OverdueConfig("cron", every_minute_spelt_out, 100, ZoneInfo("UTC"), (1,))
    with pytest.raises(ValidationError, match="cron"):
        schedule_sync(config=too_long, now=NOW)
    assert not Schedule.objects.exists()


@override_settings(OVERDUE_INVOICE_SCHEDULE_VALUE="0 6 * * 1-5", OVERDUE_INVOICE_TIMEZONE="Europe/Paris")
def test_sync_schedules_command_says_what_it_did() -> None:
    out = StringIO()
    call_command("sync_schedules", stdout=out)
    call_command("sync_schedules", stdout=out)
    Schedule.objects.create(name=SCHEDULE_NAME, func="scheduler.tasks.overdue_check_task")
    call_command("sync_schedules", stdout=out)
    lines = out.getvalue().splitlines()
    senders = ("'reminder-delivery'", "'webhook-delivery'")
    first, second, third, removed = [line for line in lines if not any(name in line for name in senders)]
    assert len(lines) == 10  # and one line for each sender's schedule per sync
    webhook_lines = [line for line in lines if "'webhook-delivery'" in line]
    assert webhook_lines[0].startswith(
        "Schedule 'webhook-delivery' created: delivers due webhooks every 1 min"
    )
    assert all(" unchanged: " in line for line in webhook_lines[1:])
    assert first.startswith("Schedule 'overdue-invoice-check' created: cron '0 6 * * 1-5' in Europe/Paris")
    assert second.startswith("Schedule 'overdue-invoice-check' unchanged:")
    assert third.startswith("Schedule 'overdue-invoice-check' unchanged:")
    assert removed == "Removed 1 duplicate schedule(s) named 'overdue-invoice-check'."
    assert the_schedule().next_run.astimezone(PARIS).hour == 6
