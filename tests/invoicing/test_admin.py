from datetime import date

import pytest
from django.urls import reverse

from tests.invoicing.factories import InvoiceFactory
from tests.reminders.factories import NotificationFactory

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
