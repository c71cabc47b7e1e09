"""What a provider reports back about a message (SPEC §14): bounces, complaints and deliveries.

django-anymail turns each provider's tracking webhook (``/anymail/<esp>/tracking/``, behind
``ANYMAIL_WEBHOOK_SECRET``) into one ``tracking`` signal; ``on_tracking_event`` (connected in
``RemindersConfig.ready``) hands each event to ``record_tracking_event``. A message is found by the
provider's id the sender kept on it, so an event about mail this product did not send changes nothing.
Recording is idempotent: a provider that posts an event twice leaves the same rows.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from invoicing.models import Customer
from reminders.events import message_event_emit
from reminders.models import EventType, Message, MessageState

logger = logging.getLogger(__name__)

# anymail's event types (anymail.signals.EventType) that mark the message and suppress its address.
BOUNCE_EVENTS = {"bounced": MessageState.BOUNCED, "rejected": MessageState.BOUNCED}
COMPLAINT_EVENTS = {"complained": MessageState.COMPLAINED}
DELIVERED_EVENT = "delivered"
# A message sent (or refused at sending) may be reported on; one in the outbox may not yet.
REPORTABLE_STATES = (MessageState.SENT, MessageState.FAILED, MessageState.BOUNCED, MessageState.COMPLAINED)
# The reason a reminder to a suppressed address is cancelled with instead of being sent.
SUPPRESSED_REASON = "address bounced"


def on_tracking_event(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    """anymail's ``tracking`` signal: one normalised event of a provider's webhook."""
    record_tracking_event(
        event_type=event.event_type,
        provider_message_id=event.message_id or "",
        description=_description(event, esp_name),
        at=event.timestamp or timezone.now(),
        keeps_address=_provider_keeps_address(event.esp_event),
    )


def record_tracking_event(
    *, event_type: str, provider_message_id: str, description: str, at: datetime, keeps_address: bool = False
) -> bool:
    """Record one provider event about a message; False when it is not one to record (another event
    type, or no message of ours has that provider id)."""
    if not provider_message_id:
        return False
    if event_type == DELIVERED_EVENT:
        return record_delivery(provider_message_id=provider_message_id, at=at)
    state = BOUNCE_EVENTS.get(event_type) or COMPLAINT_EVENTS.get(event_type)
    if state is None:
        return False
    message_pk = (
        Message.objects.filter(provider_message_id=provider_message_id).values_list("pk", flat=True).first()
    )
    if message_pk is None:
        logger.info("A %s event for provider message %s matches no message.", event_type, provider_message_id)
        return False
    return record_bounce(
        message_pk=message_pk, state=state, description=description, at=at, suppress=not keeps_address
    )


def record_bounce(
    *, message_pk: int, state: MessageState, description: str, at: datetime, suppress: bool = True
) -> bool:
    """The one place a bounce or complaint is recorded, whether the provider reported it by webhook or
    refused the address when the message was sent: the message becomes ``bounced`` or ``complained``
    with the provider's text, and the address it went to is suppressed for its customer (unless the
    provider said it keeps the address active, a soft bounce). False when the message is not one that
    can be reported on (still in the outbox)."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update()
            .filter(pk=message_pk, state__in=REPORTABLE_STATES)
            .values("customer_id", "recipient", "state")
            .first()
        )
        if message is None:
            return False
        Message.objects.filter(pk=message_pk).update(state=state, bounced_at=at, bounce_reason=description)
        if message["state"] != state:
            # Told once per message and state, however often the provider posts the same report.
            message_event_emit(
                event_type=EventType.MESSAGE_BOUNCED, message_pk=message_pk, reason=description
            )
        if suppress:
            suppress_address(
                customer_pk=message["customer_id"], address=message["recipient"], reason=description, at=at
            )
    return True


def suppress_address(*, customer_pk: int, address: str, reason: str, at: datetime) -> bool:
    """Suppress the customer's address when it is still ``address`` (compared without case: providers
    report addresses in lower case); a customer who has a new address since keeps it unsuppressed."""
    return bool(
        Customer.objects.filter(pk=customer_pk, email__iexact=address.strip())
        .exclude(email="")
        .update(email_suppressed_at=at, email_suppressed_reason=reason, email_suppressed_address=F("email"))
    )


def record_delivery(*, provider_message_id: str, at: datetime) -> bool:
    """The provider handed the message to the customer's mail server: ``delivered_at``, the first time."""
    return bool(
        Message.objects.filter(provider_message_id=provider_message_id, delivered_at__isnull=True).update(
            delivered_at=at
        )
    )


def _description(event: Any, esp_name: str) -> str:
    parts = [part for part in (event.description, event.mta_response) if part]
    text = " — ".join(dict.fromkeys(str(part).strip() for part in parts)) or event.event_type
    return f"{esp_name}: {text}"


def _provider_keeps_address(esp_event: Any) -> bool:
    """Postmark says whether a bounce made the address inactive (``Inactive``); a soft bounce (a full
    mailbox) leaves it active, and so is no reason to stop writing to it."""
    return isinstance(esp_event, dict) and esp_event.get("Inactive") is False
