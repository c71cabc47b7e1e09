"""Webhooks out (SPEC §14): the delivery of the events ``reminders.events`` queued.

A sender claims due deliveries as the outbox of messages does
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Min, Q, QuerySet
from django.utils import timezone
from standardwebhooks import Webhook

from reminders.models import (
    WebhookDelivery,
    WebhookEndpoint,
    WebhookState,
)
from reminders.outbox import MAX_JITTER, retry_delay
from reminders.webhook_http import DeliveryFailed, DestinationRefused, post

logger = logging.getLogger(__name__)

CHUNK = 20


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
        if not sender.deliver_chunk(chunk, token):
            lease, needed = sender.config.lease.total_seconds(), sender.config.seconds_per_delivery
            sender.report.errors.append(
                f"WEBHOOK_LEASE_SECONDS={lease:.0f} is shorter than one delivery may take ({needed:.0f} s, "
                "three times WEBHOOK_TIMEOUT_SECONDS): nothing can be sent."
            )
            break
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

    def deliver_chunk(self, chunk: list[_Claimed], token: str) -> bool:
        """Deliver a claimed chunk; False when the lease could not cover even its first delivery."""
        deadline = time.monotonic() + self.config.lease.total_seconds()
        disabled: set[int] = set()
        for position, claimed in enumerate(chunk):
            # No request is started that the lease might not cover: another sender would send it too.
            if time.monotonic() + self.config.seconds_per_delivery >= deadline:
                self._give_back(chunk[position:], token)
                return position > 0
            if claimed.endpoint_id in disabled:
                self._give_back([claimed], token)
                continue
            if self._deliver(claimed, token):
                disabled.add(claimed.endpoint_id)
        return True

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


def webhooks_waiting() -> bool:
    """Whether any delivery waits to be sent (the queue's partial index answers it)."""
    return WebhookDelivery.objects.filter(state=WebhookState.PENDING).exists()


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
    """Deliveries by state and the oldest pending one's creation (one query), and the disabled endpoints."""
    pending = Q(state=WebhookState.PENDING)
    found = WebhookDelivery.objects.aggregate(
        since=Min("created_at", filter=pending),
        **{state: Count("id", filter=Q(state=state)) for state in WebhookState.values},
    )
    disabled = WebhookEndpoint.objects.filter(disabled_at__isnull=False).order_by("disabled_at")
    return WebhookStatus(
        counts={state: found[state] for state in WebhookState.values},
        oldest_waiting_since=found["since"],
        disabled_endpoints=[
            DisabledEndpoint(endpoint.pk, endpoint.url, endpoint.disabled_at, endpoint.disabled_reason)
            for endpoint in disabled
            if endpoint.disabled_at is not None
        ],
    )
