"""Reminders (docs/SPEC.md §2, §10): one notification per invoice and threshold, and the messages that
carry them to the customer.

A reminder is the dunning fact; a message is what goes out. A sender groups a customer's due reminders into
one message (or one per reminder, ``REMINDER_GROUPING=invoice``) when it claims them, so the overdue
check's set-based insert writes only reminders.
"""

from __future__ import annotations

import base64
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from common.display import due_phrase, threshold_phrase
from invoicing.models import SHIPPED_LANGUAGE, Customer, Invoice, default_language, language_choices


class MessageState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    BOUNCED = "bounced", "Bounced"
    COMPLAINED = "complained", "Complained"


# States a sender still has work in: the outbox index holds only these messages.
OUTBOX_STATES = (MessageState.PENDING, MessageState.SENDING)


class Message(models.Model):
    """What goes out (SPEC §10): one email to one customer carrying one or more reminders. Delivery state
    lives here; a message is formed when a sender claims its customer's due reminders."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="messages")
    recipient = models.CharField(
        max_length=254, blank=True, help_text="The customer's address when the message was built."
    )
    state = models.CharField(max_length=10, choices=MessageState.choices, db_default=MessageState.PENDING)
    attempts = models.PositiveSmallIntegerField(
        db_default=0, help_text="How many times it was offered to the mail server."
    )
    last_error = models.TextField(db_default="", blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Empty: as soon as possible.")
    leased_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(
        max_length=32, db_default="", blank=True, help_text="The claim of the sender holding it."
    )
    last_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When a sender last claimed it; the messages of one chunk share it."
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(
        max_length=200, db_default="", blank=True, help_text="The Message-ID header, kept across retries."
    )
    subject = models.TextField(db_default="", blank=True)
    text_body = models.TextField(db_default="", blank=True)
    html_body = models.TextField(db_default="", blank=True)
    refused_copies = models.TextField(
        db_default="", blank=True, help_text="Blind copies the mail server refused, with its reply."
    )
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    # What a provider (django-anymail, SPEC §14) reports back; plain SMTP reports nothing.
    provider_message_id = models.CharField(
        max_length=200, db_default="", blank=True, help_text="The provider's id of the message."
    )
    delivered_at = models.DateTimeField(
        null=True, blank=True, help_text="When the provider reported it delivered to the customer's server."
    )
    bounced_at = models.DateTimeField(
        null=True, blank=True, help_text="When the provider reported a bounce or complaint."
    )
    bounce_reason = models.TextField(
        db_default="", blank=True, help_text="The provider's description of the bounce or complaint."
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=MessageState.values), name="message_state_valid"),
            models.CheckConstraint(
                condition=Q(state="sending") | Q(leased_until__isnull=True), name="message_lease_only_sending"
            ),
        ]
        indexes = [
            # The senders' queue: only messages still to send, so it stays small however long the history.
            models.Index(fields=["id"], condition=Q(state__in=OUTBOX_STATES), name="message_outbox"),
            models.Index(
                fields=["last_attempt_at"],
                condition=Q(last_attempt_at__isnull=False),
                name="message_last_attempt",
            ),
            # Equality and prefixes (a Message-ID searched by its start) on PostgreSQL too.
            models.Index(
                fields=["message_id"], name="message_message_id_idx", opclasses=["varchar_pattern_ops"]
            ),
            # A provider's event finds its message by the provider's id.
            models.Index(
                fields=["provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="message_provider_id_idx",
            ),
            # The desk's counts by state, and its reminders delivered per day (the first message sent
            # in a window, by an index-only scan): read from these, not from a million messages.
            models.Index(fields=["state"], name="message_state_idx"),
            models.Index(
                fields=["sent_at", "id"], condition=Q(sent_at__isnull=False), name="message_sent_at"
            ),
        ]

    def __str__(self) -> str:
        return f"Message {self.pk} to {self.recipient or self.customer_id}"


class Notification(models.Model):
    invoice = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        related_name="notifications",
        # The unique key (invoice, threshold_days) starts with this column and serves its lookups.
        db_index=False,
    )
    threshold_days = models.IntegerField(
        help_text="The reminder's identity: the threshold in days overdue it was created for "
        "(negative: before the due date)."
    )
    level = models.PositiveSmallIntegerField(
        help_text="The position the threshold had in the list when the reminder was created (1 = first)."
    )
    days_overdue = models.IntegerField(help_text="Negative: a courtesy reminder before the due date.")
    recipient = models.EmailField(help_text="The customer's email when the reminder was created.")
    message = models.TextField()
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    run_id = models.BigIntegerField(help_text="The id of the run of the overdue check that created it.")

    delivery = models.ForeignKey(
        Message,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reminders",
        help_text="The message that carries it; empty until a sender takes it.",
    )
    cancel_reason = models.CharField(
        max_length=20, db_default="", blank=True, help_text="Why it was left out of its message."
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
                condition=Q(days_overdue__gte=models.F("threshold_days")),
                name="notification_days_reach_threshold",
            ),
        ]
        indexes = [
            # Reminders no message carries yet: what a sender groups; small however long the history.
            models.Index(
                fields=["id"],
                condition=Q(delivery__isnull=True, cancel_reason=""),
                name="notification_ungrouped",
            ),
            models.Index(fields=["run_id"], name="notification_run_idx"),
            # The desk's reminders created per day, once grouped into a message (the ungrouped ones are
            # read by notification_ungrouped): the overdue check's inserts never write it.
            models.Index(
                fields=["created_at"],
                condition=Q(cancel_reason="", delivery__isnull=False),
                name="notification_created_at",
            ),
        ]

    def __str__(self) -> str:
        days = self.threshold_days
        when = due_phrase(days) if days > 0 else threshold_phrase(days)
        return f"Reminder level {self.level} ({when}) for invoice {self.invoice.number}"

    @property
    def state(self) -> str:
        """The reminder's delivery as staff read it: cancelled with a reason, or its message's state."""
        if self.cancel_reason:
            return MessageState.CANCELLED
        return self.delivery.state if self.delivery is not None else MessageState.PENDING


class ReminderTemplate(models.Model):
    """The email of one reminder level in one language (SPEC §10, §13); the highest level's template
    serves every level above, and a language without templates is written in the default language's."""

    level = models.PositiveSmallIntegerField(
        help_text="The reminder level this template is for (1 = first reminder)."
    )
    language = models.CharField(
        max_length=10,
        choices=language_choices,
        default=default_language,
        db_default=SHIPPED_LANGUAGE,
        help_text="The customers' language it is for; dates and amounts are written for it.",
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
        ordering = ["language", "level"]
        constraints = [
            models.CheckConstraint(condition=Q(level__gte=1), name="reminder_template_level_positive"),
            models.UniqueConstraint(fields=["level", "language"], name="reminder_template_once_per_language"),
        ]

    def __str__(self) -> str:
        return f"Level {self.level} ({self.language}): {self.name}"


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


class EventType(models.TextChoices):
    """What webhooks tell (SPEC §14; payloads in docs/webhooks.md)."""

    RUN_FINISHED = "run.finished", "run.finished: a run of the overdue check ended"
    RUN_FAILED = "run.failed", "run.failed: a run of the overdue check failed"
    MESSAGE_FAILED = "message.failed", "message.failed: a message could not be delivered, for good"
    MESSAGE_BOUNCED = "message.bounced", "message.bounced: the provider reported a bounce"
    REMINDER_FINAL = "reminder.final", "reminder.final: an invoice reached its last threshold"


def new_webhook_secret() -> str:
    """A signing secret in the Standard Webhooks form: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(models.Model):
    """A URL that receives the events it subscribes to, signed with its own secret (SPEC §14)."""

    url = models.URLField(
        max_length=2000, help_text="http:// or https://; private and loopback addresses are refused."
    )
    description = models.CharField(max_length=200, blank=True, help_text="Whose receiver it is, for staff.")
    secret = models.CharField(
        max_length=100, default=new_webhook_secret, editable=False, help_text="Verifies the signatures."
    )
    event_types = models.JSONField(
        default=list, blank=True, help_text="The events it receives; none chosen means all of them."
    )
    is_active = models.BooleanField(
        default=True, help_text="Off: no event is queued for it and nothing queued is sent."
    )
    consecutive_failures = models.PositiveIntegerField(
        db_default=0, editable=False, help_text="Failed attempts since its last delivered event."
    )
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.TextField(db_default="", blank=True, editable=False)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(is_active=False) | Q(disabled_at__isnull=True),
                name="webhook_endpoint_disabled_is_inactive",
            )
        ]

    def __str__(self) -> str:
        return self.url

    def clean(self) -> None:
        from reminders.webhook_http import DestinationRefused, checked_addresses

        unknown = [kind for kind in self.event_types or [] if kind not in EventType.values]
        if unknown or not isinstance(self.event_types, list):
            allowed = ", ".join(EventType.values)
            raise ValidationError({"event_types": f"event_types {unknown!r}: allowed are {allowed}."})
        if self.url:
            try:
                checked_addresses(self.url)
            except DestinationRefused as exc:
                raise ValidationError({"url": str(exc)}) from exc

    def receives(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class WebhookState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


WEBHOOK_OUTBOX_STATES = (WebhookState.PENDING, WebhookState.SENDING)


class WebhookDelivery(models.Model):
    """One event on its way to one endpoint. Every delivery of an event carries the event's one
    ``event_id`` (the ``webhook-id`` header), the same on every attempt, so a receiver can ignore repeats."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=64, help_text="The webhook-id header: one per event.")
    event_type = models.CharField(max_length=40, choices=EventType.choices)
    payload = models.JSONField(help_text="The body sent: type, timestamp and data.")
    state = models.CharField(max_length=10, choices=WebhookState.choices, db_default=WebhookState.PENDING)
    attempts = models.PositiveSmallIntegerField(db_default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Empty: as soon as possible.")
    leased_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, db_default="", blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The HTTP status of the last answer."
    )
    last_error = models.TextField(db_default="", blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event_id", "endpoint"], name="webhook_delivery_once_per_endpoint"
            ),
            models.CheckConstraint(
                condition=Q(state__in=WebhookState.values), name="webhook_delivery_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(state="sending") | Q(leased_until__isnull=True),
                name="webhook_delivery_lease_only_sending",
            ),
        ]
        indexes = [
            # The senders' queue: only deliveries still to make.
            models.Index(
                fields=["id"], condition=Q(state__in=WEBHOOK_OUTBOX_STATES), name="webhook_delivery_outbox"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} to {self.endpoint_id}"
