from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_q.models import OrmQ

from scheduler.models import JobExecutionLog, RunStatus
from tests.reminders.factories import MessageFactory, NotificationFactory, delivered
from tests.scheduler.conftest import create_check_schedule, save_heartbeat
from tests.scheduler.factories import JobExecutionLogFactory

pytestmark = pytest.mark.django_db

RUNS_URL = reverse("admin:scheduler_jobexecutionlog_changelist")
FROM, TO = "started_at__range__gte", "started_at__range__lte"  # django-admin-rangefilter's parameters
RUN_NOW_URL = reverse("admin:scheduler_jobexecutionlog_run_now")
ERRORS = [
    {"invoice_id": 11, "number": "INV-000011", "error": "DataError: value too long for recipient"},
    {"invoice_id": 12, "number": "INV-000012", "error": "IntegrityError: <script>alert(1)</script>"},
]


def started(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 2, day, hour, 0, tzinfo=UTC)


def listed_ids(client, **params) -> list[int]:
    response = client.get(RUNS_URL, params)
    assert response.status_code == 200
    return [run.pk for run in response.context["cl"].result_list]


def run_url(run: JobExecutionLog) -> str:
    return reverse("admin:scheduler_jobexecutionlog_change", args=[run.pk])


@pytest.fixture
def failed_run():
    return JobExecutionLogFactory(
        started_at=started(3),
        status=RunStatus.COMPLETED_WITH_ERRORS,
        error_count=2,
        errors=ERRORS,
        triggered_by=JobExecutionLog.Trigger.SCHEDULE,
    )


