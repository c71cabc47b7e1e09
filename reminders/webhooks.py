"""Webhooks out (SPEC §14): events queued for the endpoints that want them, and their delivery.

``emit`` queues an event: one delivery row per active endpoint subscribed to its type, all carrying the
event's one id (the ``webhook-id`` header). A sender claims due deliveries as the outbox of messages does
(``SELECT … FOR UPDATE SKIP LOCKED``, a lease and a claim token, so several senders never hold the same
row and a dead sender's rows come back when its lease runs out), signs each with its endpoint's secret
per Standard Webhooks and POSTs it (``reminders.webhook_http``). A failed attempt is tried again after
``WEBHOOK_RETRY_BASE_SECONDS`` doubling, up to ``WEBHOOK_MAX_ATTEMPTS``; an endpoint that fails
``WEBHOOK_DISABLE_AFTER`` times in a row is disabled, and the operator sees it in the status and the
dashboard. Delivery is at least once: a sender that dies after the receiver answered sends it again.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Min, Q, QuerySet
from django.utils import timezone
from standardwebhooks import Webhook

from invoicing.models import Customer, Invoice
from reminders.models import (
    EventType,
    Message,
    Notification,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookState,
)
from reminders.outbox import MAX_JITTER, retry_delay
from reminders.webhook_http import DeliveryFailed, DestinationRefused, post

logger = logging.getLogger(__name__)

CHUNK = 20


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
        raise ValueError(f"event_type {event_type!r} is invalid: allowed are {', '.join(EventType.values)}.")
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
    PostgreSQL one ``INSERT … SELECT``; returns how many deliveries were queued."""
    if not invoice_ids or not endpoints:
        return 0
    if connection.vendor != "postgresql":
        return _final_reminders_with_orm(run_id, threshold_days, invoice_ids, endpoints)
    now = timezone.now().astimezone(UTC).isoformat().replace("+00:00", "Z")
    sql = f"""
        WITH finals AS MATERIALIZED (
            SELECT 'msg_' || replace(gen_random_uuid()::text, '-', '') AS event_id,
                   json_build_object('type', %s, 'timestamp', %s, 'data', {_FINAL_DATA})::jsonb AS payload
            FROM {Notification._meta.db_table} n
            JOIN {Invoice._meta.db_table} i ON i.id = n.invoice_id
            JOIN {Customer._meta.db_table} c ON c.id = i.customer_id
            WHERE n.run_id = %s AND n.threshold_days = %s AND n.invoice_id = ANY(%s)
        )
        INSERT INTO {WebhookDelivery._meta.db_table} (endpoint_id, event_id, event_type, payload)
        SELECT e.id, f.event_id, %s, f.payload FROM finals f CROSS JOIN unnest(%s::bigint[]) AS e(id)
    """
    kind = EventType.REMINDER_FINAL.value
    with connection.cursor() as cursor:
        cursor.execute(sql, [kind, now, run_id, threshold_days, invoice_ids, kind, endpoints])
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


# --- sending --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookConfig:
    max_attempts: int
    retry_base: timedelta
    timeout: float
    disable_after: int
    lease: timedelta
    chunk_size: int = CHUNK

    @classmethod
    def from_settings(cls, **overrides: Any) -> WebhookConfig:
        values = {
            "max_attempts": settings.WEBHOOK_MAX_ATTEMPTS,
            "retry_base": timedelta(seconds=settings.WEBHOOK_RETRY_BASE_SECONDS),
            "timeout": float(settings.WEBHOOK_TIMEOUT_SECONDS),
            "disable_after": settings.WEBHOOK_DISABLE_AFTER,
            "lease": timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS),
        }
        return cls(**{**values, **overrides})

    @property
    def seconds_per_delivery(self) -> float:
        """The longest one request can take: connecting, sending and waiting for the answer."""
        return 3 * self.timeout


@dataclass
class WebhookReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    lost: int = 0
    endpoints_disabled: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.delivered} delivered, {self.retried} to retry later, {self.failed} failed"
        if self.released:
            text += f", {self.released} given back unsent"
        if self.endpoints_disabled:
            text += f"; endpoints disabled: {', '.join(self.endpoints_disabled)}"
        return text


@dataclass(frozen=True)
class _Claimed:
    id: int
    endpoint_id: int
    url: str
    secret: str
    event_id: str
    payload: dict[str, Any]
    attempts: int


