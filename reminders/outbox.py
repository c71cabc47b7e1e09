"""The outbox (SPEC §10): claiming, leasing, re-checking, retrying and recording messages; no protocol.

A sender claims a chunk of customers in one short transaction: their rows are locked with
``FOR NO KEY UPDATE SKIP LOCKED`` (so no two senders split a customer), their due reminders are grouped
into new messages (one per customer, or one per reminder with ``REMINDER_GROUPING=invoice``) and their
due messages (retries, and those a dead sender left behind) are taken, all marked ``sending`` under a
lease and a claim token of this sender. A customer with a message still in flight keeps its new
reminders waiting for it; reminders of a run still ``running`` wait for the run.

A channel (``reminders.channels``) then sends the chunk, asking for each message just before it goes on
the wire: that is when the message is re-checked against its invoices (one commit-visible read), its
cancelled reminders are left out with their reason, and it is rendered (on the channel's thread) to the
customer's address as it is then. Connections without a chunk get theirs from one claim, cut in equal
chunks. The re-check is ``recheck_rows``, compiled once (``recheck``). Outcomes are noted as they come and
written in small batches while the channels wait for the mail server (``write_outcomes``), each guarded
by the claim token, so a sender that lost its claim changes nothing. The lease is renewed when what is
left of it runs short, and no message is started that could not finish inside it. A stop gives back
every message not on the wire at once.

Every query runs on the thread that called ``reminders_send``: the channel's threads ask it (``_Desk``),
and render what it re-checked themselves.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import queue
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from functools import cached_property
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, Count, F, Field, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from invoicing.models import Customer, Invoice, address_suppressed, held_on, not_held, not_owed_reason
from reminders.channels import Channel, Outcome, Outgoing, Result, default_channel
from reminders.events import message_event_emit
from reminders.fastpath import execute_prepared, fetch_prepared
from reminders.models import (
    OUTBOX_STATES,
    EventType,
    Message,
    MessageState,
    Notification,
    ReminderTemplate,
)
from reminders.rendering import (
    FALLBACK_TEMPLATE,
    CompiledTemplate,
    RenderedEmail,
    TemplateSet,
    TemplateSource,
    render_context,
    statement_context,
)
from reminders.selectors import sending_paused
from reminders.tracking import SUPPRESSED_REASON, record_bounce
from reminders.window import send_window

logger = logging.getLogger(__name__)

MAX_RETRY_DELAY = timedelta(hours=24)
# The jitter spreads the retries of a chunk that failed together, so they do not return all at once.
MAX_JITTER = 0.25
GROUPINGS = ("customer", "invoice")
# A claim that found only customers other senders hold tries again this many times before it ends.
CONTENDED_TRIES = 50
# Outcomes noted are written together once the channels leave the database's thread idle this long (s),
# or once this many wait.
OUTCOMES_WAIT = 0.002
OUTCOMES_BATCH = 8

# The ids of the overdue check's runs still running, as a queryset (the scheduler app sets it: this app
# does not know the runs' table). Their reminders wait, so one run's reminders to a customer travel together.
unfinished_runs: Callable[[], QuerySet[Any, Any]] | None = None


class SendProgress(Protocol):
    def start(self, total: int) -> None: ...
    def advance(self, done: int) -> None: ...


@dataclass(frozen=True)
class SendConfig:
    chunk_size: int
    connections: int
    max_attempts: int
    lease: timedelta
    retry_base: timedelta
    from_email: str
    bcc: tuple[str, ...]
    grouping: str = "customer"

    @classmethod
    def from_settings(cls, **overrides: Any) -> SendConfig:
        values = {
            "chunk_size": settings.REMINDER_SEND_CHUNK,
            "connections": settings.REMINDER_SEND_CONNECTIONS,
            "max_attempts": settings.REMINDER_MAX_ATTEMPTS,
            "lease": timedelta(seconds=settings.REMINDER_LEASE_SECONDS),
            "retry_base": timedelta(seconds=settings.REMINDER_RETRY_BASE_SECONDS),
            "from_email": settings.DEFAULT_FROM_EMAIL,
            "bcc": tuple(settings.REMINDER_BCC),
            "grouping": settings.REMINDER_GROUPING,
        }
        return cls(**{**values, **{name: value for name, value in overrides.items() if value is not None}})

    @cached_property
    def message_id_domain(self) -> str:
        _, address = parseaddr(self.from_email)
        return address.rpartition("@")[2] or "localhost"

    @property
    def seconds_per_message(self) -> float:
        """The longest one message can take: every command of its exchange (MAIL, a RCPT per address,
        DATA, the end of data) waiting out the mail timeout."""
        return (3 + 1 + len(self.bcc)) * float(settings.EMAIL_TIMEOUT or 30)


@dataclass
class SendReport:
    """Messages by what became of them in one sending; ``reminders_cancelled`` counts reminders."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    reminders_cancelled: int = 0
    # Claimed but given back unsent: the lease would not cover them, or the sending was stopped.
    released: int = 0
    # Not offered (the connection was gone): waiting for a later sending, no attempt spent.
    deferred: int = 0
    # Claimed when the sending was stopped and not recorded: sent again once their lease expires.
    awaiting_lease: int = 0
    # Outcomes not written: another sender had taken the message over.
    lost: int = 0
    chunks: int = 0
    # The send window was shut when a claim was due: what is left waits for it to open.
    window_closed: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def tried(self) -> int:
        return self.sent + self.retried + self.failed + self.cancelled

    def count(self, outcome: str, message_pk: int, error: str) -> None:
        """One outcome written: "sent", "retried" or "failed"."""
        if outcome == "failed":
            self.failure(message_pk, error)
        elif outcome == "sent":
            self.sent += 1
        else:
            self.retried += 1

    def failure(self, message_pk: int, error: str) -> None:
        self.failed += 1
        if len(self.errors) < 10:
            self.errors.append(f"message {message_pk}: {error}")

    def summary(self) -> str:
        text = (
            f"{self.sent} sent, {self.retried} to retry later, {self.failed} failed, "
            f"{self.cancelled} cancelled"
        )
        if self.reminders_cancelled:
            text += f" ({self.reminders_cancelled} reminders left out)"
        if self.deferred:
            text += f", {self.deferred} deferred"
        text += f", {self.released} given back unsent" if self.released else ""
        return text + ("; the send window closed, the rest waits for it" if self.window_closed else "")


