"""The admin index as the finance desk's dashboard (SPEC §11)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from desk.dashboard import activity_chart, aging_chart, axis_margin, short_amount
from invoicing.models import Customer
from invoicing.selectors import overdue_totals, receivables_aging
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.reminders.factories import NotificationFactory, delivered
from tests.scheduler.factories import JobExecutionLogFactory

pytestmark = pytest.mark.django_db

INDEX_URL = reverse("admin:index")


@pytest.fixture
def receivables():
    today = timezone.localdate()
    InvoiceFactory(due_date=today, total=Decimal("100.00"))
    InvoiceFactory(due_date=today - timedelta(days=40), total=Decimal("250.50"))
    InvoiceFactory(
        due_date=today - timedelta(days=100),
        total=Decimal("1000.00"),
        customer=CustomerFactory(reminders_paused=True),
    )
    InvoiceFactory(due_date=today - timedelta(days=3), currency="JPY", total=Decimal("5000.00"))


def cell(html: str, currency: str, attribute: str) -> str:
    row = re.search(rf'<tr data-currency="{currency}">(.*?)</tr>', html, re.S).group(1)
    return re.search(rf'<td class="num[^"]*" {re.escape(attribute)}[^>]*>(?:<strong>)?([^<]*)<', row).group(1)


def test_dashboard_shows_the_aging_table_of_the_selector(superuser_client, receivables):
    html = superuser_client.get(INDEX_URL).content.decode()
    for row in receivables_aging(as_of=timezone.localdate()):
        assert cell(html, row.currency, 'data-field="total"') == f"{row.total:,}"
        for key, share in row.buckets.items():
            assert cell(html, row.currency, f'data-bucket="{key}"') == f"{share.amount:,}"
    assert cell(html, "EUR", 'data-field="total"') == "1,350.50"
    assert cell(html, "JPY", 'data-bucket="1-30"') == "5,000"


def test_dashboard_shows_the_overdue_figure_with_the_paused_customers_part(superuser_client, receivables):
    html = superuser_client.get(INDEX_URL).content.decode()
    for row in overdue_totals(as_of=timezone.localdate()):
        assert cell(html, row.currency, 'data-field="overdue"') == f"{row.overdue.amount:,}"
        assert cell(html, row.currency, 'data-field="overdue-paused"') == f"{row.paused.amount:,}"
    assert cell(html, "EUR", 'data-field="overdue"') == "1,250.50"
    assert cell(html, "EUR", 'data-field="overdue-paused"') == "1,000.00"
    assert cell(html, "JPY", 'data-field="overdue-paused"') == "0"
    assert ">overdue</th>" in html
    assert ">of which paused customers</th>" in html


def test_dashboard_marks_a_run_whose_deliveries_failed_beside_its_status(superuser_client):
    run = JobExecutionLogFactory(notifications_created=3)
    for reminder in NotificationFactory.create_batch(2, run_id=run.pk):
        delivered(reminder, state="failed")
    delivered(NotificationFactory(run_id=run.pk), state="sent")
    html = superuser_client.get(INDEX_URL).content.decode()
    assert 'Completed <span class="deliveries-failed">2 of 3 deliveries failed</span>' in html


def test_dashboard_draws_a_bar_chart_per_currency_in_svg(superuser_client, receivables):
    html = superuser_client.get(INDEX_URL).content.decode()
    assert html.count('aria-label="EUR open balance by days overdue"') == 1
    assert html.count('aria-label="JPY open balance by days overdue"') == 1
    assert "<title>31-60: EUR 250.50, 1 invoice</title>" in html
    assert 'aria-label="Reminders created and delivered per day"' in html


def test_dashboard_loads_nothing_from_another_site(superuser_client, receivables):
    html = superuser_client.get(INDEX_URL).content.decode()
    external = re.findall(r'(?:src|href)="((?:https?:)?//[^"]*)"', html)
    assert external == []


def test_dashboard_keeps_the_app_list_and_has_no_view_site_link(superuser_client):
    html = superuser_client.get(INDEX_URL).content.decode()
    assert reverse("admin:invoicing_invoice_changelist") in html
    assert reverse("admin:reminders_notification_changelist") in html
    assert "View site" not in html


def test_dashboard_lists_the_last_runs_with_durations_and_marks_dry_runs(superuser_client):
    now = timezone.now()
    quick = JobExecutionLogFactory(started_at=now - timedelta(hours=2))
    quick.finished_at = quick.started_at + timedelta(milliseconds=85)
    quick.save()
    JobExecutionLogFactory(started_at=now - timedelta(hours=1), dry_run=True, notifications_created=672)
    html = superuser_client.get(INDEX_URL).content.decode()
    runs = html[html.index('id="last-runs"') : html.index("</table>", html.index('id="last-runs"'))]
    assert "85 ms" in runs
    assert runs.count('class="dry-run-badge"') == 1
    assert "(672)" in runs


def test_status_box_shows_the_last_real_run_and_the_last_dry_run_apart(superuser_client):
    real = JobExecutionLogFactory(started_at=datetime(2026, 2, 1, 0, 0, 4, tzinfo=UTC))
    dry = JobExecutionLogFactory(started_at=datetime(2026, 2, 2, tzinfo=UTC), dry_run=True)
    html = superuser_client.get(INDEX_URL).content.decode()
    last_run = re.search(r'<dd id="last-run">(.*?)</dd>', html, re.S).group(1)
    assert f"#{real.pk}</a>, started 2026-02-01 00:00 UTC" in last_run
    last_dry = re.search(r'<dd id="last-dry-run">(.*?)</dd>', html, re.S).group(1)
    assert f"#{dry.pk}</a>" in last_dry
    assert "dry run" in last_dry


def test_dashboard_counts_reminders_created_and_delivered_over_30_days(superuser_client):
    now = timezone.now()
    for reminder in NotificationFactory.create_batch(2):
        delivered(reminder, state="sent", sent_at=now)
    NotificationFactory()
    old = NotificationFactory()
    type(old).objects.filter(pk=old.pk).update(created_at=now - timedelta(days=45))
    html = superuser_client.get(INDEX_URL).content.decode()
    assert "3 created" in html
    assert "2 delivered" in html


def test_staff_without_permissions_see_no_figures(client, django_user_model, receivables):
    client.force_login(django_user_model.objects.create_user(username="temp", is_staff=True))
    html = client.get(INDEX_URL).content.decode()
    assert 'id="aging-table"' not in html
    assert 'id="last-runs"' not in html


def test_staff_with_invoice_permission_see_the_aging_only(client, django_user_model, receivables):
    user = django_user_model.objects.create_user(username="clerk", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_invoice"))
    client.force_login(user)
    html = client.get(INDEX_URL).content.decode()
    assert 'id="aging-table"' in html
    assert 'id="last-runs"' not in html


def test_dashboard_queries_do_not_grow_with_the_data(superuser_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert superuser_client.get(INDEX_URL).status_code == 200
        return len(captured)

    InvoiceFactory.create_batch(2, currency="EUR")
    few = queries()
    for currency in ["EUR", "USD", "GBP", "CHF", "SEK"]:
        InvoiceFactory.create_batch(3, currency=currency)
    NotificationFactory.create_batch(5)
    JobExecutionLogFactory.create_batch(12)
    many = queries()
    assert many == few
    assert many <= 24  # the page's cards, one or two queries each


# --- chart geometry --------------------------------------------------------------------------------


def test_each_age_takes_its_share_of_the_bar_one_after_the_other(receivables):
    [eur, _] = receivables_aging(as_of=timezone.localdate())  # 100.00, 250.50 and 1000.00 of 1350.50
    bars = aging_chart(eur, width=1350.5).bars
    assert [round(bar.width, 6) for bar in bars] == [100.0, 0.0, 250.5, 0.0, 1000.0]
    assert [round(bar.x, 6) for bar in bars] == [0.0, 100.0, 100.0, 350.5, 350.5]


def test_an_empty_activity_chart_has_no_height_and_ticks_end_on_the_last_day():
    from datetime import date

    from reminders.selectors import DayActivity

    days = [DayActivity(date(2026, 2, 1) + timedelta(days=n), 0, 0) for n in range(30)]
    chart = activity_chart(days)
    assert {bar.height for bar in chart.bars} == {0}
    assert chart.ticks[-1][1] == "2026-03-02"
    assert len(chart.ticks) == 5


@pytest.mark.parametrize("top", [1, 999, 1_151, 1_234_567, 12_345_678])
def test_the_y_axis_leaves_room_for_every_digit_and_separator_of_its_top_count(top):
    from datetime import date

    from reminders.selectors import DayActivity

    chart = activity_chart([DayActivity(date(2026, 2, 1), top, 0)])
    assert chart.top_label == f"{top:,}"
    # Digits and commas are at most 9 units wide at the chart's font size; the label ends at label_x.
    assert chart.label_x - len(chart.top_label) * 9 >= 0
    assert chart.left == axis_margin(top)
    assert all(bar.x >= chart.left for bar in chart.bars)


@pytest.mark.parametrize(
    ("amount", "text"),
    [("812.40", "812"), ("45300", "45.3k"), ("1234567.89", "1.2M"), ("2500000000", "2.5G")],
)
def test_bar_values_are_short(amount, text):
    assert short_amount(Decimal(amount)) == text


def test_dashboard_lists_the_customers_with_a_bad_address_each_linked_to_fix_it(superuser_client):
    """SPEC §14: the customers whose address bounced, newest first; one whose address changed since is
    not listed (the suppression was lifted)."""
    bounced = CustomerFactory(name="Bounced Ltd", email="ap@bounced.example")
    older = CustomerFactory(name="Older Bounce Ltd", email="ap@older.example")
    changed = CustomerFactory(name="Changed Ltd", email="new@changed.example")
    CustomerFactory(name="Fine Ltd")
    for customer, address, day in [
        (bounced, "ap@bounced.example", 3),
        (older, "ap@older.example", 1),
        (changed, "old@changed.example", 2),
    ]:
        Customer.objects.filter(pk=customer.pk).update(
            email_suppressed_at=datetime(2026, 3, day, tzinfo=UTC),
            email_suppressed_reason=f"Postmark: mailbox not found ({address})",
            email_suppressed_address=address,
        )
    html = superuser_client.get(INDEX_URL).text
    section = re.search(r'<section id="bad-addresses".*?</section>', html, re.S).group(0)
    assert "Customers with a bad address: 2" in section
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a></td>', section)
    assert links == [
        (reverse("admin:invoicing_customer_change", args=[bounced.pk]), "Bounced Ltd"),
        (reverse("admin:invoicing_customer_change", args=[older.pk]), "Older Bounce Ltd"),
    ]
    assert "mailbox not found (ap@bounced.example)" in section


def test_dashboard_shows_no_bad_address_section_when_none_bounced(superuser_client):
    CustomerFactory()
    assert 'id="bad-addresses"' not in superuser_client.get(INDEX_URL).text
