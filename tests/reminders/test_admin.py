"""The reminder list a clerk works from (SPEC §11)."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.reminders.factories import NotificationFactory, delivered

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:reminders_notification_changelist")


def listed(client, **params) -> list[int]:
    response = client.get(LIST_URL, params)
    assert response.status_code == 200
    return [notification.pk for notification in response.context["cl"].result_list]


@pytest.fixture
def reminders():
    return {
        "hooli": NotificationFactory(
            invoice__number="INV-0002000",
            invoice__customer__name="Hooli Industries 111",
            invoice__customer__email="ap@hooli.example",
            recipient="billing+111@hooli.example",
        ),
        "globex": delivered(
            NotificationFactory(invoice__number="INV-0003000", invoice__customer__name="Globex Trading 7"),
            state="sent",
            sent_at=datetime(2026, 2, 3, 9, 30, tzinfo=UTC),
        ),
    }


@pytest.mark.parametrize(
    "term",
    ["Hooli Industries", "hooli industries 111", "INV-0002000", "ap@hooli.example"],
)
def test_search_finds_a_reminder_by_customer_name_invoice_number_or_email(staff_client, reminders, term):
    assert listed(staff_client, q=term) == [reminders["hooli"].pk]


def test_filter_by_the_state_of_the_message_keeps_exactly_those(staff_client, reminders):
    assert listed(staff_client, delivery__state__exact="sent") == [reminders["globex"].pk]
    assert listed(staff_client, delivery__state__isnull="True") == [reminders["hooli"].pk]


def test_list_shows_customer_reminder_delivery_state_and_sent_time_with_its_zone(staff_client, reminders):
    html = staff_client.get(LIST_URL).content.decode()
    assert '<td class="field-customer">Globex Trading 7</td>' in html
    assert '<td class="field-reminder">level 1 (1 day)</td>' in html
    assert '<td class="field-state">Sent</td>' in html
    assert "2026-02-03 09:30 UTC" in html
    assert "By state" in html


def test_a_reminder_reads_as_its_level_days_and_invoice_number(reminders):
    assert str(reminders["hooli"]) == "Reminder level 1 (1 day overdue) for invoice INV-0002000"


def test_the_list_reads_its_rows_in_a_constant_number_of_queries(staff_client, django_assert_max_num_queries):
    NotificationFactory.create_batch(30)
    with django_assert_max_num_queries(8):
        staff_client.get(LIST_URL)


LIST = "admin:reminders_notification_changelist"


def test_threshold_filter_keeps_only_that_threshold_and_lists_the_thresholds_in_use(staff_client):
    week = NotificationFactory(threshold_days=7, days_overdue=8, invoice__number="WEEK-1")
    NotificationFactory(invoice=week.invoice, threshold_days=30, days_overdue=31)
    NotificationFactory(threshold_days=30, days_overdue=30, invoice__number="MONTH-1")
    response = staff_client.get(reverse(LIST), {"threshold_days": "30"})
    page = response.content.decode()
    assert "MONTH-1" in page
    assert response.context["cl"].result_count == 2
    assert "?threshold_days=7" in page
    assert "7 days" in page


def test_notification_list_reads_no_table_wide_distinct_or_date_range(staff_client):
    """With a million reminders, a DISTINCT or a MIN/MAX over the table costs a second per page view; the
    threshold filter's DISTINCT reads only the newest reminders, from an id on."""
    NotificationFactory()
    with CaptureQueriesContext(connection) as queries:
        staff_client.get(reverse(LIST))
    sqls = [query["sql"] for query in queries.captured_queries]
    assert all('"reminders_notification"."id" >= ' in sql for sql in sqls if "DISTINCT" in sql)
    assert not any("MIN(" in sql for sql in sqls)


def test_run_link_lists_only_the_runs_notifications(staff_client):
    mine = NotificationFactory(invoice__number="MINE-1")
    NotificationFactory(invoice__number="OTHER-1")
    page = staff_client.get(reverse(LIST), {"run_id": mine.run_id}).content.decode()
    assert "MINE-1" in page
    assert "OTHER-1" not in page


def test_a_reminder_page_links_the_run_that_created_it(staff_client, reminders):
    reminder = reminders["hooli"]
    html = staff_client.get(
        reverse("admin:reminders_notification_change", args=[reminder.pk])
    ).content.decode()
    run_page = reverse("admin:scheduler_jobexecutionlog_change", args=[reminder.run_id])
    assert f'<a href="{run_page}" class="run-link">#{reminder.run_id}</a>' in html
