import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.reminders.factories import NotificationFactory

pytestmark = pytest.mark.django_db
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
    """With a million reminders, a DISTINCT or a MIN/MAX over the table costs a second per page view."""
    NotificationFactory()
    with CaptureQueriesContext(connection) as queries:
        staff_client.get(reverse(LIST))
    sql = " ".join(query["sql"] for query in queries.captured_queries)
    assert "DISTINCT" not in sql
    assert "MIN(" not in sql


def test_run_link_lists_only_the_runs_notifications(staff_client):
    mine = NotificationFactory(invoice__number="MINE-1")
    NotificationFactory(invoice__number="OTHER-1")
    page = staff_client.get(reverse(LIST), {"run_id": mine.run_id}).content.decode()
    assert "MINE-1" in page
    assert "OTHER-1" not in page
