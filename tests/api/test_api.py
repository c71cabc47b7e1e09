import pydoc
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_q.models import OrmQ

from api.models import ApiToken
from api.tokens import api_token_create, api_token_revoke
from reminders.models import Notification
from scheduler.dispatch import overdue_check_enqueue
from scheduler.models import JobExecutionLog, RunStatus
from tests.api.conftest import bearer, expire_cached
from tests.reminders.factories import MessageFactory, NotificationFactory
from tests.scheduler.conftest import create_check_schedule, save_heartbeat
from tests.scheduler.factories import JobExecutionLogFactory

pytestmark = pytest.mark.django_db

STATUS_URL = "/api/v1/scheduler/status"
LIST_URL = "/api/v1/scheduler/executions"
HEALTH_URL = "/api/v1/scheduler/health"
RUN_URL = "/api/v1/scheduler/run"
STAFF_ENDPOINTS = [STATUS_URL, LIST_URL, "/api/v1/scheduler/executions/{run_id}"]
SUMMARY_KEYS = {
    "id",
    "status",
    "triggered_by",
    "as_of",
    "dry_run",
    "start_time",
    "end_time",
    "duration_seconds",
    "invoices_processed",
    "notifications_created",
    "already_notified",
    "error_count",
    "has_errors",
}


def started(day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 2, day, hour, minute, second, tzinfo=UTC)


def get_ids(client, headers, **params) -> list[int]:
    response = client.get(LIST_URL, {"per_page": 100, **params}, headers=headers)
    assert response.status_code == 200, response.content
    return [run["id"] for run in response.json()["executions"]]


@pytest.fixture
def run():
    return JobExecutionLogFactory()


# --- authentication and permission ------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", STAFF_ENDPOINTS)
def test_staff_token_is_accepted(client, staff_headers, run, endpoint):
    assert client.get(endpoint.format(run_id=run.pk), headers=staff_headers).status_code == 200


@pytest.mark.parametrize("endpoint", STAFF_ENDPOINTS)
def test_no_token_gets_401_with_a_bearer_challenge(client, run, endpoint):
    response = client.get(endpoint.format(run_id=run.pk))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("endpoint", STAFF_ENDPOINTS)
def test_wrong_token_gets_401(client, staff_key, run, endpoint):
    response = client.get(endpoint.format(run_id=run.pk), headers=bearer(staff_key + "x"))
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("endpoint", STAFF_ENDPOINTS)
def test_revoked_token_gets_401(client, staff_key, run, endpoint):
    api_token_revoke(prefix=staff_key[:8])
    response = client.get(endpoint.format(run_id=run.pk), headers=bearer(staff_key))
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


@pytest.mark.parametrize("endpoint", STAFF_ENDPOINTS)
def test_valid_token_of_a_user_who_is_not_staff_gets_403(client, django_user_model, run, endpoint):
    django_user_model.objects.create_user(username="clerk")
    key = api_token_create(username="clerk").key
    response = client.get(endpoint.format(run_id=run.pk), headers=bearer(key))
    assert response.status_code == 403


@pytest.mark.parametrize("name", ["token", "access_token", "api_key"])
@pytest.mark.parametrize("endpoint", STAFF_ENDPOINTS)
def test_token_in_the_query_string_is_refused_with_401(client, staff_key, run, endpoint, name):
    response = client.get(endpoint.format(run_id=run.pk), {name: staff_key})
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["detail"]


def test_token_in_the_query_string_is_refused_even_beside_a_valid_header(client, staff_key):
    response = client.get(STATUS_URL, {"token": staff_key}, headers=bearer(staff_key))
    assert response.status_code == 401


def test_user_demoted_from_staff_gets_403_with_the_same_token(client, staff_user, staff_headers):
    assert client.get(STATUS_URL, headers=staff_headers).status_code == 200
    staff_user.is_staff = False
    staff_user.save()
    assert client.get(STATUS_URL, headers=staff_headers).status_code == 403


