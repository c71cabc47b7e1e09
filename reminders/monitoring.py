"""How delivery stands (docs/SPEC.md §10 "Monitoring"): counts by state, and whether mail is flowing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from common.display import grouped
from reminders.models import Message, MessageState, Notification
from reminders.selectors import sending_paused

# A message due for an hour and still not sent means nobody is sending, or the mail server refuses.
PENDING_TOO_LONG = timedelta(hours=1)


@dataclass(frozen=True)
class DeliveryStatus:
    counts: dict[str, int] = field(default_factory=dict)
    oldest_waiting_since: datetime | None = None
    last_chunk_at: datetime | None = None
    last_chunk_failed: bool = False
    checked_at: datetime | None = None
    paused: bool = False

    @property
    def waiting_too_long(self) -> bool:
        # Staff paused sending on purpose (the outbox switch): waiting is then no fault of the mail.
        if self.paused or self.oldest_waiting_since is None or self.checked_at is None:
            return False
        return self.checked_at - self.oldest_waiting_since > PENDING_TOO_LONG

    @property
    def health(self) -> str:
        return "unavailable" if self.waiting_too_long or self.last_chunk_failed else "ok"


def delivery_counts(*, run_id: int | None = None) -> dict[str, int]:
    """Messages by state (every state present, 0 when none): all of them, or those carrying a reminder of
    one run (a statement carrying reminders of two runs counts for both)."""
    messages = (
        Message.objects.all()
        if run_id is None
        else Message.objects.filter(id__in=Notification.objects.filter(run_id=run_id).values("delivery_id"))
    )
    # count(*), not count(id): the whole table's counts are then read from message_state_idx alone.
    found = dict(messages.order_by().values_list("state").annotate(n=Count("*")))
    return {state: found.get(state, 0) for state in MessageState.values}


def unsent_reminders(*, run_id: int | None = None) -> int:
    """Reminders no message carries yet (waiting to be grouped by a sender), not cancelled."""
    reminders = Notification.objects.filter(delivery__isnull=True, cancel_reason="")
    return (reminders if run_id is None else reminders.filter(run_id=run_id)).count()


def failed_deliveries_of_run() -> Coalesce:
    """For ``annotate`` on runs: how many of the run's reminders are carried by a failed message (0 when
    none), in a subquery per run listed that reads that run's reminders by ``notification_run_idx``."""
    failed = (
        Notification.objects.filter(run_id=OuterRef("pk"), delivery__state=MessageState.FAILED)
        .order_by()
        .values("run_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(failed), 0)


def failed_deliveries_note(*, failed: int, created: int) -> str:
    """What is said beside a run's status when its reminders could not be delivered: ``all 1,500
    deliveries failed``, ``12 of 1,500 deliveries failed``; nothing when none failed."""
    if not failed:
        return ""
    if failed >= created:
        return f"all {grouped(failed)} deliveries failed"
    return f"{grouped(failed)} of {grouped(created)} deliveries failed"


def delivery_status(*, now: datetime) -> DeliveryStatus:
    """The counts, the oldest pending entry's due time, and whether the newest chunk sent nothing."""
    waiting = Message.objects.filter(state=MessageState.PENDING).aggregate(
        since=Min(Coalesce("next_attempt_at", "created_at"))
    )["since"]
    ungrouped = Notification.objects.filter(delivery__isnull=True, cancel_reason="").aggregate(
        since=Min("created_at")
    )["since"]
    waiting = min((at for at in (waiting, ungrouped) if at is not None), default=None)
    last_chunk_at = Message.objects.filter(last_attempt_at__isnull=False).aggregate(
        at=Max("last_attempt_at")
    )["at"]
    return DeliveryStatus(
        counts=delivery_counts(),
        oldest_waiting_since=waiting,
        last_chunk_at=last_chunk_at,
        last_chunk_failed=last_chunk_at is not None and _chunk_failed_entirely(last_chunk_at),
        checked_at=now,
        paused=sending_paused() is not None,
    )


def _chunk_failed_entirely(claimed_at: datetime) -> bool:
    """The messages a sender claimed together share their claim time; the chunk failed entirely when it
    is over and none of them was sent or cancelled (all back to wait, or failed)."""
    outcome = Message.objects.filter(last_attempt_at=claimed_at).aggregate(
        done=Count("id", filter=Q(state__in=(MessageState.SENT, MessageState.CANCELLED))),
        open=Count("id", filter=Q(state=MessageState.SENDING)),
    )
    return outcome["done"] == 0 and outcome["open"] == 0
