"""The reminder rule in one owner: which reminders a batch of overdue invoices is owed (docs/SPEC.md §3).

The real run, the dry run and the invoice-by-invoice retry all ask ``ReminderPlan``; only how the rows
are read differs (the prepared statements of ``reminders.fastpath`` on PostgreSQL, the ORM elsewhere).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import connections
from django.db.models import Count, F, IntegerField, Max, Min, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import TruncDate
from django.utils import timezone

from invoicing.models import Invoice
from invoicing.selectors import customers_matching, invoices_by_number, invoices_matching
from reminders.fastpath import BATCH_COUNTS, PreparedStatements
from reminders.models import Message, Notification, OutboxSwitch
from reminders.rules import Escalation, days_overdue, owed_threshold, reminder_message


class OverdueRow(NamedTuple):
    """One overdue invoice as the batch read it, with the highest threshold already reminded."""

    id: int
    number: str
    due_date: date
    currency: str
    balance_due: Decimal
    customer_name: str
    customer_email: str
    top_threshold: int | None
    # The days overdue of that reminder, read only when reminders go in sequence (None otherwise).
    top_days: int | None


class OwedReminder(NamedTuple):
    """A notification to insert: the row's columns, not a model object (too slow at 100,000s)."""

    invoice_id: int
    threshold_days: int
    level: int
    days_overdue: int
    recipient: str
    message: str


@dataclass
class Batch:
    """The invoices a batch examined and the reminders they are owed."""

    rows: list[OverdueRow] = field(default_factory=list)
    owed: list[OwedReminder] = field(default_factory=list)

    @property
    def last_id(self) -> int | None:
        return self.rows[-1].id if self.rows else None

    @property
    def already_notified(self) -> int:
        return len(self.rows) - len(self.owed)


class BatchReminded(NamedTuple):
    """What one statement did of a batch (``ReminderPlan.remind_batch``)."""

    last_id: int | None
    examined: int
    owed: int
    created: int
    # The invoices reminded at the highest threshold (their reminders are final).
    finals: list[int]


def overdue_reminder_rows(
    *, as_of: date, first_threshold: int, escalation: Escalation = Escalation.HIGHEST
) -> QuerySet[Invoice, dict[str, Any]]:
    """Invoices a reminder may go to that are at least ``first_threshold`` days overdue on ``as_of``
    (negative: before the due date), with what a reminder needs and the highest threshold already
    reminded (``top_threshold``, None when none); in sequence also the days overdue of that reminder."""
    top = (
        Notification.objects.filter(invoice=OuterRef("pk"))
        .order_by()
        .values("invoice")
        .annotate(top=Max("threshold_days"))
        .values("top")
    )
    top_days: Any = Value(None, output_field=IntegerField())
    if escalation == Escalation.IN_SEQUENCE:
        newest = Notification.objects.filter(invoice=OuterRef("pk")).order_by("-threshold_days")
        top_days = Subquery(newest.values("days_overdue")[:1])
    return (
        Invoice.objects.remindable(as_of=as_of, min_days=first_threshold)
        .annotate(top_threshold=Subquery(top), top_days=top_days)
        .annotate(customer_name=F("customer__name"), customer_email=F("customer__email"))
        .values(*OverdueRow._fields)
    )


def owed_reminder(
    row: OverdueRow, *, as_of: date, thresholds: tuple[int, ...], escalation: Escalation = Escalation.HIGHEST
) -> OwedReminder | None:
    """The reminder ``row`` is owed on ``as_of``, or None (``reminders.rules.owed_threshold``)."""
    days = days_overdue(due_date=row.due_date, as_of=as_of)
    owed = owed_threshold(
        days, thresholds, escalation=escalation, top_threshold=row.top_threshold, top_days=row.top_days
    )
    if owed is None:
        return None
    threshold, level = owed
    message = reminder_message(
        customer=row.customer_name,
        number=row.number,
        days=days,
        currency=row.currency,
        balance=row.balance_due,
    )
    return OwedReminder(row.id, threshold, level, days, row.customer_email, message)