def due_deliveries(now: datetime) -> Q:
    """Deliveries a sender may take now: pending and due, or left ``sending`` by a sender whose lease
    ran out; their endpoint active."""
    pending = Q(state=WebhookState.PENDING) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    return (pending | Q(state=WebhookState.SENDING, leased_until__lt=now)) & Q(endpoint__is_active=True)


Poster = Callable[..., Any]


def webhooks_send(
    *,
    limit: int | None = None,
    config: WebhookConfig | None = None,
    clock: Callable[[], datetime] = timezone.now,
    rng: random.Random | None = None,
    poster: Poster = post,
) -> WebhookReport:
    """Deliver what is due, chunk by chunk, until nothing is or about ``limit`` deliveries were tried."""
    sender = _Sender(config or WebhookConfig.from_settings(), clock, rng or random.Random(), poster)
    tried = 0
    while limit is None or tried < limit:
        chunk, token = sender.claim(min(sender.config.chunk_size, (limit or 2**31) - tried))
        if not chunk:
            break
        tried += len(chunk)
        sender.deliver_chunk(chunk, token)
    return sender.report


class _Sender:
    def __init__(
        self, config: WebhookConfig, clock: Callable[[], datetime], rng: random.Random, poster: Poster
    ):
        self.config, self.clock, self.rng, self.poster = config, clock, rng, poster
        self.report = WebhookReport()

    def claim(self, size: int) -> tuple[list[_Claimed], str]:
        now, token = self.clock(), secrets.token_hex(16)
        with transaction.atomic():
            ids = list(
                WebhookDelivery.objects.filter(due_deliveries(now))
                .order_by("id")
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("id", flat=True)[:size]
            )
            WebhookDelivery.objects.filter(id__in=ids).update(
                state=WebhookState.SENDING,
                leased_until=now + self.config.lease,
                claim_token=token,
                last_attempt_at=now,
            )
        rows = (
            WebhookDelivery.objects.filter(claim_token=token, state=WebhookState.SENDING)
            .order_by("id")
            .values_list(
                "id", "endpoint_id", "endpoint__url", "endpoint__secret", "event_id", "payload", "attempts"
            )
        )
        return [_Claimed(*row) for row in rows], token

    def deliver_chunk(self, chunk: list[_Claimed], token: str) -> None:
        deadline = time.monotonic() + self.config.lease.total_seconds()
        disabled: set[int] = set()
        for position, claimed in enumerate(chunk):
            # No request is started that the lease might not cover: another sender would send it too.
            if time.monotonic() + self.config.seconds_per_delivery >= deadline:
                self._give_back(chunk[position:], token)
                return
            if claimed.endpoint_id in disabled:
                self._give_back([claimed], token)
                continue
            if self._deliver(claimed, token):
                disabled.add(claimed.endpoint_id)

    def _deliver(self, claimed: _Claimed, token: str) -> bool:
        """One attempt, recorded; True when it disabled the endpoint."""
        body = json.dumps(claimed.payload, separators=(",", ":"))
        sent_at = self.clock()
        headers = signed_headers(secret=claimed.secret, event_id=claimed.event_id, body=body, at=sent_at)
        try:
            answer = self.poster(
                claimed.url, body=body.encode(), headers=headers, timeout=self.config.timeout
            )
        except DestinationRefused as exc:
            return self._failed(claimed, token, str(exc), status=None, permanent=True)
        except DeliveryFailed as exc:
            return self._failed(claimed, token, str(exc), status=exc.status, permanent=False)
        self._delivered(claimed, token, answer.status)
        return False

    @staticmethod
    def _guarded(claimed: _Claimed, token: str) -> QuerySet[WebhookDelivery]:
        """The delivery, as long as this sender still holds it."""
        return WebhookDelivery.objects.filter(id=claimed.id, claim_token=token, state=WebhookState.SENDING)

    def _delivered(self, claimed: _Claimed, token: str, status: int) -> None:
        done = self._guarded(claimed, token).update(
            state=WebhookState.DELIVERED,
            attempts=claimed.attempts + 1,
            delivered_at=self.clock(),
            last_status=status,
            last_error="",
            leased_until=None,
            claim_token="",
        )
        if not done:
            self.report.lost += 1
            return
        self.report.delivered += 1
        WebhookEndpoint.objects.filter(pk=claimed.endpoint_id, consecutive_failures__gt=0).update(
            consecutive_failures=0
        )

    def _failed(
        self, claimed: _Claimed, token: str, error: str, *, status: int | None, permanent: bool
    ) -> bool:
        attempts = claimed.attempts + 1
        retry = not permanent and attempts < self.config.max_attempts
        if retry:
            delay = retry_delay(
                attempts=attempts, base=self.config.retry_base, jitter=self.rng.uniform(0, MAX_JITTER)
            )
            changes: dict[str, Any] = {"state": WebhookState.PENDING, "next_attempt_at": self.clock() + delay}
        else:
            changes = {"state": WebhookState.FAILED, "next_attempt_at": None}
            error = error if permanent else f"{error} (attempt {attempts} of {self.config.max_attempts})"
        done = self._guarded(claimed, token).update(
            **changes,
            attempts=attempts,
            last_status=status,
            last_error=error,
            leased_until=None,
            claim_token="",
        )
        if not done:
            self.report.lost += 1
            return False
        if retry:
            self.report.retried += 1
        else:
            self.report.failed += 1
            if len(self.report.errors) < 10:
                self.report.errors.append(f"delivery {claimed.id} to {claimed.url}: {error}")
        return self._count_failure(claimed, error)

    def _count_failure(self, claimed: _Claimed, error: str) -> bool:
        """One more failure in a row for the endpoint; disable it at ``disable_after``. True if disabled."""
        endpoint = WebhookEndpoint.objects.filter(pk=claimed.endpoint_id)
        endpoint.update(consecutive_failures=F("consecutive_failures") + 1)
        reason = (
            f"{self.config.disable_after} failed attempts in a row (WEBHOOK_DISABLE_AFTER); the last: {error}"
        )
        disabled = endpoint.filter(
            is_active=True, consecutive_failures__gte=self.config.disable_after
        ).update(is_active=False, disabled_at=self.clock(), disabled_reason=reason[:2000])
        if disabled:
            logger.warning("Webhook endpoint %s disabled: %s", claimed.url, reason)
            self.report.endpoints_disabled.append(claimed.url)
        return bool(disabled)

    def _give_back(self, rest: list[_Claimed], token: str) -> None:
        self.report.released += WebhookDelivery.objects.filter(
            id__in=[claimed.id for claimed in rest], claim_token=token, state=WebhookState.SENDING
        ).update(state=WebhookState.PENDING, leased_until=None, claim_token="")


