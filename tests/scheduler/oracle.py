"""An independent statement of docs/SPEC.md §3, in plain Python, to check the check against."""

from __future__ import annotations

from datetime import date

from invoicing.models import Invoice
from reminders.models import Notification
from scheduler.config import parse_overdue_config

DEFAULT_RAW = {
    "OVERDUE_INVOICE_SCHEDULE_TYPE": "cron",
    "OVERDUE_INVOICE_SCHEDULE_VALUE": "0 0 * * *",
    "OVERDUE_INVOICE_BATCH_SIZE": "100",
    "OVERDUE_INVOICE_TIMEZONE": "UTC",
    "OVERDUE_INVOICE_REMINDER_DAYS": "1",
    "REMINDER_ESCALATION": "highest",
}


def make_config(*, escalation: str = "highest", **variables: str):
    """A parsed configuration; keyword names drop the OVERDUE_INVOICE_ prefix (``REMINDER_DAYS="1,7"``)."""
    raw = {**DEFAULT_RAW, **{f"OVERDUE_INVOICE_{name}": value for name, value in variables.items()}}
    return parse_overdue_config({**raw, "REMINDER_ESCALATION": escalation})


def is_remindable(invoice: Invoice, as_of: date) -> bool:
    """§3's overdue rule without its date (thresholds may come before the due date, §13), not held."""
    held = invoice.reminders_held_until is not None and invoice.reminders_held_until >= as_of
    return (
        invoice.status == "sent"
        and invoice.total - invoice.amount_paid > 0
        and not invoice.customer.reminders_paused
        and not held
    )


def owed(
    as_of: date, thresholds: tuple[int, ...], *, in_sequence: bool = False
) -> dict[int, tuple[int, int]]:
    """invoice id -> (level, days overdue) for every invoice a run on ``as_of`` must notify now."""
    newest = {}
    for invoice_id, threshold, days in Notification.objects.values_list(
        "invoice_id", "threshold_days", "days_overdue"
    ):
        if invoice_id not in newest or newest[invoice_id][0] < threshold:
            newest[invoice_id] = (threshold, days)
    result = {}
    for invoice in Invoice.objects.select_related("customer"):
        if not is_remindable(invoice, as_of):
            continue
        days = (as_of - invoice.due_date).days
        if in_sequence:
            level = sequence_level(days, thresholds, newest.get(invoice.pk))
        else:
            level = sum(1 for threshold in thresholds if threshold <= days)
            if level and invoice.pk in newest and newest[invoice.pk][0] >= thresholds[level - 1]:
                level = 0
        if level:
            result[invoice.pk] = (level, days)
    return result


def sequence_level(days: int, thresholds: tuple[int, ...], newest: tuple[int, int] | None) -> int:
    """In sequence: the first threshold first, then each next one no sooner than its gap after the last."""
    if newest is None:
        return 1 if days >= thresholds[0] else 0
    threshold, days_then = newest
    later = [position for position, t in enumerate(thresholds, 1) if t > threshold]
    if not later:
        return 0
    following = thresholds[later[0] - 1]
    return later[0] if days >= following and days - days_then >= following - threshold else 0


def examined(as_of: date, thresholds: tuple[int, ...]) -> set[int]:
    """Invoices reminders may go to that reached the first level: what a run counts as processed."""
    return {
        invoice.pk
        for invoice in Invoice.objects.select_related("customer")
        if is_remindable(invoice, as_of) and (as_of - invoice.due_date).days >= thresholds[0]
    }


def notifications_of(execution_id: int) -> dict[int, tuple[int, int]]:
    rows = Notification.objects.filter(run_id=execution_id)
    return {
        invoice_id: (level, days)
        for invoice_id, level, days in rows.values_list("invoice_id", "level", "days_overdue")
    }
