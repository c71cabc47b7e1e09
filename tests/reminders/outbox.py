"""Reminders waiting in the outbox, made for the delivery tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.utils import timezone

from reminders.models import Notification
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.reminders.factories import NotificationFactory


def pending_reminders(count: int, *, today: date | None = None, **customer: object) -> list[Notification]:
    """``count`` overdue invoices (due 10 days before ``today``), each with one pending reminder."""
    today = today or timezone.localdate()
    reminders = []
    for _ in range(count):
        invoice = InvoiceFactory(customer=CustomerFactory(**customer), due_date=today - timedelta(days=10))
        reminders.append(NotificationFactory(invoice=invoice, days_overdue=10, run_id=0))
    return reminders


def states(reminders: list[Notification]) -> dict[int, str]:
    ids = [reminder.pk for reminder in reminders]
    return dict(Notification.objects.filter(pk__in=ids).values_list("pk", "delivery_state"))


def make_due(*, at: datetime | None = None) -> int:
    """Move every waiting retry to now: the clock moved past its next attempt."""
    return Notification.objects.filter(next_attempt_at__isnull=False).update(
        next_attempt_at=at or timezone.now() - timedelta(seconds=1)
    )
