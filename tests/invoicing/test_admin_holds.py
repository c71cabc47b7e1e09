"""Holding one invoice's reminders in the admin (docs/SPEC.md §13): the "hold until…" action with its own
form page, "release", the hold on the invoice's page and its list filter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from invoicing.models import Invoice
from tests.invoicing.factories import InvoiceFactory, held_fields

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:invoicing_invoice_changelist"


def act(client, action: str, invoices: list[Invoice], **data):
    payload = {"action": action, ACTION_CHECKBOX_NAME: [invoice.pk for invoice in invoices], **data}
    return client.post(reverse(CHANGELIST), payload, follow=True)


def test_hold_action_first_shows_its_form_naming_the_invoices(staff_client):
    invoices = [InvoiceFactory(number="INV-H1"), InvoiceFactory(number="INV-H2")]
    response = act(staff_client, "hold", invoices)
    page = response.content.decode()
    assert response.templates[0].name == "admin/invoicing/invoice/hold.html"
    assert "INV-H1" in page
    assert "INV-H2" in page
    for field in ("until", "reason", "note"):
        assert f'name="{field}"' in page
    assert not Invoice.objects.filter(reminders_held_until__isnull=False).exists()


def test_hold_action_holds_the_selected_invoices_with_date_reason_and_note(staff_client):
    held, other = InvoiceFactory(), InvoiceFactory()
    until = timezone.localdate() + timedelta(days=14)
    response = act(
        staff_client,
        "hold",
        [held],
        apply="1",
        until=until.isoformat(),
        reason="dispute",
        note="Wrong quantity",
    )
    assert "1 invoice held through" in response.content.decode()
    held.refresh_from_db()
    other.refresh_from_db()
    assert (held.reminders_held_until, held.hold_reason, held.hold_note) == (
        until,
        "dispute",
        "Wrong quantity",
    )
    assert other.reminders_held_until is None


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"until": "", "reason": "dispute"}, "This field is required."),
        ({"until": "2026-13-01", "reason": "dispute"}, "Enter a valid date."),
        ({"until": "2000-01-01", "reason": "dispute"}, "2000-01-01 has passed"),
        ({"until": "2999-01-01", "reason": "holiday"}, "Select a valid choice. holiday is not one"),
    ],
)
def test_hold_form_refuses_bad_input_on_the_field_and_holds_nothing(staff_client, data, error):
    invoice = InvoiceFactory()
    response = act(staff_client, "hold", [invoice], apply="1", **data)
    assert error in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.reminders_held_until is None


def test_release_action_ends_the_hold(staff_client):
    today = timezone.localdate()
    held = InvoiceFactory(**held_fields(today + timedelta(days=5), "promise_to_pay"))
    response = act(staff_client, "release", [held])
    assert "1 invoice released" in response.content.decode()
    held.refresh_from_db()
    assert (held.reminders_held_until, held.hold_reason, held.hold_note) == (None, "", "")


def test_on_hold_filter_lists_invoices_held_today_only(staff_client):
    today = timezone.localdate()
    InvoiceFactory(number="HELD-1", **held_fields(today))
    InvoiceFactory(number="ENDED-1", **held_fields(today - timedelta(days=1)))
    InvoiceFactory(number="FREE-1")
    page = staff_client.get(reverse(CHANGELIST), {"held": "yes"}).content.decode()
    assert "HELD-1" in page
    assert "ENDED-1" not in page
    assert "FREE-1" not in page


def test_invoice_page_says_through_which_date_and_why_reminders_are_held(staff_client):
    until = timezone.localdate() + timedelta(days=3)
    invoice = InvoiceFactory(**held_fields(until, "promise_to_pay"))
    Invoice.objects.filter(pk=invoice.pk).update(hold_note="Pays on the 15th")
    page = staff_client.get(reverse("admin:invoicing_invoice_change", args=[invoice.pk])).content.decode()
    assert (
        f'<span id="summary-hold">held through {until:%Y-%m-%d} (promise to pay): Pays on the 15th</span>'
        in page
    )


def test_invoice_page_says_when_an_invoice_not_yet_due_is_due(staff_client):
    invoice = InvoiceFactory(due_date=timezone.localdate() + timedelta(days=3))
    page = staff_client.get(reverse("admin:invoicing_invoice_change", args=[invoice.pk])).content.decode()
    assert "— (due in 3 days)" in page


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"reminders_held_until": "2999-01-01", "hold_reason": ""}, "hold_reason", "A hold needs a reason."),
        (
            {"reminders_held_until": "", "hold_reason": "dispute"},
            "hold_reason",
            "Set the date the hold lasts",
        ),
        ({"reminders_held_until": "", "hold_note": "why"}, "hold_note", "Set the date the hold lasts"),
    ],
)
def test_change_form_refuses_an_incomplete_hold_on_the_field(staff_client, fields, field, message):
    invoice = InvoiceFactory()
    data = {
        "customer": invoice.customer_id,
        "number": invoice.number,
        "issue_date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "currency": "EUR",
        "total": "100.00",
        "amount_paid": "0.00",
        "status": "sent",
        "reminders_held_until": "",
        "hold_reason": "",
        "hold_note": "",
        **fields,
    }
    response = staff_client.post(reverse("admin:invoicing_invoice_change", args=[invoice.pk]), data)
    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors[field])
    invoice.refresh_from_db()
    assert invoice.reminders_held_until is None