def test_token_of_a_deactivated_user_gets_401(client, staff_user, staff_headers):
    staff_user.is_active = False
    staff_user.save()
    assert client.get(STATUS_URL, headers=staff_headers).status_code == 401


@pytest.mark.parametrize("header", ["Basic b3BzOnNlY3JldA==", "Token abc", "Bearer", "Bearer two parts"])
def test_other_schemes_and_malformed_bearer_headers_get_401(client, header):
    response = client.get(STATUS_URL, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_using_a_token_records_when(client, staff_headers):
    client.get(STATUS_URL, headers=staff_headers)
    assert ApiToken.objects.get().last_used_at is not None


# --- status -----------------------------------------------------------------------------------------


def test_status_reports_the_fields_of_the_spec(client, staff_headers):
    save_heartbeat()
    create_check_schedule(next_run=datetime.now(UTC) + timedelta(hours=1))
    last = JobExecutionLogFactory(error_count=2, errors=[{}, {}], status=RunStatus.COMPLETED_WITH_ERRORS)
    body = client.get(STATUS_URL, headers=staff_headers).json()
    assert body["scheduler_running"] is True
    assert body["next_run_time"] is not None
    assert set(body["last_execution"]) >= {
        "id",
        "start_time",
        "end_time",
        "duration_seconds",
        "status",
        "invoices_processed",
        "notifications_created",
        "error_count",
        "has_errors",
    }
    assert body["last_execution"]["id"] == last.pk
    assert body["last_execution"]["has_errors"] is True
    assert body["last_execution"]["duration_seconds"] == 2.0


def test_status_last_execution_is_the_last_real_run_not_a_newer_dry_run(client, staff_headers):
    real = JobExecutionLogFactory(started_at=started(1))
    JobExecutionLogFactory(started_at=started(2), dry_run=True)
    body = client.get(STATUS_URL, headers=staff_headers).json()
    assert body["last_execution"]["id"] == real.pk
    assert body["last_execution"]["dry_run"] is False


def test_status_without_cluster_schedule_or_runs_says_so(client, staff_headers):
    body = client.get(STATUS_URL, headers=staff_headers).json()
    assert body["scheduler_running"] is False
    assert body["next_run_time"] is None
    assert body["last_execution"] is None


def test_the_status_asked_again_within_its_cache_time_is_not_read_again(client, staff_headers):
    JobExecutionLogFactory()
    first = client.get(STATUS_URL, headers=staff_headers).json()
    with CaptureQueriesContext(connection) as captured:
        again = client.get(STATUS_URL, headers=staff_headers).json()
    assert again == first
    assert not [query for query in captured if "scheduler_jobexecutionlog" in query["sql"]]


def test_a_new_run_is_in_the_status_once_its_cache_time_is_over(client, staff_headers):
    JobExecutionLogFactory(started_at=started(1))
    before = client.get(STATUS_URL, headers=staff_headers).json()
    newer = JobExecutionLogFactory(started_at=started(2))
    assert client.get(STATUS_URL, headers=staff_headers).json() == before
    expire_cached("scheduler-status")
    after = client.get(STATUS_URL, headers=staff_headers).json()
    assert after["last_execution"]["id"] == newer.pk
    assert after["checked_at"] > before["checked_at"]


def test_with_no_status_cache_time_every_request_reads_the_status(client, staff_headers, settings):
    settings.API_STATUS_CACHE_SECONDS = 0
    client.get(STATUS_URL, headers=staff_headers)
    newer = JobExecutionLogFactory()
    assert client.get(STATUS_URL, headers=staff_headers).json()["last_execution"]["id"] == newer.pk


# --- list: page object, filters, 400s ----------------------------------------------------------------


def test_list_returns_exactly_the_page_object_of_the_spec(client, staff_headers):
    JobExecutionLogFactory.create_batch(3)
    body = client.get(LIST_URL, {"per_page": 2, "page": 2}, headers=staff_headers).json()
    assert set(body) == {"total", "page", "per_page", "total_pages", "executions"}
    assert (body["total"], body["page"], body["per_page"], body["total_pages"]) == (3, 2, 2, 2)
    assert len(body["executions"]) == 1
    assert set(body["executions"][0]) == SUMMARY_KEYS


def test_list_is_newest_first_with_ties_broken_by_id(client, staff_headers):
    older = JobExecutionLogFactory(started_at=started(1))
    tie_a = JobExecutionLogFactory(started_at=started(2))
    tie_b = JobExecutionLogFactory(started_at=started(2))
    assert get_ids(client, staff_headers) == [tie_b.pk, tie_a.pk, older.pk]


def test_empty_history_is_one_empty_page(client, staff_headers):
    body = client.get(LIST_URL, headers=staff_headers).json()
    assert body == {"total": 0, "page": 1, "per_page": 20, "total_pages": 1, "executions": []}


def total(client, headers, **params) -> int:
    return client.get(LIST_URL, params, headers=headers).json()["total"]


def test_the_unfiltered_total_asked_again_is_not_counted_again(client, staff_headers):
    JobExecutionLogFactory.create_batch(3)
    assert total(client, staff_headers) == 3
    with CaptureQueriesContext(connection) as captured:
        assert total(client, staff_headers, page=1) == 3
    assert not [query for query in captured if "COUNT(" in query["sql"].upper()]


def test_a_new_run_is_in_the_next_unfiltered_total(client, staff_headers):
    JobExecutionLogFactory.create_batch(3)
    assert total(client, staff_headers) == 3
    JobExecutionLogFactory()
    assert total(client, staff_headers) == 4


def test_the_oldest_runs_deleted_are_out_of_the_next_unfiltered_total(client, staff_headers):
    oldest, *_ = JobExecutionLogFactory.create_batch(3)
    assert total(client, staff_headers) == 3
    oldest.delete()
    assert total(client, staff_headers) == 2


def test_a_filtered_total_is_counted_on_every_request(client, staff_headers):
    running = JobExecutionLogFactory(status=RunStatus.RUNNING)
    JobExecutionLogFactory(status=RunStatus.COMPLETED)
    assert total(client, staff_headers, status="running") == 1
    JobExecutionLog.objects.filter(pk=running.pk).update(status=RunStatus.COMPLETED)
    assert total(client, staff_headers, status="running") == 0
    assert total(client, staff_headers, status="") == 2  # an empty value is no filter


def test_a_filter_matching_nothing_is_page_1_of_1(client, staff_headers, run):
    body = client.get(LIST_URL, {"status": "failed", "per_page": 5}, headers=staff_headers).json()
    assert (body["total"], body["page"], body["total_pages"], body["executions"]) == (0, 1, 1, [])


def test_page_2_of_an_empty_result_is_a_400(client, staff_headers):
    response = client.get(LIST_URL, {"page": 2}, headers=staff_headers)
    assert response.status_code == 400
    assert response.json()["detail"] == "page='2' is invalid: there is 1 page of 20 runs."


def test_list_filters_by_status(client, staff_headers):
    failed = JobExecutionLogFactory(status=RunStatus.FAILED)
    JobExecutionLogFactory(status=RunStatus.COMPLETED)
    assert get_ids(client, staff_headers, status="failed") == [failed.pk]


@pytest.mark.parametrize("trigger", JobExecutionLog.Trigger.values)
def test_list_filters_by_trigger(client, staff_headers, trigger):
    runs = {value: JobExecutionLogFactory(triggered_by=value) for value in JobExecutionLog.Trigger.values}
    assert get_ids(client, staff_headers, triggered_by=trigger) == [runs[trigger].pk]


@pytest.mark.parametrize(("value", "with_errors"), [("true", True), ("false", False), ("True", True)])
def test_list_filters_by_has_errors(client, staff_headers, value, with_errors):
    clean = JobExecutionLogFactory()
    erred = JobExecutionLogFactory(status=RunStatus.COMPLETED_WITH_ERRORS, error_count=1, errors=[{}])
    assert get_ids(client, staff_headers, has_errors=value) == [erred.pk if with_errors else clean.pk]


@pytest.mark.parametrize(("value", "dry"), [("true", True), ("false", False), ("FALSE", False)])
def test_list_filters_by_dry_run(client, staff_headers, value, dry):
    real = JobExecutionLogFactory()
    rehearsal = JobExecutionLogFactory(dry_run=True)
    assert get_ids(client, staff_headers, dry_run=value) == [rehearsal.pk if dry else real.pk]


def test_filters_combine(client, staff_headers):
    wanted = JobExecutionLogFactory(triggered_by="admin", dry_run=True, error_count=2, errors=[{}, {}])
    JobExecutionLogFactory(triggered_by="admin", dry_run=True)
    JobExecutionLogFactory(triggered_by="admin", error_count=1, errors=[{}])
    JobExecutionLogFactory(triggered_by="api", dry_run=True, error_count=1, errors=[{}])
    params = {"triggered_by": "admin", "dry_run": "true", "has_errors": "true"}
    assert get_ids(client, staff_headers, **params) == [wanted.pk]


@pytest.mark.parametrize("name", ["status", "triggered_by", "has_errors", "dry_run"])
def test_an_empty_filter_value_is_no_filter(client, staff_headers, run, name):
    assert get_ids(client, staff_headers, **{name: ""}) == [run.pk]


def test_started_after_keeps_runs_from_the_start_of_that_day(client, staff_headers):
    JobExecutionLogFactory(started_at=started(1, 23, 59, 59))
    midnight = JobExecutionLogFactory(started_at=started(2, 0))
    assert get_ids(client, staff_headers, started_after="2026-02-02") == [midnight.pk]


def test_started_before_keeps_runs_before_the_start_of_that_day(client, staff_headers):
    before = JobExecutionLogFactory(started_at=started(1, 23, 59, 59))
    JobExecutionLogFactory(started_at=started(2, 0))
    assert get_ids(client, staff_headers, started_before="2026-02-02") == [before.pk]


def test_a_date_is_the_start_of_that_day_in_the_configured_time_zone(client, staff_headers, settings):
    settings.TIME_ZONE = "Europe/Paris"
    JobExecutionLogFactory(started_at=datetime(2026, 1, 31, 22, 59, 59, tzinfo=UTC))
    paris_midnight = JobExecutionLogFactory(started_at=datetime(2026, 1, 31, 23, 0, tzinfo=UTC))
    assert get_ids(client, staff_headers, started_after="2026-02-01") == [paris_midnight.pk]


@pytest.mark.parametrize(
    "value", ["2026-02-02T10:00:00+01:00", "2026-02-02T09:00:00Z", "2026-02-02T09:00:00", "2026-02-02 09:00"]
)
def test_started_after_takes_iso_datetimes_with_or_without_offset(client, staff_headers, value):
    JobExecutionLogFactory(started_at=started(2, 8, 59, 59))
    at_nine = JobExecutionLogFactory(started_at=started(2, 9))
    assert get_ids(client, staff_headers, started_after=value) == [at_nine.pk]


def test_an_unencoded_plus_in_an_offset_is_read_as_plus(client, staff_headers):
    JobExecutionLogFactory(started_at=started(2, 8, 59, 59))
    at_nine = JobExecutionLogFactory(started_at=started(2, 9))
    response = client.get(f"{LIST_URL}?started_after=2026-02-02T10:00:00+01:00", headers=staff_headers)
    assert [run["id"] for run in response.json()["executions"]] == [at_nine.pk]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "bogus"}, "status='bogus' is invalid: allowed values are running, completed,"),
        ({"started_after": "yesterday"}, "started_after='yesterday' is invalid: expected an ISO 8601 date"),
        ({"started_before": "2026-13-01"}, "started_before='2026-13-01' is invalid: expected an ISO 8601"),
        ({"started_after": "0001-01-01T00:00:00+05:00"}, "started_after='0001-01-01T00:00:00+05:00' is"),
        ({"page": "0"}, "page='0' is invalid: expected a whole number from 1 upwards"),
        ({"page": "abc"}, "page='abc' is invalid: expected a whole number from 1 upwards"),
        ({"page": "2"}, "page='2' is invalid: there is 1 page of 20 runs"),
        ({"triggered_by": "cron"}, "triggered_by='cron' is invalid: allowed values are command, schedule,"),
        ({"has_errors": "yes"}, "has_errors='yes' is invalid: allowed values are true, false"),
        ({"has_errors": "1"}, "has_errors='1' is invalid: allowed values are true, false"),
        ({"dry_run": "maybe"}, "dry_run='maybe' is invalid: allowed values are true, false"),
        ({"request_id": "abc"}, "request_id='abc' is invalid: expected the 32 lowercase hexadecimal"),
        ({"per_page": "101"}, "per_page='101' is invalid: expected a whole number from 1 to 100"),
        ({"per_page": "0"}, "per_page='0' is invalid: expected a whole number from 1 to 100"),
        ({"per_page": "-5"}, "per_page='-5' is invalid: expected a whole number from 1 to 100"),
        ({"per_page": "1.5"}, "per_page='1.5' is invalid: expected a whole number from 1 to 100"),
    ],
)
def test_each_invalid_parameter_gets_400_naming_it_its_value_and_the_rule(
    client, staff_headers, params, expected
):
    JobExecutionLogFactory()
    response = client.get(LIST_URL, params, headers=staff_headers)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(expected)


