"""A hold set after the run (docs/SPEC.md §13, P28): the sender's re-check just before each message leaves
the held invoice out, to a real SMTP server (``smtp_server.py``) with the database real."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from invoicing.models import Invoice
from reminders.models import MessageState
from reminders.outbox import reminders_send
from tests.invoicing.factories import CustomerFactory, InvoiceFactory, held_fields
from tests.reminders.outbox import customer_reminders, message_of, mid, pending_reminders

pytestmark = pytest.mark.django_db


def hold(invoice_id: int, days_from_today: int) -> None:
    Invoice.objects.filter(pk=invoice_id).update(
        **held_fields(timezone.localdate() + timedelta(days=days_from_today))
    )


def test_an_invoice_held_after_the_run_is_cancelled_as_held_and_not_sent(smtp_settings):
    [held, other] = pending_reminders(2)
    hold(held.invoice_id, 0)  # through today
    report = reminders_send()
    held.refresh_from_db()
    assert held.cancel_reason == "held"
    assert message_of(held).state == MessageState.CANCELLED
    assert (report.sent, report.cancelled) == (1, 1)
    assert list(smtp_settings.message_ids()) == [mid(other)]


def test_a_held_invoice_is_left_out_of_its_customers_statement_and_its_other_invoices(smtp_settings):
    customer = CustomerFactory()
    [held, owed] = customer_reminders(customer, 2)
    quiet = InvoiceFactory(
        customer=customer, number="QUIET-1", due_date=timezone.localdate() - timedelta(days=4)
    )
    hold(held.invoice_id, 10)
    hold(quiet.pk, 10)
    assert reminders_send().sent == 1
    statement = message_of(owed)
    held.refresh_from_db()
    assert (held.cancel_reason, held.delivery_id) == ("held", statement.pk)
    assert held.invoice.number not in statement.text_body
    assert "QUIET-1" not in statement.text_body
    assert owed.invoice.number in statement.text_body


def test_a_hold_that_ended_yesterday_keeps_nothing_back(smtp_settings):
    [reminder] = pending_reminders(1)
    hold(reminder.invoice_id, -1)
    assert reminders_send().sent == 1
    reminder.refresh_from_db()
    assert reminder.cancel_reason == ""
    assert list(smtp_settings.message_ids()) == [mid(reminder)]
