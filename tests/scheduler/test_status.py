from datetime import UTC, datetime, timedelta

import pytest
from django_q.conf import Conf
from django_q.models import Schedule

from scheduler.models import RunStatus
from scheduler.status import scheduler_status, success_due_since
from tests.scheduler.conftest import create_check_schedule, save_heartbeat
from tests.scheduler.factories import JobExecutionLogFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)


def running_scheduler(*, now: datetime = NOW) -> None:
    save_heartbeat(at=now - timedelta(seconds=1))
    create_check_schedule(next_run=datetime(2026, 2, 11, 0, 0, tzinfo=UTC))


def test_no_heartbeat_means_no_cluster_and_not_running():
    create_check_schedule(next_run=NOW + timedelta(hours=1))
    status = scheduler_status(now=NOW)
    assert not status.cluster_alive
    assert not status.scheduler_running


def test_fresh_heartbeat_and_future_slot_mean_running():
    running_scheduler()
    status = scheduler_status(now=NOW)
    assert status.cluster_alive
    assert status.scheduler_running
    assert status.next_run_time == datetime(2026, 2, 11, 0, 0, tzinfo=UTC)


def test_heartbeat_older_than_a_minute_is_not_alive():
    save_heartbeat(at=NOW - timedelta(seconds=61))
    assert not scheduler_status(now=NOW).cluster_alive


def test_heartbeat_of_a_stopping_cluster_is_not_alive():
    save_heartbeat(at=NOW, state=Conf.STOPPING)
    assert not scheduler_status(now=NOW).cluster_alive


def test_without_the_schedule_the_scheduler_is_not_running():
    save_heartbeat(at=NOW)
    status = scheduler_status(now=NOW)
    assert status.cluster_alive
    assert not status.schedule_found
    assert status.next_run_time is None
    assert not status.scheduler_running


def test_slot_missed_by_more_than_two_minutes_is_late_and_not_running():
    save_heartbeat(at=NOW)
    create_check_schedule(next_run=NOW - timedelta(minutes=2, seconds=1))
    status = scheduler_status(now=NOW)
    assert status.schedule_late
    assert not status.scheduler_running


def test_slot_passed_less_than_two_minutes_ago_is_not_late():
    save_heartbeat(at=NOW)
    create_check_schedule(next_run=NOW - timedelta(minutes=1))
    status = scheduler_status(now=NOW)
    assert not status.schedule_late
    assert status.scheduler_running


def test_another_late_schedule_of_the_cluster_means_not_running():
    running_scheduler()
    Schedule.objects.create(name="cleanup", func="x.y", next_run=NOW - timedelta(hours=1), repeats=-1)
    status = scheduler_status(now=NOW)
    assert status.late_schedules == ("cleanup",)
    assert not status.schedule_late
    assert not status.scheduler_running


def test_finished_one_off_schedule_is_never_late():
    running_scheduler()
    Schedule.objects.create(name="once", func="x.y", next_run=NOW - timedelta(days=3), repeats=0)
    assert scheduler_status(now=NOW).scheduler_running


def test_last_execution_is_the_newest_run_whatever_its_status():
    JobExecutionLogFactory(started_at=NOW - timedelta(hours=2))
    newest = JobExecutionLogFactory(started_at=NOW - timedelta(hours=1), status=RunStatus.FAILED)
    assert scheduler_status(now=NOW).last_execution == newest


def test_last_execution_is_the_newest_real_run_and_the_newest_dry_run_is_kept_apart():
    real = JobExecutionLogFactory(started_at=NOW - timedelta(hours=3))
    JobExecutionLogFactory(started_at=NOW - timedelta(hours=2), dry_run=True)
    dry = JobExecutionLogFactory(started_at=NOW - timedelta(hours=1), dry_run=True)
    status = scheduler_status(now=NOW)
    assert status.last_execution == real
    assert status.last_dry_run == dry


def test_last_success_counts_runs_with_invoice_errors_but_not_failed_or_dry_runs():
    JobExecutionLogFactory(started_at=NOW - timedelta(hours=5))
    success = JobExecutionLogFactory(
        started_at=NOW - timedelta(hours=4), status=RunStatus.COMPLETED_WITH_ERRORS, error_count=1
    )
    JobExecutionLogFactory(started_at=NOW - timedelta(hours=3), status=RunStatus.FAILED)
    JobExecutionLogFactory(started_at=NOW - timedelta(hours=2), dry_run=True)
    JobExecutionLogFactory(started_at=NOW - timedelta(hours=1), status=RunStatus.SKIPPED)
    assert scheduler_status(now=NOW).last_successful_execution == success


def test_daily_cron_success_is_due_since_the_slot_that_had_an_hour_to_run():
    schedule = create_check_schedule(next_run=datetime(2026, 2, 11, tzinfo=UTC), cron="0 0 * * *")
    assert Conf.TIMEOUT == 3600
    assert success_due_since(schedule, now=NOW) == datetime(2026, 2, 10, tzinfo=UTC)


def test_a_run_still_within_its_timeout_is_not_yet_due():
    schedule = create_check_schedule(next_run=datetime(2026, 2, 11, tzinfo=UTC), cron="0 0 * * *")
    half_past_midnight = datetime(2026, 2, 10, 0, 30, tzinfo=UTC)
    assert success_due_since(schedule, now=half_past_midnight) == datetime(2026, 2, 9, tzinfo=UTC)


def test_interval_success_is_due_since_the_last_slot_that_had_time_to_run():
    schedule = create_check_schedule(
        next_run=datetime(2026, 2, 10, 13, 0, tzinfo=UTC),
        schedule_type=Schedule.MINUTES,
        minutes=60,
        cron=None,
    )
    # 12:00 minus the hour's timeout and two minutes of grace is 10:58: the 10:00 slot must be done.
    assert success_due_since(schedule, now=NOW) == datetime(2026, 2, 10, 10, 0, tzinfo=UTC)


def test_healthy_when_running_and_the_due_slot_succeeded():
    running_scheduler()
    JobExecutionLogFactory(started_at=datetime(2026, 2, 10, 0, 0, 5, tzinfo=UTC))
    status = scheduler_status(now=NOW)
    assert status.last_success_recent
    assert status.healthy


def test_unhealthy_when_the_due_slot_has_no_success():
    running_scheduler()
    JobExecutionLogFactory(started_at=datetime(2026, 2, 9, 0, 0, 5, tzinfo=UTC))
    JobExecutionLogFactory(started_at=datetime(2026, 2, 10, 0, 0, 5, tzinfo=UTC), status=RunStatus.FAILED)
    status = scheduler_status(now=NOW)
    assert status.scheduler_running
    assert not status.last_success_recent
    assert not status.healthy


def test_unhealthy_before_any_successful_run():
    running_scheduler()
    assert not scheduler_status(now=NOW).healthy


def test_unhealthy_when_the_cluster_is_gone_even_after_a_recent_success():
    create_check_schedule(next_run=datetime(2026, 2, 11, tzinfo=UTC))
    JobExecutionLogFactory(started_at=datetime(2026, 2, 10, 0, 0, 5, tzinfo=UTC))
    assert not scheduler_status(now=NOW).healthy