def test_two_invalid_parameters_are_both_named(client, staff_headers):
    response = client.get(LIST_URL, {"status": "bogus", "dry_run": "maybe"}, headers=staff_headers)
    assert response.status_code == 400
    assert "status='bogus' is invalid" in response.json()["detail"]
    assert "dry_run='maybe' is invalid" in response.json()["detail"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=failed&status=completed", "status is given 2 times ('failed', 'completed'): give it once."),
        ("status=failed&status=failed", "status is given 2 times ('failed', 'failed'): give it once."),
        ("page=1&page=2&page=3", "page is given 3 times ('1', '2', '3'): give it once."),
        ("per_page=5&per_page=10", "per_page is given 2 times ('5', '10'): give it once."),
        ("triggered_by=api&triggered_by=admin", "triggered_by is given 2 times ('api', 'admin'): give"),
    ],
)
def test_a_parameter_given_more_than_once_is_a_400_naming_it(client, staff_headers, run, query, expected):
    response = client.get(f"{LIST_URL}?{query}", headers=staff_headers)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(expected)


def test_an_unknown_parameter_is_a_400_naming_it_and_the_known_ones(client, staff_headers, run):
    response = client.get(LIST_URL, {"stauts": "failed"}, headers=staff_headers)
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "stauts='failed' is invalid: not a parameter of this list; the parameters are page, per_page, "
        "status, triggered_by, has_errors, dry_run, started_after, started_before, request_id, format."
    )


