"""Writes on reminders that span many rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, transaction

from invoicing.models import Invoice
from reminders.fastpath import INSERTED_COUNT, NOTIFICATION_COLUMNS, SENT_COLUMNS
from reminders.models import Message, MessageState, Notification
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

    The overdue rule is checked again as the rows go in: an invoice paid, voided, paused or held (or whose
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
        .remindable(as_of=plan.as_of, min_days=plan.thresholds[0])
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
    """Delete every reminder and the messages that carried them (demo data reset: a message keeps its
    customer from being deleted); returns how many reminders were deleted."""
    with transaction.atomic(using=using):
        deleted, _ = Notification.objects.using(using).all().delete()
        Message.objects.using(using).all().delete()
    return deleted


# What staff may do to a message (docs/SPEC.md §10): send again what failed, was cancelled or bounced,
# and cancel what still waits or failed. A message a sender holds (`sending`) is left to it: changing it
# now could not stop an email already on its way.
RESENDABLE = (MessageState.FAILED, MessageState.CANCELLED, MessageState.BOUNCED)
CANCELLABLE = (MessageState.PENDING, MessageState.FAILED)
STAFF_CANCEL_REASON = "by staff"


def messages_resend(*, ids: Sequence[int]) -> int:
    """Put failed, cancelled or bounced messages back in the outbox with a fresh set of attempts, to the
    customer's address as it is then (the sender reads it when it builds the message), their reminders
    cancelled by staff included again; returns how many. The others are left as they are."""
    with transaction.atomic():
        chosen = list(
            Message.objects.select_for_update()
            .filter(pk__in=ids, state__in=RESENDABLE)
            .values_list("pk", flat=True)
        )
        Notification.objects.filter(delivery__in=chosen, cancel_reason=STAFF_CANCEL_REASON).update(
            cancel_reason=""
        )
        return Message.objects.filter(pk__in=chosen).update(
            state=MessageState.PENDING,
            attempts=0,
            next_attempt_at=None,
            leased_until=None,
            claim_token="",
            last_error="",
        )


def messages_cancel(*, ids: Sequence[int]) -> int:
    """Cancel pending or failed messages (nothing is sent for them), each reminder in them cancelled by
    staff; returns how many."""
    with transaction.atomic():
        chosen = list(
            Message.objects.select_for_update()
            .filter(pk__in=ids, state__in=CANCELLABLE)
            .values_list("pk", flat=True)
        )
        Notification.objects.filter(delivery__in=chosen, cancel_reason="").update(
            cancel_reason=STAFF_CANCEL_REASON
        )
        return Message.objects.filter(pk__in=chosen).update(
            state=MessageState.CANCELLED, next_attempt_at=None, last_error="Cancelled by staff."
        )
