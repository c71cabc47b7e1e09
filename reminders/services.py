"""Writes on reminders that span many rows."""

from __future__ import annotations

from django.db import transaction

from invoicing.models import Invoice
from reminders.fastpath import NOTIFICATION_COLUMNS
from reminders.models import Notification
from reminders.selectors import OwedReminder, ReminderPlan


def reminders_insert(*, plan: ReminderPlan, owed: list[OwedReminder], run_id: int) -> int:
    """Insert ``owed`` in one statement and return how many rows were inserted.

    The overdue rule is checked again as the rows go in: an invoice paid, voided or paused (or whose
    due date moved) since the batch read it gets nothing. A reminder that breaks a constraint fails the
    whole statement (nothing is ignored): the caller decides what to retry.
    """
    if not owed:
        return 0
    if plan.prepared:
        return plan.prepared.insert([list(column) for column in zip(*owed, strict=True)], run_id)
    return _insert_with_orm(plan, owed, run_id)


def _insert_with_orm(plan: ReminderPlan, owed: list[OwedReminder], run_id: int) -> int:
    still = dict(
        Invoice.objects.using(plan.using)
        .overdue(as_of=plan.as_of)
        .filter(id__in=[reminder.invoice_id for reminder in owed])
        .values_list("id", "due_date")
    )
    rows = [
        Notification(run_id=run_id, **dict(zip(NOTIFICATION_COLUMNS, reminder, strict=True)))
        for reminder in owed
        if reminder.invoice_id in still
        and (plan.as_of - still[reminder.invoice_id]).days == reminder.days_overdue
    ]
    Notification.objects.using(plan.using).bulk_create(rows)
    return len(rows)


def reminders_delete_all(*, using: str = "default") -> int:
    """Delete every reminder (demo data reset); returns how many were deleted."""
    with transaction.atomic(using=using):
        deleted, _ = Notification.objects.using(using).all().delete()
    return deleted