def test_the_format_parameter_of_the_framework_is_known(client, staff_headers, run):
    assert get_ids(client, staff_headers, format="json") == [run.pk]


def test_a_parameter_check_never_precedes_authentication(client):
    response = client.get(f"{LIST_URL}?status=failed&status=failed&colour=blue")
    assert response.status_code == 401


def test_per_page_of_100_is_allowed(client, staff_headers):
    JobExecutionLogFactory.create_batch(101)
    body = client.get(LIST_URL, {"per_page": 100}, headers=staff_headers).json()
    assert (len(body["executions"]), body["total_pages"]) == (100, 2)


def test_list_page_takes_a_constant_number_of_queries(client, staff_headers, django_assert_max_num_queries):
    JobExecutionLogFactory.create_batch(60)
    client.get(LIST_URL, headers=staff_headers)  # the token's first use is recorded once
    # The token, the throttle's read and write, the runs' lowest and highest ids, the cached total, the page.
    with django_assert_max_num_queries(6):
        client.get(LIST_URL, {"per_page": 50}, headers=staff_headers)


# --- detail ------------------------------------------------------------------------------------------


def test_detail_shows_the_run_with_its_errors(client, staff_headers):
    errors = [{"invoice_id": 7, "number": "INV-7", "error": "IntegrityError: boom"}]
    run = JobExecutionLogFactory(status=RunStatus.COMPLETED_WITH_ERRORS, error_count=1, errors=errors)
    body = client.get(f"{LIST_URL}/{run.pk}", headers=staff_headers).json()
    assert body["id"] == run.pk
    assert body["errors"] == errors
    assert body["has_errors"] is True
    assert set(body) >= SUMMARY_KEYS


