"""How delivery stands (docs/SPEC.md §10 "Monitoring"): counts by state, and whether mail is flowing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from common.display import grouped
from reminders.models import Message, MessageState, Notification
from reminders.selectors import sending_paused
from reminders.window import send_window

# A message due for an hour and still not sent means nobody is sending, or the mail server refuses.
PENDING_TOO_LONG = timedelta(hours=1)
# Messages the mail path handled: sent, cancelled, or answered for their address (SPEC §14).
ANSWERED_STATES = (MessageState.SENT, MessageState.CANCELLED, MessageState.BOUNCED, MessageState.COMPLAINED)


@dataclass(frozen=True)
class DeliveryStatus:
    counts: dict[str, int] = field(default_factory=dict)
    oldest_waiting_since: datetime | None = None
    last_chunk_at: datetime | None = None
    last_chunk_failed: bool = False
    checked_at: datetime | None = None
    paused: bool = False
    # The send window: shut now, or when its open stretch began (None: shut, or always open).
    window_shut: bool = False
    window_open_since: datetime | None = None

    @property
    def waiting_too_long(self) -> bool:
        # Staff paused sending on purpose (the outbox switch), or the send window is shut: waiting is
        # then no fault of the mail. Once it opens, what waited for it is counted from its opening.
        if self.paused or self.window_shut or self.oldest_waiting_since is None or self.checked_at is None:
            return False
        since = max(self.oldest_waiting_since, self.window_open_since or self.oldest_waiting_since)
        return self.checked_at - since > PENDING_TOO_LONG

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
    """The counts, the oldest pending entry's due time, whether the newest chunk sent nothing, and the
    send window at ``now``."""
    window = send_window()
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
        window_shut=not window.is_open(now),
        window_open_since=window.open_since(now),
    )


def _chunk_failed_entirely(claimed_at: datetime) -> bool:
    """The messages a sender claimed together share their claim time; the chunk failed entirely when it
    is over and none of them was sent or cancelled (all back to wait, or failed). A bounce or complaint is
    the provider's answer about one address, not a failing mail path: a chunk of bad addresses is no
    reason to call delivery unavailable for every customer."""
    outcome = Message.objects.filter(last_attempt_at=claimed_at).aggregate(
        done=Count("id", filter=Q(state__in=ANSWERED_STATES)),
        open=Count("id", filter=Q(state=MessageState.SENDING)),
    )
    return outcome["done"] == 0 and outcome["open"] == 0
