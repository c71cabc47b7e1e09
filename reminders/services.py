"""Writes on reminders that span many rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, transaction
from django.db.models import OuterRef, Subquery

from invoicing.models import Customer, Invoice
from reminders.fastpath import INSERTED_COUNT, NOTIFICATION_COLUMNS, SENT_COLUMNS
from reminders.models import DeliveryState, Notification
from reminders.rules import days_overdue
from reminders.selectors import OwedReminder, ReminderPlan


def reminders_insert(
    *,
    plan: ReminderPlan,
    owed: list[OwedReminder],
    run_id: int,
    then: Callable[[str], tuple[str, Sequence[Any]]] | None = None,
) -> int:
    """Insert ``owed`` in one statement and return how many rows were inserted.

    The overdue rule is checked again as the rows go in: an invoice paid, voided or paused (or whose
    due date moved) since the batch read it gets nothing. A reminder that breaks a constraint fails the
    whole statement (nothing is ignored): the caller decides what to retry.

    ``then`` lets the caller write its own rows in the same statement, so that they commit or fail with
    the reminders and cost no second round trip: it is given an SQL expression for the number inserted
    and returns its statement and parameters. On PostgreSQL it runs inside the insert's statement (a
    data-modifying CTE); elsewhere right after it, with the number as a literal.
    """
    if not owed:
        return 0
    if plan.prepared:
        columns = dict(zip(NOTIFICATION_COLUMNS, zip(*owed, strict=True), strict=True))
        sent = [list(columns[name]) for name in SENT_COLUMNS]
        return plan.prepared.insert(sent, run_id, then=then(INSERTED_COUNT) if then else None)
    created = _insert_with_orm(plan, owed, run_id)
    if then:
        with connections[plan.using].cursor() as cursor:
            cursor.execute(*then(str(created)))
    return created


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
        and days_overdue(due_date=still[reminder.invoice_id], as_of=plan.as_of) == reminder.days_overdue
    ]
    Notification.objects.using(plan.using).bulk_create(rows)
    return len(rows)


def reminders_delete_all(*, using: str = "default") -> int:
    """Delete every reminder (demo data reset); returns how many were deleted."""
    with transaction.atomic(using=using):
        deleted, _ = Notification.objects.using(using).all().delete()
    return deleted


# What staff may do to a delivery (docs/SPEC.md §10): send again what failed or was cancelled, and
# cancel what still waits or failed. An entry a sender holds (`sending`) is left to it: changing it now
# could not stop an email already on its way.
RESENDABLE = (DeliveryState.FAILED, DeliveryState.CANCELLED)
CANCELLABLE = (DeliveryState.PENDING, DeliveryState.FAILED)
STAFF_CANCEL_REASON = "by staff"


def deliveries_resend(*, ids: Sequence[int]) -> int:
    """Put failed or cancelled reminders back in the outbox with a fresh set of attempts, addressed to
    the customer's email as it is now (a refused address is what staff correct before resending);
    returns how many. The others (pending, sending, sent) are left as they are."""
    current_email = Customer.objects.filter(invoices=OuterRef("invoice_id")).values("email")[:1]
    return Notification.objects.filter(pk__in=ids, delivery_state__in=RESENDABLE).update(
        recipient=Subquery(current_email),
        delivery_state=DeliveryState.PENDING,
        attempts=0,
        next_attempt_at=None,
        leased_until=None,
        cancel_reason="",
    )


def deliveries_cancel(*, ids: Sequence[int]) -> int:
    """Cancel pending or failed reminders (nothing is sent for them); returns how many."""
    return Notification.objects.filter(pk__in=ids, delivery_state__in=CANCELLABLE).update(
        delivery_state=DeliveryState.CANCELLED, cancel_reason=STAFF_CANCEL_REASON, next_attempt_at=None
    )