class ReminderPlan:
    """Batches of owed reminders for one run: ``as_of``, the thresholds and the batch size fixed."""

    def __init__(
        self,
        *,
        as_of: date,
        thresholds: tuple[int, ...],
        size: int,
        escalation: Escalation = Escalation.HIGHEST,
        using: str = "default",
    ) -> None:
        self.as_of, self.thresholds, self.size, self.using = as_of, thresholds, size, using
        self.escalation = escalation
        self.rows = overdue_reminder_rows(
            as_of=as_of, first_threshold=thresholds[0], escalation=escalation
        ).using(using)
        self.prepared = (
            PreparedStatements(
                self.rows, columns=OverdueRow._fields, as_of=as_of, min_days=thresholds[0], using=using
            )
            if connections[using].vendor == "postgresql"
            else None
        )

    @property
    def reminds_in_one_statement(self) -> bool:
        """Whether ``remind_batch`` can do a batch: on PostgreSQL, reminders at the highest threshold
        reached. In sequence, a batch is read, judged in Python and inserted (``batch_after``)."""
        return self.prepared is not None and self.escalation == Escalation.HIGHEST

    def remind_batch(
        self, after_id: int, *, run_id: int, then: Callable[[dict[str, str]], tuple[str, Sequence[Any]]]
    ) -> BatchReminded:
        """Insert, in one statement, the reminders the next batch after ``after_id`` is owed, and run
        the caller's statement with it: ``then`` is given SQL expressions of the batch's counts
        (``examined``, ``owed``, ``created``) and returns its SQL and parameters."""
        if not self.prepared or not self.reminds_in_one_statement:
            raise ValueError(
                f"escalation={self.escalation!r} on {connections[self.using].vendor}: "
                "a batch in one statement needs PostgreSQL and the escalation 'highest'."
            )
        return BatchReminded(
            *self.prepared.check_batch(
                after_id, size=self.size, thresholds=self.thresholds, run_id=run_id, then=then(BATCH_COUNTS)
            )
        )

    def candidates(self) -> int:
        """How many invoices the run will examine (for a progress display)."""
        return self.rows.count()

    def batch_after(self, after_id: int) -> Batch:
        """The next batch: at most ``size`` invoices with an id above ``after_id``, by id, and their dues."""
        if self.prepared:
            raw = self.prepared.rows_after(after_id, self.size)
        else:
            raw = self._values(self.rows.filter(id__gt=after_id).order_by("id"), limit=self.size)
        return self._batch(raw)

    def ids_after(self, after_id: int) -> list[int]:
        """The ids of the next batch alone: readable even when a row's other columns are not."""
        if self.prepared:
            return self.prepared.ids_after(after_id, self.size)
        return list(
            self.rows.filter(id__gt=after_id).order_by("id").values_list("id", flat=True)[: self.size]
        )

    def batch_of(self, invoice_id: int) -> Batch:
        """The one invoice ``invoice_id``, if it is still a candidate, and what it owes."""
        raw = (
            self.prepared.row(invoice_id) if self.prepared else self._values(self.rows.filter(id=invoice_id))
        )
        return self._batch(raw)

    @staticmethod
    def _values(rows: QuerySet[Invoice, dict[str, Any]], limit: int | None = None) -> list[tuple[Any, ...]]:
        return list(rows.values_list(*OverdueRow._fields)[:limit])

    def _batch(self, raw: list[tuple[Any, ...]]) -> Batch:
        rows = [OverdueRow(*values) for values in raw]
        owed = [
            reminder
            for row in rows
            if (
                reminder := owed_reminder(
                    row, as_of=self.as_of, thresholds=self.thresholds, escalation=self.escalation
                )
            )
        ]
        return Batch(rows=rows, owed=owed)


class DayActivity(NamedTuple):
    """Reminders created and reminders delivered (sent) on one day of the admin's zone."""

    day: date
    created: int
    delivered: int


def reminders_per_day(*, first_day: date, last_day: date) -> list[DayActivity]:
    """Every day from ``first_day`` to ``last_day`` (both included, in TIME_ZONE), zeros included: two
    grouped counts, one on ``created_at`` and one on the ``sent_at`` of the message that carried each."""
    zone = timezone.get_default_timezone()
    start = timezone.make_aware(datetime.combine(first_day, time.min), zone)
    end = timezone.make_aware(datetime.combine(last_day + timedelta(days=1), time.min), zone)
    # Grouped and ungrouped apart: each part has its own index (notification_created_at, _ungrouped).
    created = Counter[date]()
    for ungrouped in (False, True):
        reminders = Notification.objects.filter(delivery__isnull=ungrouped)
        created.update(_per_day(reminders, "created_at", start, end, zone))
    delivered = _per_day(_carried_by_messages_sent(start, end), "delivery__sent_at", start, end, zone)
    days = (first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1))
    return [DayActivity(day, created.get(day, 0), delivered.get(day, 0)) for day in days]


