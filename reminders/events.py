"""Events for webhooks (SPEC §14): what each says, and queueing it for the endpoints that want it.

``emit`` queues an event: one delivery row per active endpoint subscribed to its type, all carrying the
event's one id (the ``webhook-id`` header, the same on every attempt). ``reminders.webhooks`` sends them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from common.configuration import invalid_value
from invoicing.models import Customer, Invoice
from reminders.models import EventType, Message, Notification, WebhookDelivery, WebhookEndpoint


def new_event_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def event_body(event_type: str, data: dict[str, Any], *, at: datetime | None = None) -> dict[str, Any]:
    """The JSON sent: the event's type, when it happened (ISO 8601, UTC) and what it is about."""
    moment = (at or timezone.now()).astimezone(UTC)
    return {"type": event_type, "timestamp": moment.isoformat().replace("+00:00", "Z"), "data": data}


def subscribed_endpoints(event_type: str) -> list[int]:
    """The active endpoints that receive ``event_type`` (few rows: filtered here, on every database)."""
    endpoints = WebhookEndpoint.objects.filter(is_active=True).only("id", "event_types")
    return [endpoint.pk for endpoint in endpoints if endpoint.receives(event_type)]


def emit(event_type: str, data: dict[str, Any], *, at: datetime | None = None) -> str | None:
    """Queue the event ``event_type`` with ``data`` for every endpoint that wants it; return its id
    (the ``webhook-id`` of every delivery), or None when no endpoint wants it."""
    if event_type not in EventType.values:
        raise ValueError(
            invalid_value("event_type", event_type, f"allowed are {', '.join(EventType.values)}")
        )
    endpoints = subscribed_endpoints(event_type)
    if not endpoints:
        return None
    event_id, body = new_event_id(), event_body(event_type, data, at=at)
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(endpoint_id=endpoint, event_id=event_id, event_type=event_type, payload=body)
        for endpoint in endpoints
    )
    return event_id


def message_event_emit(*, event_type: str, message_pk: int, reason: str) -> str | None:
    """``message.failed`` or ``message.bounced`` for one message: its customer, recipient and the
    invoices it carried, with ``reason`` (the last error, or the provider's bounce text)."""
    if not subscribed_endpoints(event_type):
        return None
    message = Message.objects.select_related("customer").get(pk=message_pk)
    invoices = (
        Notification.objects.filter(delivery_id=message_pk)
        .order_by("id")
        .values_list("invoice__number", flat=True)
    )
    data = {
        "message": {
            "id": message.pk,
            "state": message.state,
            "recipient": message.recipient,
            "attempts": message.attempts,
            "message_id": message.message_id,
            "reason": reason,
        },
        "customer": {
            "id": message.customer_id,
            "reference": message.customer.reference,
            "name": message.customer.name,
        },
        "invoices": list(dict.fromkeys(invoices)),
    }
    return emit(event_type, data)


# --- reminder.final: written by the overdue check's batch, in its transaction ---------------------------

_FINAL_DATA = """json_build_object(
    'reminder', json_build_object('id', n.id, 'level', n.level, 'threshold_days', n.threshold_days,
        'days_overdue', n.days_overdue, 'run_id', n.run_id),
    'invoice', json_build_object('id', i.id, 'number', i.number, 'due_date', i.due_date,
        'currency', i.currency, 'balance_due', i.balance_due::text),
    'customer', json_build_object('id', c.id, 'reference', c.reference, 'name', c.name))"""


def final_reminders_emit(
    *, run_id: int, threshold_days: int, invoice_ids: list[int], endpoints: list[int]
) -> int:
    """``reminder.final`` for the reminders at ``threshold_days`` (the highest) that run ``run_id`` just
    made for ``invoice_ids`` (those of the batch owed one; the rows it inserted are read back, so an
    invoice paid meanwhile gets no event), one event per reminder for each of ``endpoints``. On
    PostgreSQL one ``INSERT … SELECT``; returns how many deliveries were queued.

    Each reminder is looked up by its unique key, one index probe per invoice of the batch: the LATERAL
    ``LIMIT 1`` keeps the planner from scanning the run's reminders (``run_id + 0`` from choosing the
    run's index), which the statistics of a table that grows during the run would otherwise make it
    do, at a cost growing with every batch."""
    if not invoice_ids or not endpoints:
        return 0
    if connection.vendor != "postgresql":
        return _final_reminders_with_orm(run_id, threshold_days, invoice_ids, endpoints)
    now = timezone.now().astimezone(UTC).isoformat().replace("+00:00", "Z")
    sql = f"""
        WITH finals AS MATERIALIZED (
            SELECT 'msg_' || replace(gen_random_uuid()::text, '-', '') AS event_id,
                   json_build_object('type', %s, 'timestamp', %s, 'data', {_FINAL_DATA})::jsonb AS payload
            FROM unnest(%s::bigint[]) AS batch(invoice_id)
            CROSS JOIN LATERAL (
                SELECT * FROM {Notification._meta.db_table} reminder
                WHERE reminder.invoice_id = batch.invoice_id AND reminder.threshold_days = %s
                    AND reminder.run_id + 0 = %s
                LIMIT 1
            ) n
            JOIN {Invoice._meta.db_table} i ON i.id = n.invoice_id
            JOIN {Customer._meta.db_table} c ON c.id = i.customer_id
        )
        INSERT INTO {WebhookDelivery._meta.db_table} (endpoint_id, event_id, event_type, payload)
        SELECT e.id, f.event_id, %s, f.payload FROM finals f CROSS JOIN unnest(%s::bigint[]) AS e(id)
    """
    kind = EventType.REMINDER_FINAL.value
    with connection.cursor() as cursor:
        cursor.execute(sql, [kind, now, invoice_ids, threshold_days, run_id, kind, endpoints])
        return cursor.rowcount


def _final_reminders_with_orm(
    run_id: int, threshold_days: int, invoice_ids: list[int], endpoints: list[int]
) -> int:
    reminders = Notification.objects.filter(
        run_id=run_id, threshold_days=threshold_days, invoice_id__in=invoice_ids
    ).select_related("invoice__customer")
    rows = []
    for reminder in reminders:
        body = event_body(EventType.REMINDER_FINAL, final_reminder_data(reminder))
        event_id = new_event_id()
        rows += [
            WebhookDelivery(
                endpoint_id=endpoint, event_id=event_id, event_type=EventType.REMINDER_FINAL, payload=body
            )
            for endpoint in endpoints
        ]
    return len(WebhookDelivery.objects.bulk_create(rows))


def final_reminder_data(reminder: Notification) -> dict[str, Any]:
    """The data of ``reminder.final``, as ``_FINAL_DATA`` builds it in SQL (a test holds them equal)."""
    invoice, customer = reminder.invoice, reminder.invoice.customer
    return {
        "reminder": {
            "id": reminder.pk,
            "level": reminder.level,
            "threshold_days": reminder.threshold_days,
            "days_overdue": reminder.days_overdue,
            "run_id": reminder.run_id,
        },
        "invoice": {
            "id": invoice.pk,
            "number": invoice.number,
            "due_date": invoice.due_date.isoformat(),
            "currency": invoice.currency,
            "balance_due": str(invoice.balance_due),
        },
        "customer": {"id": customer.pk, "reference": customer.reference, "name": customer.name},
    }
