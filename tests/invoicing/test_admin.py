import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.invoicing.factories import InvoiceFactory
from tests.reminders.factories import NotificationFactory, delivered

pytestmark = pytest.mark.django_db

INVOICE_FILTERS = [
    {},
    {"overdue": "yes"},
    {"status__exact": "sent"},
    {"due_date__gte": "2026-01-01", "due_date__lt": "2026-02-01"},
    {"currency__exact": "EUR"},
    {"q": "INV"},
]


@pytest.mark.parametrize("params", INVOICE_FILTERS)
def test_invoice_list_renders_for_staff_with_each_filter(staff_client, params):
    invoice = InvoiceFactory()
    response = staff_client.get(reverse("admin:invoicing_invoice_changelist"), params)
    assert response.status_code == 200
    assert invoice.number in response.content.decode()


def test_invoice_list_search_finds_by_customer_email(staff_client):
    wanted = InvoiceFactory(customer__email="ap@wanted.example")
    other = InvoiceFactory()
    response = staff_client.get(reverse("admin:invoicing_invoice_changelist"), {"q": "wanted.example"})
    assert wanted.number in response.content.decode()
    assert other.number not in response.content.decode()


def test_overdue_filter_leaves_out_invoices_not_yet_due(staff_client):
    InvoiceFactory(number="FUTURE-1", due_date=date(2999, 1, 1))
    response = staff_client.get(reverse("admin:invoicing_invoice_changelist"), {"overdue": "yes"})
    assert "FUTURE-1" not in response.content.decode()


@pytest.mark.parametrize(
    "params", [{}, {"level": "1"}, {"threshold_days": "1"}, {"created_at__gte": "2000-01-01 00:00:00+00:00"}]
)
def test_notification_list_renders_for_staff_with_each_filter(staff_client, params):
    notification = NotificationFactory()
    response = staff_client.get(reverse("admin:reminders_notification_changelist"), params)
    assert response.status_code == 200
    assert notification.invoice.number in response.content.decode()


def test_notifications_are_read_only_in_the_admin(staff_client):
    notification = NotificationFactory()
    assert staff_client.get(reverse("admin:reminders_notification_add")).status_code == 403
    response = staff_client.get(reverse("admin:reminders_notification_change", args=[notification.pk]))
    assert b'name="_save"' not in response.content


@pytest.mark.parametrize(
    "url_name", ["admin:invoicing_invoice_changelist", "admin:invoicing_customer_changelist"]
)
def test_admin_pages_redirect_anonymous_users_to_login(client, url_name):
    response = client.get(reverse(url_name))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_invoice_change_page_renders(staff_client):
    invoice = InvoiceFactory()
    response = staff_client.get(reverse("admin:invoicing_invoice_change", args=[invoice.pk]))
    assert response.status_code == 200


# --- the overdue list and the CSV exports (SPEC §11) ------------------------------------------------

INVOICES_URL = reverse("admin:invoicing_invoice_changelist")
AGING_CSV_URL = reverse("admin:invoicing_invoice_aging_csv")
OVERDUE_CSV_URL = reverse("admin:invoicing_invoice_overdue_csv")


def days_ago(days: int) -> date:
    return timezone.localdate() - timedelta(days=days)


@pytest.fixture
def overdue():
    return {
        "recent": InvoiceFactory(number="INV-RECENT", due_date=days_ago(3), total=Decimal("10.00")),
        "old": InvoiceFactory(number="INV-OLD", due_date=days_ago(95), total=Decimal("2000.50")),
        "usd": InvoiceFactory(number="INV-USD", due_date=days_ago(40), currency="USD", total=Decimal("7.25")),
        "future": InvoiceFactory(number="INV-FUTURE", due_date=days_ago(-10)),
    }


def test_overdue_list_is_oldest_due_first_with_days_overdue(staff_client, overdue):
    response = staff_client.get(INVOICES_URL, {"overdue": "yes"})
    assert [invoice.number for invoice in response.context["cl"].result_list] == [
        "INV-OLD",
        "INV-USD",
        "INV-RECENT",
    ]
    html = response.content.decode()
    assert '<td class="field-days_overdue">95</td>' in html
    assert '<td class="field-days_overdue">3</td>' in html


def test_invoice_list_shows_the_balance_per_currency_of_what_it_lists(staff_client, overdue):
    response = staff_client.get(INVOICES_URL, {"overdue": "yes"})
    assert response.context["currency_totals"] == [
        {"currency": "EUR", "balance": Decimal("2010.50"), "count": 2},
        {"currency": "USD", "balance": Decimal("7.25"), "count": 1},
    ]
    html = response.content.decode()
    assert '<tr data-currency="EUR"><th scope="row">EUR</th><td>2</td><td>2010.50</td></tr>' in html


