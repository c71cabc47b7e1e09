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
        {"currency": "EUR", "balance": "2,010.50", "count": "2"},
        {"currency": "USD", "balance": "7.25", "count": "1"},
    ]
    html = response.content.decode()
    assert '<td data-field="listed-count">2</td><td data-field="listed-balance">2,010.50</td>' in html
    html = staff_client.get(INVOICES_URL, {"currency__exact": "EUR"}).content.decode()
    assert '<tr data-currency="EUR"><th scope="row">EUR</th><td>3</td>' in html


def test_invoice_list_shows_the_overdue_figure_and_its_paused_part_under_the_dashboards_labels(
    staff_client, overdue
):
    InvoiceFactory(due_date=days_ago(5), total=Decimal("1234567.00"), customer__reminders_paused=True)
    response = staff_client.get(INVOICES_URL, {"overdue": "yes"})
    assert response.context["overdue_totals"] == [
        {
            "currency": "EUR",
            "overdue": "1,236,577.50",
            "overdue_count": "3",
            "paused": "1,234,567.00",
            "paused_count": "1",
            "listed": {"currency": "EUR", "balance": "2,010.50", "count": "2"},
        },
        {
            "currency": "USD",
            "overdue": "7.25",
            "overdue_count": "1",
            "paused": "0.00",
            "paused_count": "0",
            "listed": {"currency": "USD", "balance": "7.25", "count": "1"},
        },
    ]
    html = response.content.decode()
    assert ">overdue</th>" in html
    assert ">of which paused customers</th>" in html
    assert "listed below: those of customers not paused" in html
    # The list itself holds the overdue invoices of customers not paused: the overdue figure less the part.
    assert response.context["currency_totals"][0]["balance"] == "2,010.50"


def test_the_overdue_list_narrowed_further_totals_what_it_lists(staff_client, overdue):
    response = staff_client.get(INVOICES_URL, {"overdue": "yes", "currency__exact": "USD"})
    assert response.context["currency_totals"] == [{"currency": "USD", "balance": "7.25", "count": "1"}]
    response = staff_client.get(INVOICES_URL, {"overdue": "yes", "q": "INV-OLD"})
    assert response.context["currency_totals"] == [{"currency": "EUR", "balance": "2,000.50", "count": "1"}]


def test_invoice_list_groups_thousands_and_shows_dates_in_the_desks_format(staff_client):
    InvoiceFactory(number="INV-BIG", total=Decimal("42932722.24"), due_date=date(2026, 1, 31))
    html = staff_client.get(INVOICES_URL).content.decode()
    assert '<td class="field-total_amount">42,932,722.24</td>' in html
    assert '<td class="field-balance">42,932,722.24</td>' in html
    assert '<td class="field-due_date nowrap">2026-01-31</td>' in html


def test_invoice_page_leads_with_its_balance_days_overdue_and_reminders(staff_client):
    invoice = InvoiceFactory(due_date=days_ago(44), total=Decimal("42932722.24"), amount_paid=Decimal("0.24"))
    NotificationFactory(invoice=invoice, threshold_days=7, level=2, days_overdue=8)
    html = staff_client.get(reverse("admin:invoicing_invoice_change", args=[invoice.pk])).content.decode()
    summary = html[html.index('id="summary"') : html.index("<fieldset")]
    assert '<strong id="summary-balance">EUR 42,932,722.00</strong> of EUR 42,932,722.24' in summary
    assert '<strong id="summary-days-overdue">44</strong>' in summary
    assert "level 2 (7 days)" in summary
    assert '<div class="readonly">42,932,722.00</div>' in html  # the form's own balance field


def test_invoice_page_of_a_paused_customer_says_why_it_is_not_overdue(staff_client):
    invoice = InvoiceFactory(due_date=days_ago(44), customer__reminders_paused=True)
    html = staff_client.get(reverse("admin:invoicing_invoice_change", args=[invoice.pk])).content.decode()
    assert '<strong id="summary-days-overdue">— (paused)</strong>' in html
    assert "(reminders paused)" in html


def test_customer_page_leads_with_its_open_balance_per_currency_and_its_open_invoices(staff_client):
    first = InvoiceFactory(due_date=days_ago(10), total=Decimal("1500000.00"))
    customer = first.customer
    InvoiceFactory(customer=customer, due_date=days_ago(2), total=Decimal("0.50"))
    InvoiceFactory(customer=customer, currency="JPY", total=Decimal("5000"), due_date=days_ago(-3))
    paid = InvoiceFactory(customer=customer, status="paid")
    html = staff_client.get(reverse("admin:invoicing_customer_change", args=[customer.pk])).content.decode()
    summary = html[html.index('id="summary"') : html.index("<fieldset")]
    assert (
        '<strong class="open-balance" data-currency="EUR">EUR 1,500,000.50</strong> (2 invoices)' in summary
    )
    assert '<strong class="open-balance" data-currency="JPY">JPY 5,000</strong> (1 invoice)' in summary
    assert (
        f'<a href="{reverse("admin:invoicing_invoice_change", args=[first.pk])}">{first.number}</a>'
        in summary
    )
    assert "— (due in 3 days)" in summary
    assert paid.number not in summary


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


def test_a_customer_page_lists_its_first_20_open_invoices_and_links_all_of_them(staff_client):
    first = InvoiceFactory(due_date=days_ago(30))
    customer = first.customer
    InvoiceFactory.create_batch(20, customer=customer, due_date=days_ago(5))
    InvoiceFactory(status="paid", customer=customer)
    html = staff_client.get(reverse("admin:invoicing_customer_change", args=[customer.pk])).content.decode()
    table = html[
        html.index('<table class="open-invoices">') : html.index("</table>", html.index("open-invoices"))
    ]
    assert table.count("<tr>") == 1 + 20
    assert first.number in table
    link = (
        reverse("admin:invoicing_invoice_changelist")
        + f"?customer__id__exact={customer.pk}&amp;status__exact=sent"
    )
    assert link in html
    response = staff_client.get(link.replace("&amp;", "&"))
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 21