@pytest.mark.parametrize("run_id", ["999999", "abc", "99999999999999999999999"])
def test_detail_of_an_unknown_run_is_a_json_404(client, staff_headers, run_id):
    response = client.get(f"{LIST_URL}/{run_id}", headers=staff_headers)
    assert response.status_code == 404
    assert response.json() == {"detail": f"No run with id {run_id!r}."}


def digits_from(zero: int) -> dict[int, str]:
    """A translation table from ASCII digits to the ten digits of another script, from its zero."""
    return {ord("0") + digit: chr(zero + digit) for digit in range(10)}


FULLWIDTH = digits_from(0xFF10)
ARABIC_INDIC = digits_from(0x0660)


@pytest.mark.parametrize(
    ("path_id", "received"),
    [
        (lambda pk: str(pk).translate(FULLWIDTH), lambda pk: str(pk).translate(FULLWIDTH)),
        (lambda pk: str(pk).translate(ARABIC_INDIC), lambda pk: str(pk).translate(ARABIC_INDIC)),
        (lambda pk: f"{pk}%0A", lambda pk: f"{pk}\n"),
        (lambda pk: f"%20{pk}", lambda pk: f" {pk}"),
        (lambda pk: f"%2B{pk}", lambda pk: f"+{pk}"),
    ],
    ids=["fullwidth", "arabic-indic", "trailing-newline", "leading-space", "plus-sign"],
)
def test_detail_takes_ascii_digits_only(client, staff_headers, run, path_id, received):
    response = client.get(f"{LIST_URL}/{path_id(run.pk)}", headers=staff_headers)
    assert response.status_code == 404
    assert response.json() == {"detail": f"No run with id {received(run.pk)!r}."}


