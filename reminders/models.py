"""Reminders (docs/SPEC.md §2, §10): one notification per invoice and threshold, and its delivery by email.

A notification is also its own outbox entry: its delivery state lives on the same row, and every delivery
column has a database default, so the overdue check's set-based insert creates both with one statement.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from invoicing.models import Invoice


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# States a sender still has work in: the outbox index holds only these rows.
OUTBOX_STATES = (DeliveryState.PENDING, DeliveryState.SENDING)


class Notification(models.Model):
    invoice = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        related_name="notifications",
        # The unique key (invoice, threshold_days) starts with this column and serves its lookups.
        db_index=False,
    )
    threshold_days = models.PositiveIntegerField(
        help_text="The reminder's identity: the threshold in days overdue it was created for."
    )
    level = models.PositiveSmallIntegerField(
        help_text="The position the threshold had in the list when the reminder was created (1 = first)."
    )
    days_overdue = models.PositiveIntegerField()
    recipient = models.EmailField(help_text="The customer's email when the reminder was created.")
    message = models.TextField()
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    run_id = models.BigIntegerField(help_text="The id of the run of the overdue check that created it.")

    delivery_state = models.CharField(
        max_length=9, choices=DeliveryState.choices, db_default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(db_default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Empty: as soon as possible.")
    leased_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(db_default="", blank=True)
    cancel_reason = models.CharField(max_length=20, db_default="", blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=200, db_default="", blank=True)
    sent_subject = models.TextField(db_default="", blank=True)
    sent_body = models.TextField(db_default="", blank=True)
    sent_html = models.TextField(db_default="", blank=True)
    last_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When a sender last claimed it; the entries of one chunk share it."
    )

    class Meta:
        # The admin's word for it, as everywhere else in the product.
        verbose_name = "reminder"
        verbose_name_plural = "reminders"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "threshold_days"], name="notification_once_per_threshold"
            ),
            models.CheckConstraint(condition=Q(level__gte=1), name="notification_level_positive"),
            models.CheckConstraint(
                condition=Q(threshold_days__gte=1), name="notification_threshold_positive"
            ),
            models.CheckConstraint(
                condition=Q(days_overdue__gte=models.F("threshold_days")),
                name="notification_days_reach_threshold",
            ),
            models.CheckConstraint(
                condition=Q(delivery_state__in=DeliveryState.values), name="notification_delivery_state_valid"
            ),
        ]
        indexes = [
            # The senders' queue: only rows still to send, so it stays small however long the history.
            models.Index(
                fields=["id"], condition=Q(delivery_state__in=OUTBOX_STATES), name="notification_outbox"
            ),
            models.Index(fields=["run_id"], name="notification_run_idx"),
            # The delivery health looks up the newest chunk; a new reminder (never claimed) is not in it.
            models.Index(
                fields=["last_attempt_at"],
                condition=Q(last_attempt_at__isnull=False),
                name="notification_last_attempt",
            ),
        ]

    def __str__(self) -> str:
        days = f"{self.threshold_days} day{'' if self.threshold_days == 1 else 's'}"
        return f"Reminder level {self.level} ({days} overdue) for invoice {self.invoice.number}"


class ReminderTemplate(models.Model):
    """The email of one reminder level (SPEC §10); the highest level's template serves every level above."""

    level = models.PositiveSmallIntegerField(
        unique=True, help_text="The reminder level this template is for (1 = first reminder)."
    )
    name = models.CharField(max_length=100, help_text="For staff, e.g. Friendly reminder.")
    subject = models.CharField(
        max_length=255, help_text="Django template language; rendered on one line, without HTML escaping."
    )
    text_body = models.TextField(help_text="The plain-text email, in the Django template language.")
    html_body = models.TextField(
        blank=True, db_default="", help_text="Optional HTML alternative; values are HTML-escaped."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["level"]
        constraints = [
            models.CheckConstraint(condition=Q(level__gte=1), name="reminder_template_level_positive")
        ]

    def __str__(self) -> str:
        return f"Level {self.level}: {self.name}"


class OutboxSwitch(models.Model):
    """Whether reminders may be sent (SPEC §10): one row at most, id 1; no row is "sending on". Staff
    pause the outbox in the admin, e.g. before going live, to look at what the first run would send;
    every sender stops claiming while it is paused."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    paused = models.BooleanField(default=False)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    paused_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True, help_text="Why sending is paused, for colleagues.")

    class Meta:
        verbose_name = verbose_name_plural = "outbox switch"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="outbox_switch_single_row")]

    def __str__(self) -> str:
        return "Sending paused" if self.paused else "Sending on"