# --- who may see it --------------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_the_login_page(client):
    response = client.get(RUNS_URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_users_who_are_not_staff_are_sent_to_the_login_page(client, django_user_model):
    client.force_login(django_user_model.objects.create_user(username="clerk"))
    response = client.get(RUNS_URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_staff_without_permission_on_runs_are_refused(client, django_user_model):
    client.force_login(django_user_model.objects.create_user(username="intern", is_staff=True))
    assert client.get(RUNS_URL).status_code == 403
    assert client.post(RUN_NOW_URL).status_code == 403
    assert not OrmQ.objects.exists()


def test_staff_with_view_permission_see_the_runs(client, django_user_model):
    user = django_user_model.objects.create_user(username="analyst", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_jobexecutionlog"))
    client.force_login(user)
    run = JobExecutionLogFactory()
    assert listed_ids(client) == [run.pk]


# --- the list --------------------------------------------------------------------------------------


def test_runs_are_listed_newest_first(superuser_client):
    old = JobExecutionLogFactory(started_at=started(1))
    new = JobExecutionLogFactory(started_at=started(2))
    tie = JobExecutionLogFactory(started_at=started(2))
    assert listed_ids(superuser_client) == [tie.pk, new.pk, old.pk]


def test_list_shows_the_columns_of_a_run(superuser_client, failed_run):
    html = superuser_client.get(RUNS_URL).content.decode()
    for column in ["column-id", "column-started", "column-duration", "column-coloured_status"]:
        assert column in html
    for column in [
        "column-trigger",
        "column-as_of_date",
        "column-processed",
        "column-created",
        "column-error_total",
    ]:
        assert column in html
    assert '<td class="field-error_total">2</td>' in html
    assert "2.0 s" in html


def test_status_is_coloured_by_outcome(superuser_client):
    JobExecutionLogFactory(status=RunStatus.FAILED)
    JobExecutionLogFactory()
    html = superuser_client.get(RUNS_URL).content.decode()
    assert 'class="run-status run-status-failed" style="color: #cf222e"' in html
    assert 'class="run-status run-status-completed" style="color: #1a7f37"' in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status__exact": "completed_with_errors"}, ["failed_run"]),
        ({"has_errors": "yes"}, ["failed_run"]),
        ({"has_errors": "no"}, ["clean_run", "dry_run"]),
        ({"triggered_by__exact": "schedule"}, ["failed_run"]),
        ({"dry_run__exact": "1"}, ["dry_run"]),
        ({"started_at__year": "2026", "started_at__month": "2", "started_at__day": "3"}, ["failed_run"]),
        ({FROM: "2026-02-03", TO: "2026-02-04"}, ["clean_run", "failed_run"]),
        ({TO: "2026-02-03"}, ["failed_run", "dry_run"]),
        ({FROM: "2026-02-05"}, []),
    ],
)
def test_each_filter_keeps_exactly_the_matching_runs(superuser_client, failed_run, params, expected):
    runs = {
        "failed_run": failed_run,
        "clean_run": JobExecutionLogFactory(started_at=started(4, 23)),
        "dry_run": JobExecutionLogFactory(started_at=started(1), dry_run=True),
    }
    assert listed_ids(superuser_client, **params) == [runs[name].pk for name in expected]


def test_date_range_ends_at_the_end_of_the_last_day_in_the_configured_zone(superuser_client, settings):
    settings.TIME_ZONE = "Europe/Paris"
    inside = JobExecutionLogFactory(started_at=datetime(2026, 2, 3, 22, 59, tzinfo=UTC))
    JobExecutionLogFactory(started_at=datetime(2026, 2, 3, 23, 0, tzinfo=UTC))  # Feb 4th in Paris
    params = {FROM: "2026-02-03", TO: "2026-02-03"}
    assert listed_ids(superuser_client, **params) == [inside.pk]


def test_range_filter_form_keeps_the_other_filters(superuser_client):
    html = superuser_client.get(RUNS_URL, {"status__exact": "failed"}).content.decode()
    assert 'id="start-date-query-string" value="?status__exact=failed"' in html
    assert f'name="{FROM}"' in html
    assert "By start date" in html


def test_an_invalid_range_date_filters_nothing_and_says_why(superuser_client, failed_run):
    response = superuser_client.get(RUNS_URL, {FROM: "yesterday"})
    assert [run.pk for run in response.context["cl"].result_list] == [failed_run.pk]
    assert "Enter a valid date." in response.content.decode()


def test_filter_titles_read_as_english(superuser_client):
    html = superuser_client.get(RUNS_URL).content.decode()
    assert "By trigger" in html
    assert "By triggered by" not in html


@pytest.mark.parametrize("term", ["{id}", "#{id}", "INV-000012", "value too long"])
def test_search_finds_a_run_by_id_or_error_text(superuser_client, failed_run, term):
    JobExecutionLogFactory()
    assert listed_ids(superuser_client, q=term.format(id=failed_run.pk)) == [failed_run.pk]


def test_search_finds_text_in_the_traceback_of_a_failed_run(superuser_client):
    broken = JobExecutionLogFactory(status=RunStatus.FAILED, traceback="OperationalError: server closed")
    JobExecutionLogFactory()
    assert listed_ids(superuser_client, q="server closed") == [broken.pk]


def test_list_page_queries_do_not_grow_with_the_number_of_runs(
    superuser_client, django_assert_max_num_queries
):
    JobExecutionLogFactory.create_batch(120)
    superuser_client.get(RUNS_URL)
    # The status box includes the outbox's health: its counts, oldest waiting entry, newest chunk; and
    # the webhooks': their counts, and the disabled endpoints.
    with django_assert_max_num_queries(22):
        superuser_client.get(RUNS_URL, {"p": "2"})


def test_list_does_not_count_the_unfiltered_runs_beside_a_filter(superuser_client):
    JobExecutionLogFactory()
    with CaptureQueriesContext(connection) as captured:
        superuser_client.get(RUNS_URL, {"status__exact": "failed"})
    # A count of runs; the page's own query counts each run's failed deliveries in a subquery.
    counts = [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"].upper().startswith("SELECT COUNT(")
    ]
    assert len([sql for sql in counts if "scheduler_jobexecutionlog" in sql]) == 1


# --- read-only ----------------------------------------------------------------------------------


def test_runs_cannot_be_added_changed_or_deleted(superuser_client, failed_run):
    assert superuser_client.get(reverse("admin:scheduler_jobexecutionlog_add")).status_code == 403
    delete_url = reverse("admin:scheduler_jobexecutionlog_delete", args=[failed_run.pk])
    assert superuser_client.post(delete_url, {"post": "yes"}).status_code == 403
    response = superuser_client.post(run_url(failed_run), {"status": "completed"})
    assert response.status_code == 403
    failed_run.refresh_from_db()
    assert failed_run.status == RunStatus.COMPLETED_WITH_ERRORS
    assert b'name="_save"' not in superuser_client.get(run_url(failed_run)).content


# --- a run's page ---------------------------------------------------------------------------------


def test_run_page_shows_its_errors_as_a_table(superuser_client, failed_run):
    html = superuser_client.get(run_url(failed_run)).content.decode()
    assert '<table class="run-errors">' in html
    assert "<td>11</td><td>INV-000011</td><td>DataError: value too long for recipient</td>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html


def test_run_page_without_errors_says_so(superuser_client):
    html = superuser_client.get(run_url(JobExecutionLogFactory())).content.decode()
    assert "No invoice failed." in html


def test_run_page_links_to_exactly_the_notifications_it_created(superuser_client):
    run = JobExecutionLogFactory(notifications_created=2)
    mine = NotificationFactory.create_batch(2, run_id=run.pk)
    NotificationFactory()
    html = superuser_client.get(run_url(run)).content.decode()
    link = reverse("admin:reminders_notification_changelist") + f"?run_id={run.pk}"
    assert f'<a href="{link}">2 reminders created by this run</a>' in html
    response = superuser_client.get(link)
    assert response.status_code == 200
    assert {n.pk for n in response.context["cl"].result_list} == {n.pk for n in mine}


# --- run now ---------------------------------------------------------------------------------------


def test_run_now_enqueues_exactly_one_check_triggered_by_admin(superuser_client):
    response = superuser_client.post(RUN_NOW_URL, follow=True)
    assert response.redirect_chain == [(RUNS_URL, 302)]
    queued = OrmQ.objects.get()
    assert queued.task["func"] == "scheduler.tasks.overdue_check_task"
    assert queued.task["kwargs"] == {"triggered_by": "admin"}
    messages = [str(message) for message in response.context["messages"]]
    assert messages == [
        "The overdue check was queued: its run appears at the top of this list when a cluster starts it "
        "(the list refreshes every 5 seconds until then).",
        "No cluster is running: the run starts when one does (manage.py qcluster).",
    ]
    assert '<meta http-equiv="refresh" content="5">' in response.content.decode()
    assert "1 run waiting for a cluster, since" in response.content.decode()


def test_run_now_queues_nothing_while_a_run_still_waits_for_a_cluster(superuser_client):
    superuser_client.post(RUN_NOW_URL, follow=True)
    response = superuser_client.post(RUN_NOW_URL, follow=True)
    assert OrmQ.objects.count() == 1
    [message] = [str(message) for message in response.context["messages"]]
    assert message.startswith("Nothing was queued: a run queued at ")
    assert "still waiting for a cluster: no cluster is running, start one with manage.py qcluster." in message


def test_run_list_refreshes_itself_only_while_a_run_is_running(superuser_client):
    JobExecutionLogFactory()
    assert b'http-equiv="refresh"' not in superuser_client.get(RUNS_URL).content
    JobExecutionLogFactory(status=RunStatus.RUNNING, finished_at=None)
    assert b'<meta http-equiv="refresh" content="5">' in superuser_client.get(RUNS_URL).content


def test_run_now_does_not_warn_when_a_cluster_is_alive(superuser_client):
    save_heartbeat()
    response = superuser_client.post(RUN_NOW_URL, follow=True)
    assert [str(message) for message in response.context["messages"]][1:] == []


def test_run_now_needs_a_post(superuser_client):
    assert superuser_client.get(RUN_NOW_URL).status_code == 405
    assert not OrmQ.objects.exists()


def test_run_now_button_is_on_the_run_list(superuser_client):
    html = superuser_client.get(RUNS_URL).content.decode()
    assert f'action="{RUN_NOW_URL}"' in html
    assert "Run overdue check now" in html


# --- scheduler status on the list -------------------------------------------------------------------


def test_run_list_shows_a_running_scheduler_with_its_next_run_and_last_runs(superuser_client, failed_run):
    save_heartbeat()
    create_check_schedule(next_run=datetime.now(UTC) + timedelta(hours=3))
    html = superuser_client.get(RUNS_URL).content.decode()
    assert "Scheduler: running" in html
    assert "alive (fresh heartbeat)" in html
    assert f"#{failed_run.pk}</a>, started" in html
    assert "completed with errors, 2 errors" in html


def test_run_list_shows_a_dead_cluster_and_a_late_schedule(superuser_client):
    create_check_schedule(next_run=datetime.now(UTC) - timedelta(hours=1))
    html = superuser_client.get(RUNS_URL).content.decode()
    assert "not running" in html
    assert "no heartbeat" in html
    assert "late: the cluster has not picked it up" in html


def test_run_list_shows_a_missing_schedule(superuser_client):
    html = superuser_client.get(RUNS_URL).content.decode()
    assert "no schedule: run <code>manage.py sync_schedules</code>" in html


# --- dry runs, durations and zones -------------------------------------------------------------------


def test_dry_runs_are_marked_on_the_list_and_on_their_page(superuser_client):
    dry = JobExecutionLogFactory(dry_run=True, notifications_created=672)
    real = JobExecutionLogFactory()
    html = superuser_client.get(RUNS_URL).content.decode()
    assert html.count('class="dry-run-badge"') == 2  # the dry run's row, and the status box's last dry run
    page = superuser_client.get(run_url(dry)).content.decode()
    assert f"<title>Dry run #{dry.pk} (completed)" in page
    assert 'class="dry-run-badge"' in page
    assert 'class="dry-run-badge"' not in superuser_client.get(run_url(real)).content.decode()


def test_a_short_run_shows_milliseconds_not_zero_seconds(superuser_client):
    run = JobExecutionLogFactory(started_at=started(3))
    JobExecutionLog.objects.filter(pk=run.pk).update(finished_at=started(3) + timedelta(milliseconds=42))
    html = superuser_client.get(RUNS_URL).content.decode()
    assert '<td class="field-duration">42 ms</td>' in html
    assert "0.0 s" not in html


def test_times_on_the_list_and_the_page_carry_their_zone(superuser_client, settings):
    settings.TIME_ZONE = "Europe/Paris"
    run = JobExecutionLogFactory(started_at=datetime(2026, 2, 3, 23, 0, 4, tzinfo=UTC))
    assert "2026-02-04 00:00 CET" in superuser_client.get(RUNS_URL).content.decode()
    page = superuser_client.get(run_url(run)).content.decode()
    assert page.count("2026-02-04 00:00 CET") == 2  # started and finished


def test_the_status_box_shows_the_outbox_and_links_its_failed_messages(superuser_client):
    MessageFactory(state="failed")
    MessageFactory()
    page = superuser_client.get(RUNS_URL).content.decode()
    assert 'id="delivery-health"' in page
    assert "1 pending" in page
    assert "?state__exact=failed" in page
    assert "1 failed" in page


def test_a_run_whose_deliveries_failed_says_so_beside_its_status_on_the_list_and_its_page(superuser_client):
    failed = JobExecutionLogFactory(notifications_created=2)
    for reminder in NotificationFactory.create_batch(2, run_id=failed.pk):
        delivered(reminder, state="failed")
    sent = JobExecutionLogFactory(notifications_created=1)
    delivered(NotificationFactory(run_id=sent.pk), state="sent")
    link = (
        reverse("admin:reminders_message_changelist")
        + f"?reminders__run_id={failed.pk}&amp;state__exact=failed"
    )
    note = f'<a href="{link}"><span class="deliveries-failed">all 2 deliveries failed</span></a>'

    listed = superuser_client.get(RUNS_URL).content.decode()
    assert listed.count("deliveries failed") == 1
    assert note in listed
    assert note in superuser_client.get(run_url(failed)).content.decode()
    assert "deliveries failed" not in superuser_client.get(run_url(sent)).content.decode()


def test_run_counts_are_grouped_by_thousands(superuser_client):
    JobExecutionLogFactory(invoices_processed=1_234_567, notifications_created=45_678, error_count=1_151)
    html = superuser_client.get(RUNS_URL).content.decode()
    assert '<td class="field-processed">1,234,567</td>' in html
    assert '<td class="field-created_count">45,678</td>' in html
    assert '<td class="field-error_total">1,151</td>' in html


def test_a_run_page_groups_its_counters_by_thousands(superuser_client):
    run = JobExecutionLogFactory(invoices_processed=1_234_567, already_notified=1_151, error_count=12_345)
    html = superuser_client.get(run_url(run)).content.decode()
    for figure in ("1,234,567", "1,151", "12,345"):
        assert f'<div class="readonly">{figure}</div>' in html