# --- health ------------------------------------------------------------------------------------------


def healthy_scheduler() -> None:
    now = datetime.now(UTC)
    save_heartbeat()
    create_check_schedule(next_run=now + timedelta(minutes=30), cron="* * * * *")
    JobExecutionLogFactory(started_at=now)


def test_health_is_503_without_details_for_anonymous_callers(client):
    response = client.get(HEALTH_URL)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


def test_health_is_200_without_details_for_anonymous_callers_when_healthy(client):
    healthy_scheduler()
    response = client.get(HEALTH_URL)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_gives_staff_the_reasons(client, staff_headers):
    save_heartbeat()
    response = client.get(HEALTH_URL, headers=staff_headers)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["scheduler_running"] is False
    assert (body["cluster_alive"], body["schedule_found"]) == (True, False)
    assert body["last_success_recent"] is False
    assert body["last_successful_run_time"] is None


def test_health_is_503_when_the_last_success_is_older_than_the_schedule_allows(client, staff_headers):
    now = datetime.now(UTC)
    save_heartbeat()
    create_check_schedule(next_run=now + timedelta(minutes=30), cron="* * * * *")
    JobExecutionLogFactory(started_at=now - timedelta(hours=3))
    body = client.get(HEALTH_URL, headers=staff_headers).json()
    assert (body["scheduler_running"], body["last_success_recent"]) == (True, False)


