"""An independent statement of docs/SPEC.md §3, in plain Python, to check the check against."""

from __future__ import annotations

from datetime import date

from django.db.models import Max

from invoicing.models import Invoice
from reminders.models import Notification
from scheduler.config import parse_overdue_config

DEFAULT_RAW = {
    "OVERDUE_INVOICE_SCHEDULE_TYPE": "cron",
    "OVERDUE_INVOICE_SCHEDULE_VALUE": "0 0 * * *",
    "OVERDUE_INVOICE_BATCH_SIZE": "100",
    "OVERDUE_INVOICE_TIMEZONE": "UTC",
    "OVERDUE_INVOICE_REMINDER_DAYS": "1",
}


def make_config(**variables: str):
    """A parsed configuration; keyword names drop the OVERDUE_INVOICE_ prefix (``REMINDER_DAYS="1,7"``)."""
    raw = {**DEFAULT_RAW, **{f"OVERDUE_INVOICE_{name}": value for name, value in variables.items()}}
    return parse_overdue_config(raw)


def is_overdue(invoice: Invoice, as_of: date) -> bool:
    return (
        invoice.status == "sent"
        and invoice.total - invoice.amount_paid > 0
        and invoice.due_date < as_of
        and not invoice.customer.reminders_paused
    )


def owed(as_of: date, thresholds: tuple[int, ...]) -> dict[int, tuple[int, int]]:
    """invoice id -> (level, days overdue) for every invoice a run on ``as_of`` must notify now."""
    top = dict(Notification.objects.values_list("invoice_id").annotate(top=Max("threshold_days")))
    result = {}
    for invoice in Invoice.objects.select_related("customer"):
        if not is_overdue(invoice, as_of):
            continue
        days = (as_of - invoice.due_date).days
        level = sum(1 for threshold in thresholds if threshold <= days)
        if level and (invoice.pk not in top or top[invoice.pk] < thresholds[level - 1]):
            result[invoice.pk] = (level, days)
    return result


def examined(as_of: date, thresholds: tuple[int, ...]) -> set[int]:
    """Overdue invoices that reached the first level: what a run counts as processed."""
    return {
        invoice.pk
        for invoice in Invoice.objects.select_related("customer")
        if is_overdue(invoice, as_of) and (as_of - invoice.due_date).days >= thresholds[0]
    }


def notifications_of(execution_id: int) -> dict[int, tuple[int, int]]:
    rows = Notification.objects.filter(run_id=execution_id)
    return {
        invoice_id: (level, days)
        for invoice_id, level, days in rows.values_list("invoice_id", "level", "days_overdue")
    }
