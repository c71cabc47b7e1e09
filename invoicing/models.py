from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from common.dates import FIRST_DATE, LAST_DATE
from invoicing.links import PAYMENT_URL_LENGTH, validate_payment_url

REFERENCE_LENGTH = 100
# What the database gives a row written without a language (a raw upsert): LANGUAGE_CODE as shipped.
SHIPPED_LANGUAGE = "en"


def language_choices() -> list[tuple[str, str]]:
    """The languages reminders are written in (``LANGUAGES``), read when asked, not at import."""
    return list(settings.LANGUAGES)


def default_language() -> str:
    return str(settings.LANGUAGE_CODE)


def address_suppressed(*, email: str, suppressed_address: str) -> bool:
    """The one rule of a suppression (SPEC §14, P30), for a row already read: the address that bounced
    is still the customer's address. ``CustomerQuerySet.email_suppressed`` is its form as a query."""
    return bool(suppressed_address) and suppressed_address == email


class CustomerQuerySet(models.QuerySet["Customer"]):
    def email_suppressed(self) -> CustomerQuerySet:
        """Customers whose address bounced and was not changed since: no reminder reaches them."""
        return self.exclude(email_suppressed_address="").filter(email_suppressed_address=F("email"))


class Customer(models.Model):
    name = models.CharField(max_length=200)
    email = models.EmailField()
    reminders_paused = models.BooleanField(default=False, help_text="A customer on hold gets no reminders.")
    reference = models.CharField(
        max_length=REFERENCE_LENGTH,
        blank=True,
        default="",
        help_text="Its id in the books (the accounting system): imports and the API match customers on it. "
        "Blank for a customer created here.",
    )
    language = models.CharField(
        max_length=10,
        choices=language_choices,
        default=default_language,
        db_default=SHIPPED_LANGUAGE,
        help_text="The language of its reminders: their template, dates and amounts.",
    )
    # The suppression belongs to the address (SPEC §14, P30): it holds while ``email`` is still the
    # address that bounced, so changing the address lifts it, whichever way it is changed.
    email_suppressed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the provider reported the address as bad (a bounce or complaint).",
    )
    email_suppressed_reason = models.TextField(
        db_default="", blank=True, help_text="The provider's description of the bounce or complaint."
    )
    email_suppressed_address = models.CharField(
        max_length=254, db_default="", blank=True, help_text="The address that bounced."
    )

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["email"], name="customer_email_idx"),
            # Customers with a bad address (the dashboard, the admin filter): few, however many customers.
            models.Index(
                fields=["email_suppressed_at"],
                condition=Q(email_suppressed_at__isnull=False),
                name="customer_suppressed_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["reference"], condition=~Q(reference=""), name="customer_reference_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    @property
    def email_suppressed(self) -> bool:
        """Whether reminders to the customer's address are suppressed (it bounced, and is unchanged)."""
        return address_suppressed(email=self.email, suppressed_address=self.email_suppressed_address)


def due_before(as_of: date, *, min_days: int = 1) -> Q:
    """Due at least ``min_days`` before ``as_of``: the date condition of ``InvoiceQuerySet.overdue``.
    ``min_days`` of zero or less reaches invoices due on or after ``as_of`` (a courtesy reminder's)."""
    return Q(due_date__lte=as_of - timedelta(days=min_days))


def not_held(as_of: date) -> Q:
    """Not on hold on ``as_of``: a hold keeps reminders away through its date (docs/SPEC.md §13)."""
    return Q(reminders_held_until__isnull=True) | Q(reminders_held_until__lt=as_of)


def held_on(held_until: date | None, as_of: date) -> bool:
    """``not_held`` negated for a row already read (the sender's re-check, the admin)."""
    return held_until is not None and held_until >= as_of


class InvoiceQuerySet(models.QuerySet["Invoice"]):
    def open(self) -> InvoiceQuerySet:
        """Invoices that still owe money: sent, with a balance left (paused customers included)."""
        return self.filter(status=InvoiceStatus.SENT, balance_due__gt=0)

    def past_due(self, *, as_of: date, min_days: int = 1) -> InvoiceQuerySet:
        """Open invoices due before ``as_of`` (at least ``min_days`` before), whether or not their
        customer's reminders are paused: the desk's "overdue" figure, of which the paused part is shown
        apart. An invoice due on ``as_of`` itself is not past due."""
        return self.open().filter(due_before(as_of, min_days=min_days))

    def overdue(self, *, as_of: date, min_days: int = 1) -> InvoiceQuerySet:
        """Invoices overdue on ``as_of`` (docs/SPEC.md §3): sent, a balance left, due before ``as_of``,
        customer not paused. An invoice due on ``as_of`` itself is not overdue. ``min_days`` keeps only
        those at least that many days overdue."""
        return self.past_due(as_of=as_of, min_days=min_days).filter(customer__reminders_paused=False)

    def remindable(self, *, as_of: date, min_days: int) -> InvoiceQuerySet:
        """Invoices a reminder may go to on ``as_of`` once ``min_days`` overdue (docs/SPEC.md §3, §13): the
        overdue rule with ``min_days`` zero or negative allowed (before the due date), and not held."""
        return (
            self.open()
            .filter(due_before(as_of, min_days=min_days), customer__reminders_paused=False)
            .filter(not_held(as_of))
        )


def not_owed_reason(*, status: str, balance_due: Decimal, reminders_paused: bool) -> str:
    """Why an invoice is owed no reminder whatever its dates ("paid", "void", "not sent", "zero balance",
    "paused"), or "" when it is owed one once due: the per-row form of the conditions of
    ``InvoiceQuerySet.overdue`` other than the date, for rows already read (the sender's re-check, the
    admin's column). ``tests/invoicing/test_models.py`` pins the two forms to each other."""
    if status != InvoiceStatus.SENT:
        reasons: dict[str, str] = {InvoiceStatus.PAID: "paid", InvoiceStatus.VOID: "void"}
        return reasons.get(status, "not sent")
    if balance_due <= 0:
        return "zero balance"
    if reminders_paused:
        return "paused"
    return ""


def days_overdue(*, due_date: date, as_of: date, reason: str) -> int | None:
    """Days past due on ``as_of`` of an invoice owed a reminder (``reason`` from ``not_owed_reason`` is
    empty): the rule of ``InvoiceQuerySet.overdue`` for a row already read; ``None`` when not overdue."""
    days = (as_of - due_date).days
    return days if not reason and days > 0 else None


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SENT = "sent", "Sent"
    PAID = "paid", "Paid"
    VOID = "void", "Void"


class HoldReason(models.TextChoices):
    DISPUTE = "dispute", "Dispute"
    PROMISE_TO_PAY = "promise_to_pay", "Promise to pay"
    OTHER = "other", "Other"


class Invoice(models.Model):
    Status = InvoiceStatus
    HoldReason = HoldReason

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=50, unique=True)
    issue_date = models.DateField()
    due_date = models.DateField()
    currency = models.CharField(max_length=3, help_text="ISO 4217 code, e.g. EUR.")
    total = models.DecimalField(max_digits=14, decimal_places=2)
    amount_paid = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0.00"))
    status = models.CharField(max_length=5, choices=Status.choices, default=Status.DRAFT)
    balance_due = models.GeneratedField(
        expression=F("total") - F("amount_paid"),
        output_field=models.DecimalField(max_digits=14, decimal_places=2),
        db_persist=True,
    )
    # docs/SPEC.md §13. Database defaults: the importer's upsert lists its columns and leaves these out.
    reminders_held_until = models.DateField(
        null=True, blank=True, help_text="No reminder for this invoice through this date."
    )
    hold_reason = models.CharField(
        max_length=14, choices=HoldReason.choices, blank=True, db_default="", default=""
    )
    hold_note = models.TextField(blank=True, db_default="", default="")
    payment_url = models.CharField(
        "pay link",
        max_length=PAYMENT_URL_LENGTH,
        blank=True,
        default="",
        db_default="",
        validators=[validate_payment_url],
        help_text="Where the customer pays it online, shown in its reminders: https://, or http:// on a "
        "loopback host.",
    )

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        ordering = ["-due_date", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="invoice_total_not_negative"),
            models.CheckConstraint(condition=Q(amount_paid__gte=0), name="invoice_amount_paid_not_negative"),
            models.CheckConstraint(
                condition=Q(amount_paid__lte=F("total")), name="invoice_amount_paid_not_above_total"
            ),
            models.CheckConstraint(
                condition=Q(due_date__gte=F("issue_date")), name="invoice_due_not_before_issue"
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="invoice_currency_iso_4217"
            ),
            models.CheckConstraint(
                condition=Q(status__in=InvoiceStatus.values),
                name="invoice_status_valid",
            ),
            # PostgreSQL also takes BC dates and 'infinity', which Python cannot load (docs/SPEC.md §2).
            models.CheckConstraint(
                condition=Q(issue_date__range=(FIRST_DATE, LAST_DATE)), name="invoice_issue_date_in_range"
            ),
            models.CheckConstraint(
                condition=Q(due_date__range=(FIRST_DATE, LAST_DATE)), name="invoice_due_date_in_range"
            ),
            # A hold has a date and a reason, or neither; its note goes with it.
            models.CheckConstraint(
                condition=Q(reminders_held_until__isnull=True, hold_reason="", hold_note="")
                | Q(reminders_held_until__range=(FIRST_DATE, LAST_DATE), hold_reason__in=HoldReason.values),
                name="invoice_hold_complete",
            ),
            models.CheckConstraint(
                condition=Q(payment_url="")
                | Q(payment_url__startswith="https://")
                | Q(payment_url__regex=r"^http://(localhost|127\.[0-9.]+|\[::1\])([:/?#]|$)"),
                name="invoice_payment_url_https",
            ),
        ]
        indexes = [
            # The overdue check walks open invoices by id (keyset batches); this index holds only
            # those, so a batch reads no paid or draft rows.
            models.Index(
                fields=["id"],
                condition=Q(status="sent", balance_due__gt=0),
                name="invoice_open_by_id",
            ),
            # The invoice lists are read in due date order (the overdue list oldest first, the others
            # newest first): a page of 100 walks this index instead of sorting every invoice.
            models.Index(fields=["due_date", "id"], name="invoice_due_date_idx"),
            # The lists' currency filter reads the currencies in use from it (invoice_currencies).
            models.Index(fields=["currency"], name="invoice_currency_idx"),
        ]

    def __str__(self) -> str:
        return self.number


class Payment(models.Model):
    """One payment recorded against an invoice; its ``reference`` (the books' or the bank's) makes
    recording it again a no-op."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="payments")
    reference = models.CharField(max_length=REFERENCE_LENGTH)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    paid_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-paid_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "reference"], name="payment_reference_unique_per_invoice"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.amount}"


class OpenBalance(models.Model):
    """The open invoices (``Invoice.objects.open()``) summed by what the aging sorts them by: currency,
    due date, hold and the customer's paused flag. On PostgreSQL, triggers (migration
    ``0011_open_balance``) keep it in the transaction of every write of an invoice and of every change of
    a customer's paused flag, so that the aging reads a few thousand rows instead of every open invoice;
    on other databases it stays empty and the aging reads the invoices. Never written by the application."""

    currency = models.CharField(max_length=3)
    due_date = models.DateField()
    reminders_held_until = models.DateField(null=True)
    paused = models.BooleanField()
    balance_due = models.DecimalField(max_digits=20, decimal_places=2)
    invoices = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.currency} due {self.due_date}: {self.balance_due} ({self.invoices} invoices)"