def revoked_key(staff_key: str) -> str:
    api_token_revoke(prefix=staff_key[:8])
    return staff_key


@pytest.mark.parametrize(
    "credentials",
    [
        lambda key: {"headers": bearer(key + "x")},
        lambda key: {"headers": bearer(revoked_key(key))},
        lambda key: {"headers": {"Authorization": "Bearer two parts"}},
        lambda key: {"headers": {"Authorization": "Basic b3BzOnNlY3JldA=="}},
        lambda key: {"headers": {"Authorization": b"Bearer \xff".decode("latin-1")}},
        lambda key: {"data": {"token": key}},
        lambda key: {"data": {"access_token": key}, "headers": bearer(key)},
    ],
    ids=["invalid", "revoked", "malformed", "basic", "not-ascii", "in-query", "in-query-beside-header"],
)
@pytest.mark.parametrize("healthy", [True, False])
def test_health_ignores_bad_credentials_and_answers_as_to_anyone(client, staff_key, credentials, healthy):
    if healthy:
        healthy_scheduler()
    response = client.get(HEALTH_URL, **credentials(staff_key))
    assert response.status_code == (200 if healthy else 503)
    assert response.json() == {"status": "ok" if healthy else "unavailable"}


def test_health_ignores_the_token_of_a_deactivated_user(client, staff_user, staff_headers):
    staff_user.is_active = False
    staff_user.save()
    response = client.get(HEALTH_URL, headers=staff_headers)
    assert (response.status_code, response.json()) == (503, {"status": "unavailable"})


def test_health_does_not_give_details_to_a_user_who_is_not_staff(client, django_user_model):
    healthy_scheduler()
    django_user_model.objects.create_user(username="clerk")
    response = client.get(HEALTH_URL, headers=bearer(api_token_create(username="clerk").key))
    assert response.json() == {"status": "ok"}


# --- run now, schema -----------------------------------------------------------------------------------