def retry_delay(*, attempts: int, base: timedelta, jitter: float = 0.0) -> timedelta:
    """How long to wait after ``attempts`` failed tries: ``base * 2 ** (attempts - 1)``, at most
    ``MAX_RETRY_DELAY``, stretched by ``jitter`` (0 to ``MAX_JITTER``)."""
    exponent = min(max(attempts - 1, 0), 30)  # any base times 2**30 is past the cap
    return min(base * 2**exponent, MAX_RETRY_DELAY) * (1 + jitter)


def message_id_for(message_pk: int, domain: str) -> str:
    """The same for every attempt of a message, so a retry is recognisable as the same message."""
    return f"<message-{message_pk}@{domain}>"


def due_messages(now: datetime) -> Q:
    """Messages a sender may take now: pending and due, or left ``sending`` by a sender whose lease ran
    out. The one definition of the claim's condition."""
    pending = Q(state=MessageState.PENDING) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    return pending | Q(state=MessageState.SENDING, leased_until__lt=now)


def ungrouped_reminders() -> QuerySet[Notification]:
    """Reminders no message carries yet, not cancelled, whose run has finished."""
    reminders = Notification.objects.filter(delivery__isnull=True, cancel_reason="")
    if unfinished_runs is not None:
        reminders = reminders.exclude(run_id__in=unfinished_runs())
    return reminders


def waiting_reminders() -> QuerySet[Notification]:
    """Ungrouped reminders a sender would group now: their customer has no message in flight."""
    busy = Message.objects.filter(state__in=OUTBOX_STATES).values("customer_id")
    return ungrouped_reminders().exclude(invoice__customer_id__in=busy)


def due_count(*, now: datetime, grouping: str = "customer") -> int:
    """About how many messages a sender would send now (for a progress display): those due, and those
    the waiting reminders will make."""
    waiting = waiting_reminders()
    if grouping == "customer":
        customers = waiting.order_by().values("invoice__customer_id").distinct().count()
        return Message.objects.filter(due_messages(now)).count() + customers
    return Message.objects.filter(due_messages(now)).count() + waiting.count()


def reminders_send(
    *,
    limit: int | None = None,
    config: SendConfig | None = None,
    clock: Callable[[], datetime] = timezone.now,
    progress: SendProgress | None = None,
    rng: random.Random | None = None,
    report: SendReport | None = None,
    channel: Channel | None = None,
) -> SendReport:
    """Send what is due, chunk by chunk, until nothing is or about ``limit`` messages were claimed.

    ``report``, when given, is filled as outcomes are written: it says what was done even when an
    exception (a signal, a database error) ends the sending, which then gives back every message not on
    the wire and waits only for the ones that are.
    """
    config = config or SendConfig.from_settings()
    if channel is None:
        channel = default_channel(from_email=config.from_email, bcc=config.bcc)
    sender = _Sender(config, clock, rng or random.Random(), report if report is not None else SendReport())
    if progress:
        progress.start(min(due_count(now=clock(), grouping=config.grouping), limit or 2**62))
    try:
        with sender_session():
            sender.run(channel, limit, progress)
    finally:
        channel.close()
    return sender.report


# How the sender's database session runs, on PostgreSQL (``sender_session``).
SENDER_SESSION = {
    # Each outcome is its own short transaction whose commit does not wait for the disk. A database crash
    # may then lose the last outcomes written, which sends those messages again with their Message-ID:
    # the window a kill opens anyway, at no cost per message.
    "synchronous_commit": "off",
    # The re-check and the outcomes' write are prepared statements, planned for the values of each
    # execution. A generic plan is made once, at the statement's sixth use, when the message table is as
    # small as a first claim leaves it, and kept for the connection's life unless an ANALYZE of the table
    # comes: planned at 200 messages it scanned the whole table for each reminder of each message, and
    # one sender sending 5,000 statements of ten took 5.6 ms a statement, against 2.3 ms planned each time.
    "plan_cache_mode": "force_custom_plan",
}


@contextmanager
def sender_session() -> Iterator[None]:
    """The sender's database session set as ``SENDER_SESSION`` says while it sends (on PostgreSQL)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        for name, value in SENDER_SESSION.items():
            cursor.execute(f"SET {name} TO {value}")
    try:
        yield
    finally:
        with contextlib.suppress(Exception), connection.cursor() as cursor:
            for name in SENDER_SESSION:
                cursor.execute(f"RESET {name}")


_T = TypeVar("_T")


class _Stopped(Exception):
    """The sending is stopping: a channel thread's question gets no further message."""


class _Desk:
    """Questions of the channel threads, answered on the thread that owns the database connection; and
    news (``tell``), handled there in turn without the channel waiting for it."""

    def __init__(self) -> None:
        self.owner = threading.get_ident()
        self.requests: queue.SimpleQueue[Future[Any] | None] = queue.SimpleQueue()
        # What was asked or told and not handled yet, in order, also once taken off the queue: a stop's
        # exception may be raised just as ``serve`` took it off (``handle_dropped``).
        self.waiting: dict[Future[Any], Callable[[], Any]] = {}
        self.closed = False

    def ask(self, question: Callable[[], _T]) -> _T:
        if threading.get_ident() == self.owner:
            return question()
        if self.closed:
            raise _Stopped
        answer = self._put(question)
        while True:
            try:
                return answer.result(timeout=0.2)
            except FutureTimeout:
                # Asked just as the desk closed: nobody will answer.
                if self.closed and not answer.done():
                    raise _Stopped from None

    def tell(self, news: Callable[[], object]) -> None:
        """Have ``news`` handled on the database's thread, without waiting for it; dropped once closed."""
        if threading.get_ident() == self.owner:
            news()
        elif not self.closed:
            self._put(news)

    def _put(self, question: Callable[[], Any]) -> Future[Any]:
        answer: Future[Any] = Future()
        self.waiting[answer] = question
        self.requests.put(answer)
        return answer

    def wake(self) -> None:
        self.requests.put(None)

    def serve(self, timeout: float) -> bool:
        """Answer the questions waiting, or wait up to ``timeout`` for one; False when none came."""
        try:
            item = self.requests.get(timeout=timeout)
        except queue.Empty:
            return False
        while item is not None:
            if (question := self.waiting.get(item)) is not None:
                self._answer(item, question)
            try:
                item = self.requests.get_nowait()
            except queue.Empty:
                return True
        return True

    def handle_dropped(self) -> None:
        """Handle what a stop's exception dropped between the queue and its answer."""
        for answer, question in list(self.waiting.items()):
            self._answer(answer, question)

    def _answer(self, answer: Future[Any], question: Callable[[], Any]) -> None:
        # Raising (a stop that cut it short), it stays waiting: asked again while stopping.
        result = question()
        del self.waiting[answer]
        answer.set_result(result)

    def refuse_all(self) -> None:
        self.closed = True
        waiting, self.waiting = self.waiting, {}
        for answer in waiting:
            answer.set_exception(_Stopped("stopping"))