def signed_headers(*, secret: str, event_id: str, body: str, at: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body`` sent at ``at``."""
    signature = Webhook(secret).sign(msg_id=event_id, timestamp=at.astimezone(UTC), data=body)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def endpoint_enable(*, endpoint: WebhookEndpoint) -> None:
    """Turn a disabled endpoint on again, its failures forgotten; what waits for it is sent again."""
    endpoint.is_active = True
    endpoint.disabled_at = None
    endpoint.disabled_reason = ""
    endpoint.consecutive_failures = 0


# --- how delivery stands --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DisabledEndpoint:
    id: int
    url: str
    disabled_at: datetime
    reason: str


@dataclass(frozen=True)
class WebhookStatus:
    counts: dict[str, int]
    oldest_waiting_since: datetime | None
    disabled_endpoints: list[DisabledEndpoint]

    @property
    def health(self) -> str:
        """``degraded`` while an endpoint is disabled: events for it are no longer sent."""
        return "degraded" if self.disabled_endpoints else "ok"


def webhook_status() -> WebhookStatus:
    found = dict(WebhookDelivery.objects.order_by().values_list("state").annotate(n=Count("id")))
    waiting = WebhookDelivery.objects.filter(state=WebhookState.PENDING).aggregate(since=Min("created_at"))
    disabled = WebhookEndpoint.objects.filter(disabled_at__isnull=False).order_by("disabled_at")
    return WebhookStatus(
        counts={state: found.get(state, 0) for state in WebhookState.values},
        oldest_waiting_since=waiting["since"],
        disabled_endpoints=[
            DisabledEndpoint(endpoint.pk, endpoint.url, endpoint.disabled_at, endpoint.disabled_reason)
            for endpoint in disabled
            if endpoint.disabled_at is not None
        ],
    )