def test_run_now_enqueues_one_check_triggered_by_api(client, staff_headers):
    response = client.post(RUN_URL, headers=staff_headers)
    assert response.status_code == 202
    body = response.json()
    queued = OrmQ.objects.get()
    assert queued.task["func"] == "scheduler.tasks.overdue_check_task"
    assert queued.task["kwargs"] == {"triggered_by": "api", "request_id": body["request_id"]}
    assert queued.task["id"] == body["task_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])
    assert body["executions_url"] == f"http://testserver{LIST_URL}?request_id={body['request_id']}"


@pytest.mark.parametrize("request_id", ["", "ABCDEF0123456789ABCDEF0123456789", "0" * 33, "x" * 32])
def test_a_malformed_request_id_is_never_queued(request_id):
    with pytest.raises(ValueError, match=rf"request_id={request_id!r} is invalid: expected the 32 lowercase"):
        overdue_check_enqueue(triggered_by="api", request_id=request_id)
    assert not OrmQ.objects.exists()


def run_as_the_cluster_does(queued: OrmQ) -> None:
    task = queued.task
    pydoc.locate(task["func"])(*task["args"], **task["kwargs"])


def test_the_run_queued_by_run_now_is_found_through_its_executions_url(client, staff_headers):
    JobExecutionLogFactory(triggered_by="api")
    first = client.post(RUN_URL, headers=staff_headers).json()
    second = client.post(RUN_URL, headers=staff_headers).json()
    for queued in OrmQ.objects.order_by("id"):
        run_as_the_cluster_does(queued)
    body = client.get(first["executions_url"], headers=staff_headers).json()
    assert body["total"] == 1
    (found,) = body["executions"]
    assert found["triggered_by"] == "api"
    detail = client.get(f"{LIST_URL}/{found['id']}", headers=staff_headers).json()
    assert detail["request_id"] == first["request_id"]
    assert get_ids(client, staff_headers, request_id=second["request_id"]) != [found["id"]]


def test_before_its_run_starts_the_executions_url_lists_nothing(client, staff_headers):
    queued = client.post(RUN_URL, headers=staff_headers).json()
    body = client.get(queued["executions_url"], headers=staff_headers).json()
    assert (body["total"], body["executions"]) == (0, [])


def test_run_now_needs_staff(client):
    assert client.post(RUN_URL).status_code == 401
    assert not OrmQ.objects.exists()


def test_openapi_schema_is_served_and_lists_the_endpoints(client):
    response = client.get(reverse("schema"), {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/scheduler/status", LIST_URL, LIST_URL + "/{id}", HEALTH_URL} <= set(paths)
    parameters = {parameter["name"] for parameter in paths[LIST_URL]["get"]["parameters"]}
    assert parameters == {
        "page",
        "per_page",
        "status",
        "triggered_by",
        "has_errors",
        "dry_run",
        "started_after",
        "started_before",
        "request_id",
    }


def test_openapi_schema_says_an_empty_result_is_one_page_and_health_never_401(client):
    schema = client.get(reverse("schema"), {"format": "json"}).json()
    page = schema["paths"][LIST_URL]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = schema["components"]["schemas"][page["$ref"].rsplit("/", 1)[1]]
    assert page["properties"]["total_pages"]["minimum"] == 1
    assert "401" not in schema["paths"][HEALTH_URL]["get"]["responses"]
    run_now = schema["paths"][RUN_URL]["post"]["responses"]["202"]["content"]["application/json"]["schema"]
    enqueued = schema["components"]["schemas"][run_now["$ref"].rsplit("/", 1)[1]]
    assert {"task_id", "request_id", "executions_url"} <= set(enqueued["required"])


def test_openapi_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_status_counts_the_outbox_by_message_state(client, staff_headers):
    """A distinct count per state, so that a swap of any two states shows."""
    from reminders.models import Message, MessageState
    from tests.reminders.factories import MessageFactory

    for number, state in enumerate(MessageState.values, start=1):
        for _ in range(number):
            MessageFactory(state=state, leased_until=datetime.now(UTC) if state == "sending" else None)
    waiting = NotificationFactory()
    deliveries = client.get(STATUS_URL, headers=staff_headers).json()["deliveries"]
    assert {state: deliveries[state] for state in MessageState.values} == {
        state: number for number, state in enumerate(MessageState.values, start=1)
    }
    assert deliveries["health"] == "ok"
    assert deliveries["oldest_waiting_since"] is not None
    assert Message.objects.filter(reminders=waiting).count() == 0


def test_health_is_503_when_a_reminder_has_waited_over_an_hour_to_be_sent(client, staff_headers):
    healthy_scheduler()
    assert client.get(HEALTH_URL).status_code == 200
    late = NotificationFactory()
    Notification.objects.filter(pk=late.pk).update(created_at=datetime.now(UTC) - timedelta(hours=2))
    response = client.get(HEALTH_URL, headers=staff_headers)
    assert response.status_code == 503
    assert response.json()["deliveries_health"] == "unavailable"


def test_health_stays_ok_while_the_outbox_waits_for_the_send_window(client, settings):
    healthy_scheduler()
    MessageFactory(next_attempt_at=datetime.now(UTC) - timedelta(hours=5))
    assert client.get(HEALTH_URL).status_code == 503  # waiting five hours with the window open
    settings.REMINDER_SEND_WINDOW = (datetime.now(UTC) + timedelta(days=2)).strftime("%a").lower()
    response = client.get(HEALTH_URL)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