def test_invoices_not_overdue_show_no_days_overdue(staff_client, overdue):
    html = staff_client.get(INVOICES_URL, {"q": "INV-FUTURE"}).content.decode()
    assert '<td class="field-days_overdue">-</td>' in html


def csv_rows(response) -> list[list[str]]:
    assert response["Content-Type"] == "text/csv"
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_overdue_csv_lists_the_overdue_invoices_oldest_first(staff_client, overdue):
    response = staff_client.get(OVERDUE_CSV_URL)
    assert response["Content-Disposition"].startswith('attachment; filename="overdue-invoices-')
    header, *rows = csv_rows(response)
    assert header == ["number", "customer", "email", "due_date", "days_overdue", "currency", "balance_due"]
    assert [(row[0], row[4], row[5], row[6]) for row in rows] == [
        ("INV-OLD", "95", "EUR", "2000.50"),
        ("INV-USD", "40", "USD", "7.25"),
        ("INV-RECENT", "3", "EUR", "10.00"),
    ]


def test_overdue_csv_writes_formulas_as_text(staff_client):
    InvoiceFactory(due_date=days_ago(5), customer__name='=HYPERLINK("http://evil.example")')
    _, row = csv_rows(staff_client.get(OVERDUE_CSV_URL))
    assert row[1] == '\'=HYPERLINK("http://evil.example")'


def test_aging_csv_has_the_figures_of_the_aging(staff_client, overdue):
    header, *rows = csv_rows(staff_client.get(AGING_CSV_URL))
    assert header[:4] == ["as_of", "currency", "total", "count"]
    assert header[4:6] == ["current amount", "current count"]
    assert header[-2:] == ["paused amount", "paused count"]
    eur = dict(zip(header, rows[0], strict=True))
    assert (eur["currency"], eur["total"], eur["count"]) == ("EUR", "2110.50", "3")
    assert (eur["90+ amount"], eur["90+ count"], eur["1-30 amount"]) == ("2000.50", "1", "10.00")
    assert [row[1] for row in rows] == ["EUR", "USD"]


@pytest.mark.parametrize("url", [AGING_CSV_URL, OVERDUE_CSV_URL])
def test_csv_exports_are_for_staff_with_the_view_permission(client, django_user_model, url):
    assert client.get(url).status_code == 302
    client.force_login(django_user_model.objects.create_user(username="temp", is_staff=True))
    assert client.get(url).status_code == 403


# --- reminders on the invoice and customer pages -----------------------------------------------------


def test_invoice_page_lists_its_reminders_with_their_delivery_state(staff_client):
    invoice = InvoiceFactory(number="INV-REMINDED")
    delivered(NotificationFactory(invoice=invoice, threshold_days=7, level=2, days_overdue=8), state="sent")
    NotificationFactory(invoice__number="INV-OTHER")
    html = staff_client.get(reverse("admin:invoicing_invoice_change", args=[invoice.pk])).content.decode()
    assert '<table class="reminders">' in html
    assert "level 2 (7 days)" in html
    assert "<td>Sent</td>" in html
    assert "INV-OTHER" not in html


def test_customer_page_lists_the_reminders_of_its_invoices(staff_client):
    notification = NotificationFactory(invoice__customer__name="Initech Labs")
    NotificationFactory(invoice__customer__name="Someone Else")
    customer = notification.invoice.customer
    html = staff_client.get(reverse("admin:invoicing_customer_change", args=[customer.pk])).content.decode()
    assert notification.invoice.number in html
    link = reverse("admin:reminders_notification_changelist") + f"?invoice__customer__id__exact={customer.pk}"
    assert link in html
    response = staff_client.get(link)
    assert response.status_code == 200
    assert [n.pk for n in response.context["cl"].result_list] == [notification.pk]


def test_a_new_customer_page_has_no_reminders_section(staff_client):
    response = staff_client.get(reverse("admin:invoicing_customer_add"))
    assert response.status_code == 200
    assert "No reminder yet." not in response.content.decode()


def test_days_overdue_column_agrees_with_the_overdue_filter_for_a_paused_customer(staff_client):
    paused = InvoiceFactory(
        due_date=timezone.localdate() - timedelta(days=12), customer__reminders_paused=True
    )
    changelist = reverse("admin:invoicing_invoice_changelist")
    listed = staff_client.get(changelist, {"q": paused.number}).context["cl"]
    overdue = staff_client.get(changelist, {"overdue": "yes"}).context["cl"]
    assert paused not in overdue.queryset
    assert listed.model_admin.days_overdue(listed.result_list[0]) is None