def _carried_by_messages_sent(start: datetime, end: datetime) -> QuerySet[Notification]:
    """Reminders that may be carried by a message sent from ``start`` to ``end``: those of the messages
    from the first one sent then on (by ``message_sent_at``). A message is formed just before it is first
    sent, so this is a range of the newest rows of the delivery index rather than every reminder."""
    # id + 0: the planner would walk the primary key from the oldest message for a plain min(id).
    sent = Message.objects.filter(sent_at__gte=start, sent_at__lt=end)
    first = sent.aggregate(first=Min(F("id") + 0))["first"]
    if first is None:
        return Notification.objects.none()
    return Notification.objects.filter(delivery_id__gte=first)


def _per_day(
    reminders: QuerySet[Notification], column: str, start: datetime, end: datetime, zone: tzinfo
) -> dict[date, int]:
    rows = (
        reminders.filter(**{f"{column}__gte": start, f"{column}__lt": end}, cancel_reason="")
        .annotate(day=TruncDate(column, tzinfo=zone))
        .order_by()
        .values("day")
        .annotate(count=Count("*"))
    )
    return {row["day"]: row["count"] for row in rows}


PREVIEW_INVOICES = 5


def preview_rows(*, customer_id: int, level: int, as_of: date) -> tuple[list[dict[str, Any]], int]:
    """The reminder rows a template preview renders for a customer: one per open invoice, oldest due
    first, at most ``PREVIEW_INVOICES`` of them, and how many open invoices there are in all. Each row is a
    reminder of ``level`` as if made on ``as_of``; its threshold is the invoice's newest reminder's, or its
    days overdue when it has none yet."""
    newest_threshold = (
        Notification.objects.filter(invoice=OuterRef("pk"))
        .order_by("-threshold_days")
        .values("threshold_days")
    )
    invoices = Invoice.objects.open().filter(customer_id=customer_id)
    shown = invoices.order_by("due_date", "id").annotate(
        customer_name=F("customer__name"),
        customer_email=F("customer__email"),
        reminded_threshold=Subquery(newest_threshold[:1]),
    )[:PREVIEW_INVOICES]
    rows = [_preview_row(invoice, level=level, as_of=as_of) for invoice in shown]
    return rows, invoices.count() if len(rows) == PREVIEW_INVOICES else len(rows)


def _preview_row(invoice: Any, *, level: int, as_of: date) -> dict[str, Any]:
    days = days_overdue(due_date=invoice.due_date, as_of=as_of)
    return {
        "customer_name": invoice.customer_name,
        "customer_email": invoice.customer_email,
        "number": invoice.number,
        "due_date": invoice.due_date,
        "currency": invoice.currency,
        "total": invoice.total,
        "balance_due": invoice.balance_due,
        "days_overdue": days,
        "level": level,
        "threshold_days": invoice.reminded_threshold or max(days, 1),
        "payment_url": invoice.payment_url,
    }


def sending_paused() -> OutboxSwitch | None:
    """The outbox switch when staff paused sending (who, when, why), None while senders may send."""
    return OutboxSwitch.objects.filter(paused=True).select_related("paused_by").first()


def reminders_matching(words: Sequence[str]) -> QuerySet[Notification, Any]:
    """The ids of the reminders of the invoices ``invoices_matching(words)`` finds (by number, or by the
    customer's name or email). The recipient is left out: it is the customer's address when the reminder
    was made, and an index on it would be one more for the overdue check to write at every insert."""
    return Notification.objects.filter(invoice__in=invoices_matching(words)).order_by().values("id")


def messages_matching(words: Sequence[str]) -> QuerySet[Message, Any]:
    """The ids of the messages whose Message-ID starts with the words (with or without its opening
    angle bracket; by ``message_message_id_idx``), whose provider's id is the words (by
    ``message_provider_id_idx``), whose customer holds each of ``words`` in its name or
    email, or that carry a reminder of an invoice whose number holds them; a union, each part by its own
    index."""
    bare = " ".join(words).lstrip("<")
    by_message_id = Message.objects.filter(message_id__startswith=f"<{bare}").order_by().values("id")
    by_provider_id = Message.objects.filter(provider_message_id=" ".join(words)).order_by().values("id")
    customers = customers_matching(words).order_by().values("id")
    by_customer = Message.objects.filter(customer__in=customers).order_by().values("id")
    carriers = Notification.objects.filter(invoice__in=invoices_by_number(words), delivery__isnull=False)
    by_invoice = Message.objects.filter(id__in=carriers.order_by().values("delivery_id"))
    return by_message_id.union(by_provider_id, by_customer, by_invoice.order_by().values("id"))
