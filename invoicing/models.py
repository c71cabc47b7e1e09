from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import F, OuterRef, Q, Subquery


class Customer(models.Model):
    name = models.CharField(max_length=200)
    email = models.EmailField()
    reminders_paused = models.BooleanField(default=False, help_text="A customer on hold gets no reminders.")

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["email"], name="customer_email_idx")]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class InvoiceQuerySet(models.QuerySet["Invoice"]):
    def overdue(self, *, as_of: date, min_days: int = 1) -> InvoiceQuerySet:
        """Invoices overdue on ``as_of`` (SPEC §3): sent, a balance left, due before ``as_of``,
        customer not paused. An invoice due on ``as_of`` itself is not overdue. ``min_days`` keeps only
        those at least that many days overdue."""
        return self.filter(
            status=InvoiceStatus.SENT,
            balance_due__gt=0,
            due_date__lte=as_of - timedelta(days=min_days),
            customer__reminders_paused=False,
        )

    def reminder_batch(self, *, after_id: int, size: int) -> models.QuerySet[Invoice, dict[str, Any]]:
        """The next ``size`` invoices by id after ``after_id``, with what a reminder needs and the highest
        level already sent (``top_level``, None when none): one query."""
        top_level = Notification.objects.filter(invoice=OuterRef("pk")).order_by("-level").values("level")
        return (
            self.filter(id__gt=after_id)
            .order_by("id")
            .annotate(top_level=Subquery(top_level[:1]))
            .values(
                "id",
                "number",
                "due_date",
                "currency",
                "balance_due",
                "top_level",
                customer_name=F("customer__name"),
                customer_email=F("customer__email"),
            )[:size]
        )


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SENT = "sent", "Sent"
    PAID = "paid", "Paid"
    VOID = "void", "Void"


class Invoice(models.Model):
    Status = InvoiceStatus

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

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        ordering = ["-due_date", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="invoice_total_not_negative"),
            models.CheckConstraint(condition=Q(amount_paid__gte=0), name="invoice_amount_paid_not_negative"),
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
        ]
        indexes = [
            # The overdue check walks open invoices by id (keyset batches); this index holds only
            # those, so a batch reads no paid or draft rows.
            models.Index(
                fields=["id"],
                condition=Q(status="sent", balance_due__gt=0),
                name="invoice_open_by_id",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class Notification(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="notifications")
    level = models.PositiveSmallIntegerField()
    days_overdue = models.PositiveIntegerField()
    recipient = models.EmailField(help_text="The customer's email when the reminder was created.")
    message = models.TextField()
    created_at = models.DateTimeField(db_default=models.functions.Now(), editable=False)
    execution = models.ForeignKey(
        "scheduler.JobExecutionLog",
        on_delete=models.PROTECT,
        related_name="notifications",
        help_text="The run that created this reminder.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "level"], name="notification_once_per_level"),
            models.CheckConstraint(condition=Q(level__gte=1), name="notification_level_positive"),
            models.CheckConstraint(
                condition=Q(days_overdue__gte=1), name="notification_days_overdue_positive"
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="notification_created_idx")]

    def __str__(self) -> str:
        return f"{self.invoice_id} level {self.level}"
