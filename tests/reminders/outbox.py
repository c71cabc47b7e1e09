"""Reminders waiting in the outbox, made for the delivery tests, and what became of them."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.utils import timezone

from invoicing.models import Customer
from reminders.models import Message, MessageState, Notification
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.reminders.factories import NotificationFactory


def pending_reminders(count: int, *, today: date | None = None, **customer: object) -> list[Notification]:
    """``count`` overdue invoices (due 10 days before ``today``) of as many customers, each with one
    reminder no message carries yet."""
    today = today or timezone.localdate()
    reminders = []
    for _ in range(count):
        invoice = InvoiceFactory(customer=CustomerFactory(**customer), due_date=today - timedelta(days=10))
        reminders.append(NotificationFactory(invoice=invoice, days_overdue=10, run_id=0))
    return reminders


def customer_reminders(
    customer: Customer, count: int, *, today: date | None = None, level: int = 1
) -> list[Notification]:
    """``count`` overdue invoices of ``customer`` (due 10, 11, … days ago), each with one reminder."""
    today = today or timezone.localdate()
    reminders = []
    for n in range(count):
        invoice = InvoiceFactory(customer=customer, due_date=today - timedelta(days=10 + n))
        reminders.append(NotificationFactory(invoice=invoice, days_overdue=10 + n, level=level, run_id=0))
    return reminders


def message_of(reminder: Notification) -> Message:
    return Notification.objects.select_related("delivery").get(pk=reminder.pk).delivery


def mid(reminder: Notification) -> str:
    """The Message-ID of the message that carries ``reminder``."""
    return message_of(reminder).message_id


def states(reminders: list[Notification]) -> dict[int, str]:
    """Each reminder's delivery: its message's state, or cancelled, or pending while in no message."""
    found = Notification.objects.select_related("delivery").filter(pk__in=[r.pk for r in reminders])
    return {reminder.pk: reminder.state for reminder in found}


def make_due(*, at: datetime | None = None) -> int:
    """Move every waiting retry to now: the clock moved past its next attempt."""
    return Message.objects.filter(next_attempt_at__isnull=False, state=MessageState.PENDING).update(
        next_attempt_at=at or timezone.now() - timedelta(seconds=1)
    )


def unsent() -> int:
    """Reminders still to go: in no message yet, or in one that is pending (not cancelled, not sent)."""
    return (
        Notification.objects.filter(cancel_reason="")
        .exclude(delivery__state__in=(MessageState.SENT, MessageState.CANCELLED, MessageState.SENDING))
        .count()
    )


def sent_reminders() -> int:
    return Notification.objects.filter(delivery__state=MessageState.SENT).count()
