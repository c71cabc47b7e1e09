"""P16: the API's and the admin's filters and pages return exactly the matching runs.

Random run histories (ties in start time included), random filters and page sizes; walking every page
must give each matching run once, in order, and nothing else, compared with a plain Python oracle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from django.contrib import admin
from django.test import override_settings
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from api.tokens import api_token_create
from scheduler.models import JobExecutionLog, RunStatus

ZONE_NAME = "America/New_York"
ZONE = ZoneInfo(ZONE_NAME)
FIRST_DAY = date(2026, 3, 7)  # the days around the switch to summer time in New York (March 8th)
DAYS = 3
SLOTS = DAYS * 4  # every six hours of wall-clock time: few enough that runs share bounds and start times
LIST_URL = "/api/v1/scheduler/executions"
RUNS_URL = reverse("admin:scheduler_jobexecutionlog_changelist")


def slot_start(slot: int) -> datetime:
    # Aware datetime + timedelta is wall-clock arithmetic: slots stay at 00, 06, 12, 18 local across DST.
    return datetime.combine(FIRST_DAY, time.min, tzinfo=ZONE) + timedelta(hours=6 * slot)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZONE)


@dataclass(frozen=True)
class Bound:
    moment: datetime
    text: str


@st.composite
def bounds(draw: st.DrawFn) -> Bound:
    """A date (its start in the zone), or a datetime on the run grid, with or without an offset."""
    if draw(st.booleans()):
        day = FIRST_DAY + timedelta(days=draw(st.integers(0, DAYS)))
        return Bound(day_start(day), day.isoformat())
    moment = slot_start(draw(st.integers(0, SLOTS))) + timedelta(seconds=draw(st.sampled_from([-1, 0, 0, 1])))
    shown_in = draw(st.sampled_from([None, UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5))]))
    if shown_in is None:
        return Bound(moment, moment.astimezone(ZONE).replace(tzinfo=None).isoformat())
    return Bound(moment, moment.astimezone(shown_in).isoformat().replace("+00:00", "Z"))


run_rows = st.lists(
    st.tuples(
        st.sampled_from(RunStatus.values),
        st.integers(0, SLOTS - 1),
        st.sampled_from([0, 0, 1]),  # seconds after the slot: many ties, some just past a boundary
        st.integers(0, 2),  # error count
        st.sampled_from(JobExecutionLog.Trigger.values),
        st.booleans(),  # dry run
    ),
    max_size=30,
)


def create_runs(rows: list[tuple[str, int, int, int, str, bool]]) -> list[JobExecutionLog]:
    runs = [
        JobExecutionLog(
            status=status,
            triggered_by=trigger,
            dry_run=dry_run,
            as_of=FIRST_DAY,
            batch_size=100,
            reminder_days="1",
            started_at=slot_start(slot) + timedelta(seconds=seconds),
            finished_at=slot_start(slot) + timedelta(seconds=seconds + 3),
            host="h",
            pid=1,
            error_count=errors,
        )
        for status, slot, seconds, errors, trigger, dry_run in rows
    ]
    return JobExecutionLog.objects.bulk_create(runs)


def newest_first(runs: list[JobExecutionLog]) -> list[int]:
    return [run.pk for run in sorted(runs, key=lambda run: (run.started_at, run.pk), reverse=True)]


@override_settings(TIME_ZONE=ZONE_NAME)
class ApiFilterPagesTest(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        from django.contrib.auth import get_user_model

        get_user_model().objects.create_user(username="ops", is_staff=True)
        cls.headers = {"Authorization": f"Bearer {api_token_create(username='ops').key}"}

    @settings(max_examples=40, deadline=None)
    @given(
        rows=run_rows,
        status=st.none() | st.sampled_from(RunStatus.values),
        trigger=st.none() | st.sampled_from(JobExecutionLog.Trigger.values),
        has_errors=st.none() | st.booleans(),
        dry_run=st.none() | st.booleans(),
        after=st.none() | bounds(),
        before=st.none() | bounds(),
        per_page=st.integers(1, 7) | st.just(100),
    )
    def test_pages_hold_exactly_the_matching_runs_once_each_in_order(
        self, rows, status, trigger, has_errors, dry_run, after, before, per_page
    ):
        runs = create_runs(rows)
        expected = newest_first(
            [
                run
                for run in runs
                if (status is None or run.status == status)
                and (trigger is None or run.triggered_by == trigger)
                and (has_errors is None or (run.error_count > 0) == has_errors)
                and (dry_run is None or run.dry_run == dry_run)
                and (after is None or run.started_at >= after.moment)
                and (before is None or run.started_at < before.moment)
            ]
        )
        params = {"per_page": per_page}
        params |= {"status": status} if status else {}
        params |= {"triggered_by": trigger} if trigger else {}
        params |= {"has_errors": str(has_errors).lower()} if has_errors is not None else {}
        params |= {"dry_run": str(dry_run).lower()} if dry_run is not None else {}
        params |= {"started_after": after.text} if after else {}
        params |= {"started_before": before.text} if before else {}
        assert self.walk_pages(params, per_page, expected_total=len(expected)) == expected

    def walk_pages(self, params: dict[str, object], per_page: int, *, expected_total: int) -> list[int]:
        # An empty result is one empty page.
        total_pages = max(math.ceil(expected_total / per_page), 1)
        seen: list[int] = []
        for page in range(1, total_pages + 1):
            response = self.client.get(LIST_URL, {**params, "page": page}, headers=self.headers)
            assert response.status_code == 200, response.content
            body = response.json()
            assert (body["total"], body["total_pages"], body["page"]) == (expected_total, total_pages, page)
            assert len(body["executions"]) == min(per_page, expected_total - len(seen))
            seen += [run["id"] for run in body["executions"]]
        return seen


@override_settings(TIME_ZONE=ZONE_NAME)
class AdminFilterPagesTest(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        from django.contrib.auth import get_user_model

        cls.user = get_user_model().objects.create_user(username="finance", is_staff=True, is_superuser=True)

    @settings(max_examples=25, deadline=None)
    @given(
        rows=run_rows,
        status=st.none() | st.sampled_from(RunStatus.values),
        has_errors=st.sampled_from([None, "yes", "no"]),
        first_day=st.none() | st.integers(0, DAYS),
        last_day=st.none() | st.integers(0, DAYS),
        per_page=st.integers(1, 6),
    )
    def test_pages_hold_exactly_the_matching_runs_once_each_in_order(
        self, rows, status, has_errors, first_day, last_day, per_page
    ):
        runs = create_runs(rows)
        start = None if first_day is None else FIRST_DAY + timedelta(days=first_day)
        end = None if last_day is None else FIRST_DAY + timedelta(days=last_day)
        expected = newest_first(
            [
                run
                for run in runs
                if (status is None or run.status == status)
                and (has_errors is None or (run.error_count > 0) == (has_errors == "yes"))
                and (start is None or run.started_at >= day_start(start))
                and (end is None or run.started_at < day_start(end + timedelta(days=1)))
            ]
        )
        params = {
            "status__exact": status,
            "has_errors": has_errors,
            "started_at__range__gte": start,
            "started_at__range__lte": end,
        }
        params = {name: str(value) for name, value in params.items() if value is not None}
        self.client.force_login(self.user)
        run_admin = admin.site._registry[JobExecutionLog]
        default_per_page, run_admin.list_per_page = run_admin.list_per_page, per_page
        try:
            assert self.walk_pages(params, per_page, expected_total=len(expected)) == expected
        finally:
            run_admin.list_per_page = default_per_page

    def walk_pages(self, params: dict[str, str], per_page: int, *, expected_total: int) -> list[int]:
        seen: list[int] = []
        for page in range(1, max(math.ceil(expected_total / per_page), 1) + 1):
            response = self.client.get(RUNS_URL, {**params, "p": page})
            assert response.status_code == 200
            changelist = response.context["cl"]
            assert changelist.result_count == expected_total
            seen += [run.pk for run in changelist.result_list]
        return seen