@dataclass
class _Claimed:
    id: int
    customer_id: int
    attempts: int
    message_id: str


@dataclass
class _Write:
    """An outcome noted, not yet written: the message's new values, guarded by the chunk's claim."""

    chunk: _Chunk
    claimed: _Claimed
    invoices: frozenset[int]
    values: dict[str, Any]
    counted_as: str
    address_refused: bool = False


@dataclass
class _Draft:
    """A message re-checked on the database's thread, rendered on its channel's (``render``): its
    reminders as the re-check read them, the customer's other overdue invoices, the template."""

    key: int
    recipient: str
    message_id: str
    template: CompiledTemplate
    customer_name: str
    rows: list[dict[str, Any]]
    others: list[dict[str, Any]]

    def render(self) -> Outgoing:
        context = statement_context(
            customer_name=self.customer_name,
            customer_email=self.recipient,
            rows=self.rows,
            others=self.others,
            language=self.template.language,
        )
        return _outgoing(self.key, self.recipient, render_context(self.template, context), self.message_id)


class _Chunk:
    """One claim: its messages in order, how far the channel got, and this sender's token."""

    def __init__(self, sender: _Sender, token: str, messages: list[_Claimed], lease_until: datetime) -> None:
        self.sender = sender
        self.token = token
        self.messages = messages
        self.position = 0
        # Messages given to the channel whose outcome is not written yet, with their invoices.
        self.on_wire: dict[int, tuple[_Claimed, _Draft, frozenset[int]]] = {}
        self.deadline = time.monotonic() + sender.config.lease.total_seconds()
        self.lease_until = lease_until
        self.stopping = False
        self.given_back = 0
        self.templates: TemplateSet | None = None
        self.others: dict[int, list[dict[str, Any]]] = {}

    # --- the feed a channel reads (each call answered on the database's thread) ---

    def next(self) -> _Draft | None:
        while self.position < len(self.messages) and not self.stopping:
            if not self._lease_covers_one():
                return None
            claimed = self.messages[self.position]
            prepared = self.sender.draft(self, claimed)
            self.position += 1  # after the re-check: one that failed (a stop) is given back
            if prepared is not None:
                draft, invoices = prepared
                self.on_wire[claimed.id] = (claimed, draft, invoices)
                return draft
        return None

    def report(self, outcome: Outcome, outgoing: Outgoing | None) -> None:
        """Note the outcome, to be written with the next batch (``_Sender.write_outcomes``); ``outgoing``:
        the message as rendered (None when it could not be)."""
        if (entry := self.on_wire.get(outcome.key)) is None or entry[0].id in self.sender.unwritten:
            return  # noted already: told again after a stop cut the first telling short
        claimed, draft, invoices = entry
        self.sender.record(self, claimed, draft, invoices, outcome, outgoing)

    def defer_rest(self, error: str) -> None:
        rest = self.messages[self.position :]
        self.position = len(self.messages)
        self.sender.defer(self, rest, error)

    # --- the lease ---

    def _lease_covers_one(self) -> bool:
        """Whether the next message can finish inside the lease; renews it when it could not."""
        needed = self.sender.config.seconds_per_message
        if time.monotonic() + needed < self.deadline:
            return True
        renewed = self.sender.renew(self)
        if not renewed:
            self.stopping = True  # another sender holds these messages now: nothing more is ours
            return False
        if time.monotonic() + needed >= self.deadline:
            self.sender.report.errors.append(
                f"REMINDER_LEASE_SECONDS={self.sender.config.lease.total_seconds():.0f} is shorter than one "
                f"message may take ({needed:.0f} s, from EMAIL_TIMEOUT): nothing can be sent."
            )
            self.stopping = True
            return False
        return True

    def unstarted(self) -> list[_Claimed]:
        return self.messages[self.position :]


class _Sender:
    def __init__(
        self, config: SendConfig, clock: Callable[[], datetime], rng: random.Random, report: SendReport
    ) -> None:
        self.config, self.clock, self.rng, self.report = config, clock, rng, report
        self.desk = _Desk()
        self.unwritten: dict[int, _Write] = {}

    # --- the loop ---

    def run(self, channel: Channel, limit: int | None, progress: SendProgress | None) -> None:
        in_flight: list[tuple[_Chunk, Future[None]]] = []
        claimed_total, exhausted, contended = 0, False, 0
        chunk_size = self._chunk_size()
        with ThreadPoolExecutor(
            max_workers=self.config.connections, thread_name_prefix="reminders-send"
        ) as wire:
            try:
                while True:
                    while not exhausted and len(in_flight) < self.config.connections:
                        # The connections without a chunk get theirs from one claim (at the start, all):
                        # each claim holds up the re-checks the connections at work are waiting for.
                        free = self.config.connections - len(in_flight)
                        size = chunk_size * free
                        size = size if limit is None else min(size, limit - claimed_total)
                        # Staff may pause the outbox, and the send window may close, at any time:
                        # both are checked before every claim.
                        chunks = self._claim(size, parts=free) if size > 0 and self._may_claim() else None
                        if chunks is None:
                            exhausted = True
                            break
                        if not chunks:  # only customers another sender holds: they are moving
                            contended += 1
                            exhausted = contended > CONTENDED_TRIES
                            time.sleep(0.02)
                            break
                        contended = 0
                        for chunk in chunks:
                            claimed_total += len(chunk.messages)
                            future = wire.submit(self._send_chunk, channel, chunk)
                            future.add_done_callback(lambda _: self.desk.wake())
                            in_flight.append((chunk, future))
                            self._prepare_chunk(chunk)
                            # A connection given its chunk starts on it before the next is prepared.
                            self.desk.serve(timeout=0)
                    if not in_flight:
                        if exhausted:
                            return
                        continue
                    # Outcomes are written while the channels wait for the mail server, in batches.
                    asked = self.desk.serve(timeout=OUTCOMES_WAIT if self.unwritten else 0.5)
                    if not asked or len(self.unwritten) >= OUTCOMES_BATCH:
                        self.write_outcomes()
                    for chunk, future in [entry for entry in in_flight if entry[1].done()]:
                        in_flight.remove((chunk, future))
                        # A chunk given back whole (its lease covered no message) would come back at once.
                        exhausted = self._finish(chunk, future) or exhausted
                        if progress:
                            progress.advance(len(chunk.messages))
            except BaseException:
                self._stop(in_flight)
                raise

    def _may_claim(self) -> bool:
        if sending_paused():
            return False
        if not send_window().is_open(self.clock()):
            self.report.window_closed = True
            return False
        return True

    def _chunk_size(self) -> int:
        """How many customers each claim takes: at most ``chunk_size``, and for an outbox of a few
        chunks per connection, equal chunks in whole rounds over the connections, so that they all
        carry one to the end (a last chunk alone on one connection would take as long as a round)."""
        connections, most = self.config.connections, self.config.chunk_size
        if connections == 1:
            return most
        due = due_count(now=self.clock())
        rounds = -(-due // (connections * most))
        if rounds > 4:
            return most
        return max(1, -(-due // (connections * max(rounds, 1))))

    def _send_chunk(self, channel: Channel, chunk: _Chunk) -> None:
        channel.send(_AskingFeed(chunk, self.desk))

    def _finish(self, chunk: _Chunk, future: Future[None]) -> bool:
        """A chunk's channel returned: give back what it did not take (the lease ran short); True when
        that was all of it."""
        self.write_outcomes()
        self.report.chunks += 1
        if (exc := future.exception()) is not None and not isinstance(exc, _Stopped):
            logger.error("Sending a chunk failed: %s", exc, exc_info=exc)
            self.report.errors.append(f"a chunk failed: {type(exc).__name__}: {exc}")
            # What the channel sent of it is unknown: the lease covers it.
            self.report.awaiting_lease += len(chunk.on_wire)
            chunk.on_wire.clear()
        untouched = chunk.position == 0
        self._give_back(chunk, chunk.unstarted())
        chunk.position = len(chunk.messages)
        return untouched

    def _stop(self, in_flight: list[tuple[_Chunk, Future[None]]]) -> None:
        """This thread failed (a signal, the database): give back at once every message not on the wire,
        then wait for those that are and record them. What cannot be recorded waits for its lease."""
        for chunk, _ in in_flight:
            chunk.stopping = True
        try:
            self._give_back_all([chunk for chunk, _ in in_flight])
        except Exception:
            # The stop cut a query short and left the connection unusable: a new one gives back.
            connection.close()
            try:
                self._give_back_all([chunk for chunk, _ in in_flight])
            except Exception as exc:
                logger.warning("Giving back the claimed messages failed: %s", exc)
                self.report.awaiting_lease += sum(len(chunk.unstarted()) for chunk, _ in in_flight)
        if connection.connection is not None and not connection.is_usable():
            connection.close()
        deadline = time.monotonic() + self.config.seconds_per_message + 1
        pending = [future for _, future in in_flight]
        try:
            while any(not future.done() for future in pending) and time.monotonic() < deadline:
                self.desk.serve(timeout=0.1)
                self.desk.handle_dropped()
            self.desk.serve(timeout=0)
            self.write_outcomes()
        except BaseException as exc:  # the database that failed above; the rest waits for its lease
            logger.warning("Recording after a stop failed: %s", exc)
        self.desk.refuse_all()
        for chunk, future in in_flight:
            self.report.awaiting_lease += len(chunk.on_wire)
            if not future.done():
                chunk.on_wire.clear()

    # --- claiming ---

    def _claim(self, size: int, parts: int = 1) -> list[_Chunk] | None:
        """Claim up to ``size`` customers' due work, as up to ``parts`` chunks of about equal length under
        one claim token (one per connection); None when nothing is due, no chunk when every customer with
        work is held by another sender right now."""
        now = self.clock()
        token = secrets.token_hex(16)
        lease_until = now + self.config.lease
        with transaction.atomic():
            candidates = _candidate_customers(now, size)
            if not candidates:
                return None
            locked = list(
                Customer.objects.filter(id__in=candidates)
                .order_by("id")
                .select_for_update(skip_locked=True, no_key=True)
                .values_list("id", flat=True)[:size]
            )
            # A statement after the locks sees what a sender that held them committed before it let go.
            busy = set(
                Message.objects.filter(customer_id__in=locked, state__in=OUTBOX_STATES).values_list(
                    "customer_id", flat=True
                )
            )
            self._form_messages(set(locked) - busy, token, now, lease_until)
            Message.objects.filter(due_messages(now), customer_id__in=busy).update(
                state=MessageState.SENDING, leased_until=lease_until, claim_token=token, last_attempt_at=now
            )
            rows = (
                Message.objects.filter(state=MessageState.SENDING, claim_token=token)
                .order_by("id")
                .values_list("id", "customer_id", "attempts", "message_id")
            )
            messages = [_Claimed(*row) for row in rows]
        parts = max(1, min(parts, len(messages)))
        cuts = [len(messages) * part // parts for part in range(parts + 1)]
        return [
            _Chunk(self, token, messages[start:end], lease_until)
            for start, end in itertools.pairwise(cuts)
            if end > start
        ]

    def _form_messages(self, customers: set[int], token: str, now: datetime, lease_until: datetime) -> None:
        if not customers:
            return
        if connection.vendor == "postgresql":
            _form_messages_in_one(
                customers,
                by_customer=self.config.grouping == "customer",
                message_id_domain=self.config.message_id_domain,
                state=MessageState.SENDING,
                leased_until=lease_until,
                claim_token=token,
                last_attempt_at=now,
                recipient="",
            )
            return
        reminders = list(
            ungrouped_reminders()
            .filter(invoice__customer_id__in=customers)
            .order_by("id")
            .values_list("id", "invoice__customer_id")
        )
        groups: dict[Any, list[int]] = {}
        for reminder_id, customer_id in reminders:
            key = customer_id if self.config.grouping == "customer" else (customer_id, reminder_id)
            groups.setdefault(key, []).append(reminder_id)
        if not groups:
            return
        ids = _insert_messages(
            [key if isinstance(key, int) else key[0] for key in groups],
            state=MessageState.SENDING,
            leased_until=lease_until,
            claim_token=token,
            last_attempt_at=now,
            recipient="",
        )
        Message.objects.filter(id__in=ids).update(
            message_id=Concat(
                Value("<message-"),
                Cast("id", CharField()),
                Value(f"@{self.config.message_id_domain}>"),
                output_field=CharField(),
            )
        )
        _link_reminders(
            [
                (reminder, message)
                for message, group in zip(ids, groups.values(), strict=True)
                for reminder in group
            ]
        )

    def _prepare_chunk(self, chunk: _Chunk) -> None:
        """What every message of a chunk shares: the templates, and each customer's open overdue
        invoices (those not in a message are listed apart)."""
        chunk.templates = current_templates()
        customers = {message.customer_id for message in chunk.messages}
        chunk.others = overdue_invoices_by_customer(customers, timezone.localdate(self.clock()))

    # --- just before a message goes on the wire ---

    def draft(self, chunk: _Chunk, claimed: _Claimed) -> tuple[_Draft, frozenset[int]] | None:
        """Re-check ``claimed`` against its invoices as committed now, for its channel's thread to render;
        None when nothing of it is to be sent (every reminder cancelled, or the claim lost). Also returns
        its invoices."""
        now = self.clock()
        as_of = timezone.localdate(now)
        # One read in autocommit: it sees every payment committed before it.
        rows = recheck(claimed.id, chunk.token)
        if self.unwritten and not self._unwritten_invoices().isdisjoint(row["invoice_id"] for row in rows):
            # An invoice of a message just sent: its count of earlier reminders must include that one.
            self.write_outcomes()
            rows = recheck(claimed.id, chunk.token)
        if not rows:
            if Message.objects.filter(
                id=claimed.id, claim_token=chunk.token, state=MessageState.SENDING
            ).exists():
                self._cancel_message(chunk, claimed)
            else:
                self.report.lost += 1
            return None
        reasons = {row["id"]: cancel_reason(row, as_of) for row in rows}
        kept = [row for row in rows if not reasons[row["id"]]]
        if len(kept) < len(rows):
            with transaction.atomic():
                for reason in set(reasons.values()) - {""}:
                    cancelled = [reminder for reminder, why in reasons.items() if why == reason]
                    Notification.objects.filter(id__in=cancelled, delivery_id=claimed.id).update(
                        cancel_reason=reason
                    )
                    self.report.reminders_cancelled += len(cancelled)
                if not kept:
                    self._cancel_message(chunk, claimed)
                    return None
        assert chunk.templates is not None
        invoices = {row["invoice_id"] for row in kept}
        others = other_invoices(chunk.others.get(claimed.customer_id, []), invoices)
        for row in kept:
            row["days_overdue"] = max((as_of - row["due_date"]).days, row["days_overdue"])
        # The customer's language, or the default language's template when it has none (SPEC §13).
        template = chunk.templates.for_level(max(row["level"] for row in kept), kept[0]["language"])
        draft = _Draft(
            key=claimed.id,
            recipient=kept[0]["customer_email"],
            message_id=claimed.message_id or message_id_for(claimed.id, self.config.message_id_domain),
            template=template,
            customer_name=kept[0]["customer_name"],
            rows=kept,
            others=others,
        )
        return draft, frozenset(invoices)

    def _cancel_message(self, chunk: _Chunk, claimed: _Claimed) -> None:
        if self._guarded(chunk, claimed).update(
            state=MessageState.CANCELLED,
            leased_until=None,
            claim_token="",
            next_attempt_at=None,
            last_error="Every reminder in it was cancelled before it was sent.",
        ):
            self.report.cancelled += 1

    # --- recording ---

    def record(
        self,
        chunk: _Chunk,
        claimed: _Claimed,
        draft: _Draft,
        invoices: frozenset[int],
        outcome: Outcome,
        outgoing: Outgoing | None,
    ) -> None:
        """Note what became of a message; ``write_outcomes`` writes it with the next batch."""
        attempts = claimed.attempts + (1 if outcome.offered else 0)
        values: dict[str, Any] = {
            "attempts": attempts,
            "recipient": draft.recipient,
            "message_id": draft.message_id,
            "leased_until": None,
            "claim_token": "",
        }
        if outcome.result == Result.SENT:
            assert outgoing is not None, "a message sent was rendered"
            counted_as = "sent"
            values |= {
                "state": MessageState.SENT,
                "sent_at": self.clock(),
                "subject": outgoing.subject,
                "text_body": outgoing.text,
                "html_body": outgoing.html,
                "refused_copies": outcome.refused_copies,
                "provider_message_id": outcome.provider_message_id,
                "last_error": "",
                "next_attempt_at": None,
            }
        elif outcome.result == Result.TRANSIENT and attempts < self.config.max_attempts:
            counted_as = "retried"
            delay = retry_delay(
                attempts=max(attempts, 1), base=self.config.retry_base, jitter=self.rng.uniform(0, MAX_JITTER)
            )
            values |= {
                "state": MessageState.PENDING,
                "next_attempt_at": self.clock() + delay,
                "last_error": outcome.error,
            }
        else:
            counted_as = "failed"
            error = outcome.error
            if outcome.result == Result.TRANSIENT:
                error = f"{error} (attempt {attempts} of {self.config.max_attempts})"
            values |= {"state": MessageState.FAILED, "last_error": error}
        self.unwritten[claimed.id] = _Write(
            chunk, claimed, invoices, values, counted_as, address_refused=outcome.address_refused
        )

    def write_outcomes(self) -> None:
        """Write the outcomes noted since the last batch, in one transaction, each only where this sender
        still holds the message's claim: an outcome written by a sender that lost it changes nothing.

        Called when the channels leave this thread idle (their messages are on the wire), and before
        anything that must see the outcomes: a renewal of the lease, the end of a chunk, a stop, a
        re-check of an invoice whose earlier message is among them."""
        if not self.unwritten:
            return
        writes = list(self.unwritten.values())
        held = _write_all_if_held([(write.claimed.id, write.chunk.token, write.values) for write in writes])
        self.unwritten.clear()
        for write in writes:
            del write.chunk.on_wire[write.claimed.id]
            if write.claimed.id in held:
                self.report.count(write.counted_as, write.claimed.id, write.values["last_error"])
                if write.counted_as == "failed":
                    self._failed_for_good(write)
            else:
                self.report.lost += 1

    def _failed_for_good(self, write: _Write) -> None:
        """What follows a message failed for good, once its outcome is written: an address the provider
        refused is suppressed (docs/SPEC.md §14), and the webhook endpoints are told."""
        error = write.values["last_error"]
        if write.address_refused:
            record_bounce(
                message_pk=write.claimed.id, state=MessageState.BOUNCED, description=error, at=self.clock()
            )
        message_event_emit(event_type=EventType.MESSAGE_FAILED, message_pk=write.claimed.id, reason=error)

    def _unwritten_invoices(self) -> set[int]:
        return {invoice for write in self.unwritten.values() for invoice in write.invoices}

    @staticmethod
    def _guarded(chunk: _Chunk, claimed: _Claimed) -> QuerySet[Message]:
        """The message, as long as this sender still holds it: an outcome written by a sender that lost
        its claim changes nothing."""
        return Message.objects.filter(id=claimed.id, claim_token=chunk.token, state=MessageState.SENDING)

    def defer(self, chunk: _Chunk, rest: list[_Claimed], error: str) -> None:
        """The channel could not go on: the rest waits a retry delay, no attempt spent."""
        delay = retry_delay(attempts=1, base=self.config.retry_base, jitter=self.rng.uniform(0, MAX_JITTER))
        done = Message.objects.filter(
            id__in=[claimed.id for claimed in rest], claim_token=chunk.token, state=MessageState.SENDING
        ).update(
            state=MessageState.PENDING,
            next_attempt_at=self.clock() + delay,
            last_error=error,
            leased_until=None,
            claim_token="",
        )
        self.report.deferred += done

    def renew(self, chunk: _Chunk) -> bool:
        """Extend the lease of the chunk's messages still held (its claim token is its siblings' too);
        False when none is held any more."""
        self.write_outcomes()
        started = time.monotonic()
        lease_until = self.clock() + self.config.lease
        held = Message.objects.filter(
            id__in=[claimed.id for claimed in chunk.messages],
            claim_token=chunk.token,
            state=MessageState.SENDING,
        ).update(leased_until=lease_until)
        if held:
            chunk.deadline = started + self.config.lease.total_seconds()
            chunk.lease_until = lease_until
        return bool(held)

    def _give_back(self, chunk: _Chunk, messages: Iterable[_Claimed]) -> None:
        ids = [claimed.id for claimed in messages]
        if ids:
            self.report.released += Message.objects.filter(
                id__in=ids, claim_token=chunk.token, state=MessageState.SENDING
            ).update(state=MessageState.PENDING, leased_until=None, claim_token="", next_attempt_at=None)

    def _give_back_all(self, chunks: list[_Chunk]) -> None:
        for chunk in chunks:
            self._give_back(chunk, chunk.unstarted())
            chunk.position = len(chunk.messages)


class _AskingFeed:
    """The chunk's feed for a channel thread: each call is answered on the database's thread, and each
    message re-checked there is rendered here, on the channel's thread, while the database's thread
    re-checks the next message of another connection."""

    def __init__(self, chunk: _Chunk, desk: _Desk) -> None:
        self.chunk, self.desk = chunk, desk
        self.rendered: dict[int, Outgoing] = {}

    def next(self) -> Outgoing | None:
        while True:
            try:
                draft = self.desk.ask(self.chunk.next)
            except _Stopped:
                return None
            if draft is None:
                return None
            try:
                outgoing = draft.render()
            except Exception as exc:  # a template that fails on this message's data fails only this message
                error = f"The template could not be rendered: {type(exc).__name__}: {exc}"
                self.report(Outcome(draft.key, Result.PERMANENT, error, offered=False))
                continue
            self.rendered[outgoing.key] = outgoing
            return outgoing

    def report(self, outcome: Outcome) -> None:
        outgoing = self.rendered.pop(outcome.key, None)
        # Not recorded when stopped: the message waits for its lease.
        self.desk.tell(lambda: self.chunk.report(outcome, outgoing))

    def defer_rest(self, error: str) -> None:
        with contextlib.suppress(_Stopped):
            self.desk.ask(lambda: self.chunk.defer_rest(error))


# Rows written per statement when messages are formed (a few parameters each: within SQLite's limit).
LINK_BATCH = 200


def _message_field(name: str) -> Field[Any, Any]:
    field = Message._meta.get_field(name)
    assert isinstance(field, Field), f"{name} is not a column of a message"
    return field


def _column(field: Field[Any, Any]) -> str:
    column = field.column
    assert column, f"{field.name} has no column"
    return column


def _insert_messages(customers: list[int], **values: Any) -> list[int]:
    """New messages, one per entry of ``customers``, each with ``values``; their ids in that order. One
    ``INSERT … RETURNING`` per batch: the ORM's ``bulk_create`` prepared every value of every message."""
    quote = connection.ops.quote_name
    fields = [_message_field(name) for name in ("customer_id", *values)]
    shared = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields[1:], values.values(), strict=True)
    ]
    table, columns = quote(Message._meta.db_table), ", ".join(quote(_column(field)) for field in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(customers), LINK_BATCH):
            batch = customers[start : start + LINK_BATCH]
            rows = ", ".join([row] * len(batch))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {rows} RETURNING {quote('id')}",
                [param for customer in batch for param in (customer, *shared)],
            )
            ids += [returned for (returned,) in cursor.fetchall()]
    return ids


_FORM_MESSAGES = """
WITH grouped AS (
    SELECT nextval(pg_get_serial_sequence(%s, %s)) AS message, groups.customer_id, groups.reminders
    FROM ({groups}) AS groups ORDER BY groups.first
), formed AS (
    INSERT INTO {messages} ({columns})
    SELECT grouped.message, grouped.customer_id, %s || grouped.message || %s, {values} FROM grouped
)
UPDATE {reminders} SET {delivery} = grouped.message
FROM grouped CROSS JOIN unnest(grouped.reminders) AS carried(id) WHERE {reminders}.{id} = carried.id
"""
_GROUPS = {
    True: "SELECT customer_id, array_agg(id ORDER BY id) AS reminders, min(id) AS first FROM ({waiting}) AS "
    "waiting GROUP BY customer_id",
    False: "SELECT customer_id, ARRAY[id] AS reminders, id AS first FROM ({waiting}) AS waiting",
}


def _form_messages_in_one(
    customers: set[int], *, by_customer: bool, message_id_domain: str, **values: Any
) -> None:
    """On PostgreSQL, ``customers``' waiting reminders grouped into new messages (one per customer
    ``by_customer``, else one per reminder), each with ``values`` and its Message-ID, and linked to them:
    one statement, which ships no reminder to the client and back (the same as ``_insert_messages`` and
    ``_link_reminders``, which cost the claim three quarters of its time in building their parameters)."""
    quote = connection.ops.quote_name
    waiting, waiting_params = (
        ungrouped_reminders()
        .filter(invoice__customer_id__in=customers)
        .order_by()
        .values("id", customer_id=F("invoice__customer_id"))
        .query.sql_with_params()
    )
    fields = [_message_field(name) for name in values]
    sql = _FORM_MESSAGES.format(
        groups=_GROUPS[by_customer].format(waiting=waiting),
        messages=quote(Message._meta.db_table),
        columns=", ".join(
            quote(_column(_message_field(name))) for name in ("id", "customer_id", "message_id", *values)
        ),
        values=", ".join(["%s"] * len(fields)),
        reminders=quote(Notification._meta.db_table),
        delivery=quote("delivery_id"),
        id=quote("id"),
    )
    params = [
        Message._meta.db_table,
        "id",
        *waiting_params,
        "<message-",
        f"@{message_id_domain}>",
        *(
            field.get_db_prep_save(value, connection)
            for field, value in zip(fields, values.values(), strict=True)
        ),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _link_reminders(pairs: list[tuple[int, int]]) -> None:
    """Set each ``(reminder, message)`` pair's ``delivery_id``: one ``UPDATE … FROM (VALUES …)`` per
    batch, which both databases run by the reminders' primary key (a ``CASE`` with a branch per
    reminder cost more to build than the claim's other statements together)."""
    quote = connection.ops.quote_name
    table = quote(Notification._meta.db_table)
    with connection.cursor() as cursor:
        for start in range(0, len(pairs), LINK_BATCH):
            batch = pairs[start : start + LINK_BATCH]
            values = ", ".join(["(%s, %s)"] * len(batch))
            cursor.execute(
                f"UPDATE {table} SET {quote('delivery_id')} = link.column2 FROM (VALUES {values}) AS link "
                f"WHERE {table}.{quote('id')} = link.column1",
                [value for pair in batch for value in pair],
            )


def _candidate_customers(now: datetime, size: int) -> list[int]:
    """Customers with due work, oldest work first: due messages, and reminders waiting to be grouped."""
    from_messages = (
        Message.objects.filter(due_messages(now)).order_by("id").values_list("customer_id", flat=True)[:size]
    )
    from_reminders = (
        waiting_reminders().order_by("id").values_list("invoice__customer_id", flat=True)[: size * 4]
    )
    return sorted({*from_messages, *from_reminders})


def overdue_invoices_by_customer(customers: Iterable[int], as_of: date) -> dict[int, list[dict[str, Any]]]:
    """Each of ``customers``' open overdue invoices on ``as_of`` not on hold, oldest first: what a message
    lists apart from its reminders (``other_invoices``)."""
    by_customer: dict[int, list[dict[str, Any]]] = {}
    for row in (
        Invoice.objects.overdue(as_of=as_of)
        .filter(not_held(as_of), customer_id__in=customers)
        .order_by("due_date", "number")
        .values("id", "customer_id", "number", "due_date", "currency", "balance_due", "payment_url")
    ):
        other: dict[str, Any] = {**row, "days_overdue": (as_of - row["due_date"]).days}
        by_customer.setdefault(row["customer_id"], []).append(other)
    return by_customer


def other_invoices(overdue: list[dict[str, Any]], invoices: Iterable[int]) -> list[dict[str, Any]]:
    """The customer's ``overdue`` invoices a message does not carry a reminder of."""
    carried = set(invoices)
    return [other for other in overdue if other["id"] not in carried]


# What a statement shows of each reminder, and what its re-check reads: one list for the sender and for
# anything that builds the same statements (the delivery benchmark's bare loop).
REMINDER_ROW_FIELDS = ("id", "level", "threshold_days", "days_overdue", "invoice_id")


def reminder_row_expressions() -> dict[str, F]:
    """The invoice and customer columns of a reminder's row, by the names the statement context uses."""
    return {
        "number": F("invoice__number"),
        "due_date": F("invoice__due_date"),
        "currency": F("invoice__currency"),
        "total": F("invoice__total"),
        "balance_due": F("invoice__balance_due"),
        "status": F("invoice__status"),
        "paused": F("invoice__customer__reminders_paused"),
        "held_until": F("invoice__reminders_held_until"),
        "customer_name": F("invoice__customer__name"),
        "customer_email": F("invoice__customer__email"),
        "language": F("invoice__customer__language"),
        "payment_url": F("invoice__payment_url"),
        "suppressed_address": F("invoice__customer__email_suppressed_address"),
    }


# --- the re-check: the one read just before a message goes on the wire ---


def recheck_rows(message_pk: int, token: str) -> QuerySet[Any, Any]:
    """A message's reminders, with their invoices and customer as committed now, and how many of each
    invoice's reminders were sent before; none when the claim ``token`` is not held. ``recheck`` keeps
    those not cancelled.

    The re-check's one definition: ``cancel_reason`` judges each row. A new reason to leave a reminder
    out is a column here (an expression in ``reminder_row_expressions``, or an annotation below) and a
    condition in ``cancel_reason``; ``recheck`` runs this queryset compiled once.

    Neither read names ``cancel_reason`` in its conditions: with it, the planner may take the partial
    index ``notification_created_at`` (linked reminders not cancelled), which a fresh outbox fills
    faster than its statistics follow, and scan all of it for every message (2 ms instead of 0.1 ms
    with 2,000 linked reminders). Without it, only the message's and the invoice's own indexes apply."""
    earlier = (
        Notification.objects.filter(invoice_id=OuterRef("invoice_id"), delivery__state=MessageState.SENT)
        .exclude(id=OuterRef("id"))
        .order_by()
        .values("invoice_id")
        .annotate(n=Count("id", filter=Q(cancel_reason="")))
        .values("n")
    )
    return (
        Notification.objects.filter(
            delivery_id=message_pk,
            delivery__claim_token=token,
            delivery__state=MessageState.SENDING,
        )
        .order_by("id")
        .values(
            *REMINDER_ROW_FIELDS,
            "cancel_reason",
            **reminder_row_expressions(),
            earlier_reminders=Coalesce(Subquery(earlier), 0),
        )
    )


# Stand-ins for the message and the claim token while ``recheck_rows`` is compiled.
_ANY_MESSAGE = -7_300_000_001
_ANY_TOKEN = "recheck: any claim token"


@dataclass(frozen=True)
class _CompiledRecheck:
    sql: str
    params: tuple[Any, ...]

    @classmethod
    def compile(cls, using: str) -> _CompiledRecheck:
        sql, params = recheck_rows(_ANY_MESSAGE, _ANY_TOKEN).query.get_compiler(using).as_sql()
        if params.count(_ANY_MESSAGE) != 1 or params.count(_ANY_TOKEN) != 1:
            raise AssertionError(f"The re-check's parameters are not as expected: {params!r}")
        return cls(sql, tuple(params))

    def params_for(self, message_pk: int, token: str) -> list[Any]:
        stand_ins = {_ANY_MESSAGE: message_pk, _ANY_TOKEN: token}
        return [
            stand_ins.get(param, param) if isinstance(param, int | str) else param for param in self.params
        ]


_compiled_rechecks: dict[str, _CompiledRecheck] = {}
_recheck_names: dict[str, list[str]] = {}


def recheck(message_pk: int, token: str) -> list[dict[str, Any]]:
    """``recheck_rows`` as dicts. On PostgreSQL the queryset is compiled once and the statement prepared
    on the connection (compiling it cost ten times its run); elsewhere it runs as a queryset."""
    if connection.vendor != "postgresql":
        return [row for row in recheck_rows(message_pk, token) if not row["cancel_reason"]]
    if (compiled := _compiled_rechecks.get(connection.alias)) is None:
        compiled = _compiled_rechecks[connection.alias] = _CompiledRecheck.compile(connection.alias)
    with (
        execute_prepared(connection.alias, compiled.sql, compiled.params_for(message_pk, token)) as cursor,
        connection.wrap_database_errors,
    ):
        # The columns' names, read once: psycopg builds them anew for every result.
        if (names := _recheck_names.get(compiled.sql)) is None:
            names = _recheck_names[compiled.sql] = [column.name for column in cursor.description or ()]
        rows = (dict(zip(names, row, strict=True)) for row in cursor.fetchall())
        return [row for row in rows if not row["cancel_reason"]]


# --- the outcome's write ---


def _write_all_if_held(writes: Sequence[tuple[int, str, Mapping[str, Any]]]) -> set[int]:
    """Write each ``(message, claim token, values)`` as long as the token holds the message, all or none;
    the messages written. On PostgreSQL the writes setting the same fields are one statement."""
    groups: dict[tuple[str, ...], list[tuple[int, str, Mapping[str, Any]]]] = {}
    for write in writes:
        groups.setdefault(tuple(write[2]), []).append(write)
    if connection.vendor == "postgresql" and len(groups) == 1:
        return _write_group_if_held(*groups.items())  # one statement: no transaction around it
    with transaction.atomic():
        if connection.vendor == "postgresql":
            return {pk for group in groups.items() for pk in _write_group_if_held(group)}
        return {pk for pk, token, values in writes if _write_if_held(pk, token, values)}


def _write_group_if_held(group: tuple[tuple[str, ...], list[tuple[int, str, Mapping[str, Any]]]]) -> set[int]:
    names, writes = group
    columns: list[list[Any]] = [[pk for pk, _, _ in writes], [token for _, token, _ in writes]]
    for name in names:
        field = _message_field(name)
        columns.append([field.get_db_prep_save(values[name], connection) for _, _, values in writes])
    params = [*columns, columns[0], MessageState.SENDING.value]
    rows = fetch_prepared(connection.alias, _grouped_update_sql(names), params)
    return {row[0] for row in rows}


@functools.cache
def _grouped_update_sql(names: tuple[str, ...]) -> str:
    """PostgreSQL: one row of arrays per field (``unnest``), each message updated from its row."""
    quote = connection.ops.quote_name
    fields = [_message_field(name) for name in names]
    columns = [_column(field) for field in fields]
    arrays = ", ".join(
        ["%s::bigint[]", "%s::text[]", *(f"%s::{field.db_type(connection)}[]" for field in fields)]
    )
    # The message and the token it must still hold are named apart from the columns set (the token too).
    names_of_row = ", ".join(quote(name) for name in ["held_id", "held_token", *columns])
    assignments = ", ".join(f"{quote(column)} = v.{quote(column)}" for column in columns)
    return (
        f"UPDATE {quote(Message._meta.db_table)} AS m SET {assignments} "
        f"FROM unnest({arrays}) AS v({names_of_row}) "
        f"WHERE m.{quote('id')} = v.{quote('held_id')} "
        f"AND m.{quote('claim_token')} = v.{quote('held_token')} "
        # The messages named once more, as an index condition: the join alone may read every message
        # being sent (the outbox's index) and keep the few of the batch.
        f"AND m.{quote('id')} = ANY(%s::bigint[]) AND m.{quote('state')} = %s RETURNING m.{quote('id')}"
    )


def _write_if_held(message_pk: int, token: str, values: Mapping[str, Any]) -> bool:
    """Set ``values`` on the message as long as the claim ``token`` holds it; whether it did."""
    sql = _guarded_update_sql(tuple(values), connection.vendor)
    params = [
        *(_message_field(name).get_db_prep_save(value, connection) for name, value in values.items()),
        message_pk,
        token,
        MessageState.SENDING.value,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount > 0


@functools.cache
def _guarded_update_sql(names: tuple[str, ...], vendor: str) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(f"{quote(_column(_message_field(name)))} = %s" for name in names)
    return (
        f"UPDATE {quote(Message._meta.db_table)} SET {columns} "
        f"WHERE {quote('id')} = %s AND {quote('claim_token')} = %s AND {quote('state')} = %s"
    )


def cancel_reason(row: Mapping[str, Any], as_of: Any) -> str:
    """Why a reminder must not be sent any more (empty: send it): the overdue rule of SPEC §3, applied to
    the invoice as it is now, and the customer's email."""
    if reason := not_owed_reason(
        status=row["status"], balance_due=row["balance_due"], reminders_paused=row["paused"]
    ):
        return reason
    if held_on(row["held_until"], as_of):
        return "held"
    if (as_of - row["due_date"]).days < row["threshold_days"]:
        return "not due"
    if not row["customer_email"].strip():
        return "no email"
    if address_suppressed(email=row["customer_email"], suppressed_address=row["suppressed_address"]):
        return SUPPRESSED_REASON
    return ""


def _outgoing(key: int, recipient: str, rendered: RenderedEmail, message_id: str) -> Outgoing:
    return Outgoing(
        key=key,
        recipient=recipient,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=message_id,
    )


def current_templates() -> TemplateSet:
    """The templates as staff left them, compiled again only when they changed (one query)."""
    sources = tuple(
        TemplateSource(**values)
        for values in ReminderTemplate.objects.order_by("language", "level").values(
            "level", "subject", "text_body", "html_body", "language"
        )
    ) or (FALLBACK_TEMPLATE,)
    key = (sources, settings.LANGUAGE_CODE)
    if key not in _compiled:
        _compiled.clear()
        _compiled[key] = TemplateSet(sources, default=settings.LANGUAGE_CODE)
    return _compiled[key]


_compiled: dict[tuple[tuple[TemplateSource, ...], str], TemplateSet] = {}
