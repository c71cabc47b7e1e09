"""Sending the outbox (SPEC §10): every notification is an outbox entry, sent by ``reminders_send``.

A sender claims a chunk of due entries with ``SELECT … FOR UPDATE SKIP LOCKED`` and marks them
``sending`` under a lease, in one short transaction, so any number of senders on any number of machines
share the outbox without sending an entry twice. It re-checks each entry against its invoice, renders
the level's template, sends the chunk over one connection of Django's email framework, and writes every
entry's outcome in one statement. A sender that dies leaves its entries ``sending``; once the lease has
expired, another sender claims them again.

Nothing waits when it need not: chunks are sent by ``REMINDER_SEND_CONNECTIONS`` threads (which run no
query), each over its own mail connection, while this thread records the chunks sent and claims the
next; each email is built while the mail server prepares its reply to the previous command
(``SMTPEmailBackend.while_waiting``); an open connection is handed on to a later chunk.
"""

from __future__ import annotations

import logging
import math
import random
import smtplib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from functools import cached_property
from typing import Any, NamedTuple, Protocol, cast

from django.conf import settings
from django.core.mail import get_connection
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from invoicing.models import not_owed_reason
from reminders.mail import PreparedEmail
from reminders.models import DeliveryState, Notification, ReminderTemplate
from reminders.rendering import FALLBACK_TEMPLATE, RenderedEmail, TemplateSet, TemplateSource, render
from reminders.selectors import sending_paused

logger = logging.getLogger(__name__)

MAX_RETRY_DELAY = timedelta(hours=24)
# The jitter spreads the retries of a chunk that failed together, so they do not return all at once.
MAX_JITTER = 0.25
TABLE = Notification._meta.db_table


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
        }
        return cls(**{**values, **{name: value for name, value in overrides.items() if value is not None}})

    @cached_property
    def message_id_domain(self) -> str:
        _, address = parseaddr(self.from_email)
        return address.rpartition("@")[2] or "localhost"


@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    # Claimed but given back unsent: the lease was running out, or the sending was stopped.
    released: int = 0
    # Claimed when the sending was stopped, and not recorded: sent again (or for the first time) once
    # their lease expires.
    awaiting_lease: int = 0
    chunks: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def tried(self) -> int:
        return self.sent + self.retried + self.failed + self.cancelled

    def count(self, outcome: Outcome) -> None:
        names: dict[str, str] = {
            DeliveryState.SENT: "sent",
            DeliveryState.PENDING: "retried",
            DeliveryState.FAILED: "failed",
            DeliveryState.CANCELLED: "cancelled",
        }
        name = names[outcome.state]
        setattr(self, name, getattr(self, name) + 1)
        if outcome.state == DeliveryState.FAILED and len(self.errors) < 10:
            self.errors.append(f"reminder {outcome.id}: {outcome.last_error}")

    def summary(self) -> str:
        text = (
            f"{self.sent} sent, {self.retried} to retry later, {self.failed} failed, "
            f"{self.cancelled} cancelled"
        )
        return text + (f", {self.released} given back unsent" if self.released else "")


class Outcome(NamedTuple):
    """What becomes of one claimed entry; written with the others of its chunk in one statement."""

    id: int
    state: str
    attempts: int
    next_attempt_at: datetime | None = None
    last_error: str = ""
    cancel_reason: str = ""
    sent_at: datetime | None = None
    message_id: str = ""
    subject: str = ""
    body: str = ""
    html: str = ""


def retry_delay(*, attempts: int, base: timedelta, jitter: float = 0.0) -> timedelta:
    """How long to wait after ``attempts`` failed tries: ``base * 2 ** (attempts - 1)``, at most
    ``MAX_RETRY_DELAY``, stretched by ``jitter`` (0 to ``MAX_JITTER``)."""
    exponent = min(max(attempts - 1, 0), 30)  # any base times 2**30 is past the cap
    return min(base * 2**exponent, MAX_RETRY_DELAY) * (1 + jitter)


def message_id_for(notification_id: int, domain: str) -> str:
    """The same for every attempt of a reminder, so a retry is recognisable as the same message."""
    return f"<reminder-{notification_id}@{domain}>"


def cancel_reason(row: Mapping[str, Any], as_of: date) -> str:
    """Why an entry must not be sent any more (empty: send it): the overdue rule of SPEC §3, applied to
    the invoice as it is now, and the customer's email."""
    if reason := not_owed_reason(
        status=row["status"], balance_due=row["balance_due"], reminders_paused=row["paused"]
    ):
        return reason
    if (as_of - row["due_date"]).days < row["threshold_days"]:
        return "not due"
    if not row["recipient"].strip() or not row["customer_email"].strip():
        return "no email"
    return ""


def reminders_send(
    *,
    limit: int | None = None,
    config: SendConfig | None = None,
    clock: Callable[[], datetime] = timezone.now,
    progress: SendProgress | None = None,
    rng: random.Random | None = None,
    report: SendReport | None = None,
) -> SendReport:
    """Send the due entries of the outbox, chunk by chunk, until none is due or ``limit`` were tried.

    Guarantees: an entry is claimed by one sender at a time (until its lease expires); nothing is sent
    for an invoice that is no longer overdue; an entry is never sent after its lease has run out; every
    claimed entry leaves ``sending`` when its chunk ends. Database errors propagate (the caller fails).
    ``report``, when given, is filled as chunks are recorded: it says what was done even when an
    exception (a signal, a database error) ends the sending.
    """
    config = config or SendConfig.from_settings()
    rng = rng or random.Random()
    report = report if report is not None else SendReport()
    _fail_exhausted(config, clock())
    if progress:
        progress.start(min(due_count(now=clock(), config=config), limit or 2**62))
    # Each of ``config.connections`` threads sends a chunk over its own connection, building each email
    # while the server answers the previous command, and one more chunk waits, claimed, for the first
    # thread free; meanwhile this thread records the chunks sent and claims the next: neither the mail
    # connections nor the database wait for each other. Every query runs on this thread's connection.
    connections = _MailConnections()
    with ThreadPoolExecutor(max_workers=config.connections, thread_name_prefix="reminders-smtp") as wire:
        in_flight: deque[tuple[_Chunk, Future[_Chunk]]] = deque()
        claimed, stop = 0, False
        try:
            while True:
                while not stop and len(in_flight) <= config.connections:
                    size = config.chunk_size if limit is None else min(config.chunk_size, limit - claimed)
                    # Staff may pause the outbox at any time: checked before every claim.
                    chunk = (
                        _prepare_chunk(config, size, clock, rng)
                        if size > 0 and not sending_paused()
                        else None
                    )
                    if chunk is None:
                        break
                    claimed += len(chunk.ids)
                    in_flight.append((chunk, wire.submit(_deliver, chunk, connections)))
                if not in_flight:
                    break
                # Left in the queue until recorded: an interrupt meanwhile still records it (again: the
                # write changes nothing the second time).
                done = in_flight[0][1].result()
                claimed -= _finish_chunk(done, report, progress)
                in_flight.popleft()
                # A chunk given back whole (its claim took most of the lease) would come back at once.
                stop = stop or len(done.released) == len(done.ids)
        except BaseException:
            _record_after_failure(in_flight, report)
            raise
        finally:
            wire.shutdown()
            connections.close_all()
    return report


def due_count(*, now: datetime, config: SendConfig) -> int:
    """How many entries a sender would claim now."""
    return Notification.objects.filter(_due_sql_filter(now, config)).count()


def _due_sql_filter(now: datetime, config: SendConfig) -> Q:
    pending = Q(delivery_state=DeliveryState.PENDING) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    expired = Q(delivery_state=DeliveryState.SENDING, leased_until__lt=now, attempts__lt=config.max_attempts)
    return pending | expired


# The claim: due entries, oldest first, skipping those another sender holds; one statement.
CLAIM_SQL = f"""
UPDATE {TABLE}
SET delivery_state = 'sending', leased_until = %s, attempts = attempts + 1, last_attempt_at = %s
WHERE id IN (
    SELECT id FROM {TABLE}
    WHERE delivery_state IN ('pending', 'sending')
      AND ((delivery_state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= %s))
           OR (delivery_state = 'sending' AND leased_until < %s AND attempts < %s))
    ORDER BY id LIMIT %s {{lock}}
)
RETURNING id
"""


# On PostgreSQL the claim also returns what the re-check and the templates need: one statement.
_ROW_COLUMNS = {
    "id": "c.id",
    "level": "c.level",
    "threshold_days": "c.threshold_days",
    "days_overdue": "c.days_overdue",
    "recipient": "c.recipient",
    "attempts": "c.attempts",
    "invoice_id": "c.invoice_id",
    "number": "i.number",
    "due_date": "i.due_date",
    "currency": "i.currency",
    "total": "i.total",
    "balance_due": "i.balance_due",
    "status": "i.status",
    "paused": "cu.reminders_paused",
    "customer_name": "cu.name",
    "customer_email": "cu.email",
}
CLAIM_ROWS_SQL = f"""
WITH c AS ({CLAIM_SQL.format(lock="FOR UPDATE SKIP LOCKED").rstrip()}, level, threshold_days, days_overdue,
                  recipient, attempts, invoice_id)
SELECT {", ".join(f"{column} AS {name}" for name, column in _ROW_COLUMNS.items())}
FROM c JOIN invoicing_invoice AS i ON i.id = c.invoice_id
       JOIN invoicing_customer AS cu ON cu.id = i.customer_id
ORDER BY c.id
"""


def _claim_rows(config: SendConfig, size: int, now: datetime) -> tuple[list[dict[str, Any]], datetime]:
    """Claim a chunk; return its entries with their invoices and customers, oldest first."""
    if connection.vendor != "postgresql":
        ids, lease_until = _claim(config, size, now)
        return (chunk_rows(ids) if ids else []), lease_until
    lease_until = now + config.lease
    with transaction.atomic(), connection.cursor() as cursor:
        at, until = _db_time(now), _db_time(lease_until)
        cursor.execute(CLAIM_ROWS_SQL, [until, at, at, at, config.max_attempts, size])
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return rows, lease_until


def _claim(config: SendConfig, size: int, now: datetime) -> tuple[list[int], datetime]:
    lease_until = now + config.lease
    # SQLite has no row locks: its UPDATE runs alone, which gives the same guarantee on one machine.
    lock = "FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    with transaction.atomic(), connection.cursor() as cursor:
        at, until = _db_time(now), _db_time(lease_until)
        cursor.execute(CLAIM_SQL.format(lock=lock), [until, at, at, at, config.max_attempts, size])
        ids = sorted(row[0] for row in cursor.fetchall())
    return ids, lease_until


def _fail_exhausted(config: SendConfig, now: datetime) -> None:
    """An entry whose sender died during its last allowed attempt is not tried again: ``failed``."""
    Notification.objects.filter(
        delivery_state=DeliveryState.SENDING, leased_until__lt=now, attempts__gte=config.max_attempts
    ).update(
        delivery_state=DeliveryState.FAILED,
        leased_until=None,
        last_error="The sender stopped during the last allowed attempt; the outcome is unknown.",
    )


def chunk_rows(ids: list[int]) -> list[dict[str, Any]]:
    """The claimed entries with what the re-check and the templates need: one query."""
    rows = (
        Notification.objects.filter(id__in=ids)
        .order_by("id")
        .values(
            "id",
            "level",
            "threshold_days",
            "days_overdue",
            "recipient",
            "attempts",
            "invoice_id",
            number=F("invoice__number"),
            due_date=F("invoice__due_date"),
            currency=F("invoice__currency"),
            total=F("invoice__total"),
            balance_due=F("invoice__balance_due"),
            status=F("invoice__status"),
            paused=F("invoice__customer__reminders_paused"),
            customer_name=F("invoice__customer__name"),
            customer_email=F("invoice__customer__email"),
        )
    )
    return cast(list[dict[str, Any]], list(rows))


_compiled: dict[tuple[TemplateSource, ...], TemplateSet] = {}


def current_templates() -> TemplateSet:
    """The templates as staff left them, compiled again only when they changed (one query)."""
    sources = tuple(
        TemplateSource(**values)
        for values in ReminderTemplate.objects.order_by("level").values(
            "level", "subject", "text_body", "html_body"
        )
    ) or (FALLBACK_TEMPLATE,)
    if sources not in _compiled:
        _compiled.clear()
        _compiled[sources] = TemplateSet(sources)
    return _compiled[sources]


@dataclass
class _Chunk:
    config: SendConfig
    now: datetime
    lease_deadline: float
    rng: random.Random
    ids: list[int]
    lease_until: datetime
    builder: _Builder | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    released: list[int] = field(default_factory=list)

    def retry_or_fail(self, row: Mapping[str, Any], error: str, message_id: str) -> None:
        attempts = row["attempts"]
        if attempts >= self.config.max_attempts:
            self.fail(row, f"{error} (attempt {attempts} of {self.config.max_attempts})", message_id)
            return
        delay = retry_delay(
            attempts=attempts, base=self.config.retry_base, jitter=self.rng.uniform(0, MAX_JITTER)
        )
        self.outcomes.append(
            Outcome(
                row["id"],
                DeliveryState.PENDING,
                attempts,
                next_attempt_at=self.now + delay,
                last_error=error,
                message_id=message_id,
            )
        )

    def fail(self, row: Mapping[str, Any], error: str, message_id: str = "") -> None:
        self.outcomes.append(
            Outcome(row["id"], DeliveryState.FAILED, row["attempts"], last_error=error, message_id=message_id)
        )

    def cancel(self, row: Mapping[str, Any], reason: str) -> None:
        self.outcomes.append(
            Outcome(row["id"], DeliveryState.CANCELLED, row["attempts"], cancel_reason=reason)
        )

    def sent(self, row: Mapping[str, Any], email: RenderedEmail, message_id: str) -> None:
        self.outcomes.append(
            Outcome(
                row["id"],
                DeliveryState.SENT,
                row["attempts"],
                sent_at=timezone.now(),
                message_id=message_id,
                subject=email.subject,
                body=email.text,
                html=email.html,
            )
        )


def _prepare_chunk(
    config: SendConfig, size: int, clock: Callable[[], datetime], rng: random.Random
) -> _Chunk | None:
    """Claim and re-check one chunk (None: nothing is due); its emails are built while it is sent."""
    started = time.monotonic()
    now = clock()
    rows, lease_until = _claim_rows(config, size, now)
    if not rows:
        return None
    # Stop sending well before the lease ends: after it, another sender may claim the same entries. One
    # message to a slow server can take four timeouts (MAIL, RCPT, DATA, the end of data).
    margin = min(config.lease.total_seconds() / 2, 4 * (settings.EMAIL_TIMEOUT or 30))
    deadline = started + config.lease.total_seconds() - margin
    as_of = timezone.localdate(now)
    to_send = []
    chunk = _Chunk(config, now, deadline, rng, [row["id"] for row in rows], lease_until)
    for row in rows:
        if reason := cancel_reason(row, as_of):
            chunk.cancel(row, reason)
            continue
        to_send.append(row)
    chunk.builder = _Builder(to_send, current_templates(), config)
    return chunk


def _record_after_failure(in_flight: Sequence[tuple[_Chunk, Future[_Chunk]]], report: SendReport) -> None:
    """This thread failed (a signal, the database) with chunks in flight: stop sending soon and leave
    nothing ``sending`` that need not be. Each chunk on the wire stops after the message in progress; a
    chunk not started is not sent; both give back what they did not send (pending again at once, the
    attempt not counted) and record what they did. What could not be recorded waits for its lease,
    counted in ``awaiting_lease``."""
    for chunk, _ in in_flight:
        chunk.lease_deadline = -math.inf  # read by its thread before each message
    recording = True
    for chunk, future in in_flight:
        if future.cancel():
            assert chunk.builder is not None
            chunk.released = [row["id"] for row in chunk.builder.rows]
        elif future.exception() is not None:
            recording = False  # what the failed thread sent is unknown: the lease covers it
        if recording:
            try:
                _finish_chunk(chunk, report, None)
                continue
            except Exception as exc:  # the database that failed above
                logger.warning("Recording a chunk after a failure failed: %s", _describe(exc))
                recording = False
        report.awaiting_lease += len(chunk.ids)


def _finish_chunk(chunk: _Chunk, report: SendReport, progress: SendProgress | None) -> int:
    """Record a sent chunk's outcomes; return how many of its entries were given back unsent."""
    _write(chunk.outcomes, chunk.lease_until)
    _release(chunk.released, chunk.lease_until)
    for outcome in chunk.outcomes:
        report.count(outcome)
    report.released += len(chunk.released)
    report.chunks += 1
    if progress and len(chunk.released) < len(chunk.ids):
        progress.advance(len(chunk.ids))
    return len(chunk.released)


class _Email(NamedTuple):
    rendered: RenderedEmail | None
    message: PreparedEmail | None
    message_id: str
    error: str


def build_email(row: Mapping[str, Any], templates: TemplateSet, config: SendConfig) -> _Email:
    *_, email = build_email_steps(row, templates, config)
    assert email is not None
    return email


def build_email_steps(
    row: Mapping[str, Any], templates: TemplateSet, config: SendConfig
) -> Iterator[_Email | None]:
    """Build one email in steps of about one SMTP reply's time each (None), the email last."""
    message_id = message_id_for(row["id"], config.message_id_domain)
    try:
        rendered = render(templates.for_level(row["level"]), row)
    except Exception as exc:  # a template that fails on this reminder's data fails only this reminder
        yield _Email(None, None, message_id, f"The template could not be rendered: {_describe(exc)}")
        return
    yield None
    message = PreparedEmail(
        subject=rendered.subject,
        body=rendered.text,
        from_email=config.from_email,
        to=[row["recipient"]],
        bcc=list(config.bcc),
        headers={"Message-ID": message_id, "Auto-Submitted": "auto-generated"},
    )
    if rendered.html:
        message.attach_alternative(rendered.html, "text/html")
    try:
        yield from message.prepare_steps()
    # BadHeaderError, or an address Django cannot encode or parse (its parser also raises AttributeError,
    # IndexError, TypeError): this reminder alone. Nothing may escape: this runs inside an SMTP exchange.
    except Exception as exc:
        yield _Email(rendered, None, message_id, f"The message could not be built: {_describe(exc)}")
        return
    yield _Email(rendered, message, message_id, "")


class _Builder:
    """A chunk's emails, built in order a step at a time: ``step`` runs while the mail server prepares a
    reply (SMTP waits for it after every command), so building the next email overlaps sending this one
    instead of adding to it. ``email(i)`` finishes the i-th email if the waits did not."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], templates: TemplateSet, config: SendConfig) -> None:
        self.rows = rows
        self.emails: list[_Email] = []
        self._steps = self._all_steps(templates, config)

    def _all_steps(self, templates: TemplateSet, config: SendConfig) -> Iterator[None]:
        for row in self.rows:
            for email in build_email_steps(row, templates, config):
                if email is not None:
                    self.emails.append(email)
                yield None

    def step(self) -> None:
        next(self._steps, None)

    def email(self, position: int) -> _Email:
        while len(self.emails) <= position:
            next(self._steps)
        return self.emails[position]


# A connection is not given to a further chunk once it carried this many messages: some servers refuse
# more on one connection (Exim, by default, after 1,000).
MESSAGES_PER_CONNECTION = 500


class _MailConnections:
    """Open mail connections passed from one chunk to the next, so that a connection's setup (the
    server's greeting, ``EHLO``, TLS, login and ``QUIT``) is paid once per few chunks, not for every
    chunk. A chunk still goes over one connection, and a connection carries one chunk at a time."""

    def __init__(self) -> None:
        self._idle: list[tuple[Any, int]] = []
        self._lock = threading.Lock()

    def take(self) -> tuple[Any, int]:
        """An open connection and how many messages it carried; raises when none can be opened."""
        while True:
            with self._lock:
                if not self._idle:
                    break
                mail, carried = self._idle.pop()
            if _still_open(mail):
                return mail, carried
            _close(mail)
        mail = get_connection(fail_silently=False)
        mail.open()
        return mail, 0

    def give_back(self, mail: Any, carried: int) -> None:
        if hasattr(mail, "while_waiting"):
            mail.while_waiting = None
        if carried >= MESSAGES_PER_CONNECTION:
            _close(mail)
            return
        with self._lock:
            self._idle.append((mail, carried))

    def close_all(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for mail, _ in idle:
            _close(mail)


def _still_open(mail: Any) -> bool:
    """Whether a connection left open since its last chunk still works (the server may have closed it
    meanwhile): one ``NOOP`` for SMTP; a backend without a socket of its own always does."""
    smtp = getattr(mail, "connection", None)
    if not isinstance(smtp, smtplib.SMTP):
        return True
    try:
        return smtp.noop()[0] == 250
    except (OSError, smtplib.SMTPException):
        return False


def _deliver(chunk: _Chunk, connections: _MailConnections) -> _Chunk:
    """Send over one connection; every entry to send gets an outcome or is released. No query."""
    builder = chunk.builder
    assert builder is not None
    if not builder.rows:
        return chunk
    try:
        mail, carried = connections.take()
    except Exception as exc:  # refused, timed out, TLS or login failed: nothing of the chunk was sent
        error = f"No connection to the mail server: {_describe(exc)}"
        for row in builder.rows:
            chunk.retry_or_fail(row, error, message_id_for(row["id"], chunk.config.message_id_domain))
        return chunk
    # Only this project's SMTP backend can work while it waits; any other builds each email when sent.
    if hasattr(mail, "while_waiting"):
        mail.while_waiting = builder.step
    tried = -1  # an exception leaves the connection in an unknown state: closed
    try:
        tried = _send_each(chunk, mail, builder)
    finally:
        if tried >= 0:
            connections.give_back(mail, carried + tried)
        else:
            _close(mail)
    return chunk


def _send_each(chunk: _Chunk, mail: Any, builder: _Builder) -> int:
    """Send the chunk's emails; return how many were tried, or -1 when the connection was lost."""
    rows = builder.rows
    for position, row in enumerate(rows):
        if time.monotonic() > chunk.lease_deadline:
            chunk.released.extend(rest["id"] for rest in rows[position:])
            return position
        email = builder.email(position)
        if email.message is None:
            chunk.fail(row, email.error, email.message_id)
            continue
        lost = _send_one(chunk, mail, row, email)
        if lost:
            error = f"Not sent: the connection to the mail server was lost ({lost})."
            for rest in rows[position + 1 :]:
                chunk.retry_or_fail(rest, error, message_id_for(rest["id"], chunk.config.message_id_domain))
            return -1
    return len(rows)


def _send_one(chunk: _Chunk, mail: Any, row: Mapping[str, Any], email: _Email) -> str:
    """Send one message; record its outcome. Returns why the connection is lost, or '' when it is not."""
    assert email.message is not None
    assert email.rendered is not None
    try:
        mail.send_messages([email.message])
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        error = "; ".join(
            f"{code} {_text(reply)} <{address}>" for address, (code, reply) in exc.recipients.items()
        )
        if all(code >= 500 for code in codes):
            chunk.fail(row, f"Refused by the mail server: {error}", email.message_id)
        else:
            chunk.retry_or_fail(row, f"Deferred by the mail server: {error}", email.message_id)
        return ""
    except smtplib.SMTPDataError as exc:
        error = f"{exc.smtp_code} {_text(exc.smtp_error)}"
        if exc.smtp_code >= 500:
            chunk.fail(row, f"Refused by the mail server: {error}", email.message_id)
        else:
            chunk.retry_or_fail(row, f"Deferred by the mail server: {error}", email.message_id)
        return ""
    except ValueError as exc:  # BadHeaderError, or an address Django cannot encode
        chunk.fail(row, f"The message could not be built: {_describe(exc)}", email.message_id)
        return ""
    except (OSError, smtplib.SMTPException) as exc:
        chunk.retry_or_fail(row, f"Not sent: {_describe(exc)}", email.message_id)
        return _describe(exc)
    chunk.sent(row, email.rendered, email.message_id)
    return ""


def _close(mail: Any) -> None:
    try:
        mail.close()
    except Exception as exc:  # the messages are sent or recorded already; a failed QUIT changes nothing
        logger.warning("Closing the mail connection failed: %s", _describe(exc))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip().rstrip(":")


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


# --- Recording outcomes: one statement per chunk -------------------------------------------------------

_OUTCOME_COLUMNS = (
    "delivery_state",
    "attempts",
    "next_attempt_at",
    "last_error",
    "cancel_reason",
    "sent_at",
    "message_id",
    "sent_subject",
    "sent_body",
    "sent_html",
)
_ARRAY_TYPES = (
    "bigint",
    "text",
    "int",
    "timestamptz",
    "text",
    "text",
    "timestamptz",
    "text",
    "text",
    "text",
    "text",
)

# Only this sender's claim is overwritten (``leased_until`` is its token), except that a message the
# server accepted is recorded as sent whatever happened to the entry meanwhile.
_GUARD = (
    "(t.leased_until = %s AND t.delivery_state = 'sending') "
    "OR (v.delivery_state = 'sent' AND t.delivery_state <> 'sent')"
)

_WRITE_PG = f"""
UPDATE {TABLE} AS t SET leased_until = NULL, {", ".join(f"{name} = v.{name}" for name in _OUTCOME_COLUMNS)}
FROM unnest({", ".join(f"%s::{kind}[]" for kind in _ARRAY_TYPES)}) AS v(id, {", ".join(_OUTCOME_COLUMNS)})
WHERE t.id = v.id AND ({_GUARD})
"""

_WRITE_ONE = f"""
UPDATE {TABLE} AS t SET leased_until = NULL, {", ".join(f"{name} = %s" for name in _OUTCOME_COLUMNS)}
WHERE t.id = %s
  AND ((t.leased_until = %s AND t.delivery_state = 'sending') OR (%s = 'sent' AND t.delivery_state <> 'sent'))
"""


def _db_time(value: datetime | None) -> Any:
    """A datetime as the database's own columns hold it (raw SQL skips the field's conversion)."""
    return connection.ops.adapt_datetimefield_value(value)


def _row(outcome: Outcome) -> list[Any]:
    """The outcome as plain values: a choice's value rather than the enum member."""
    return [
        outcome.id,
        str(outcome.state),
        outcome.attempts,
        _db_time(outcome.next_attempt_at),
        outcome.last_error,
        outcome.cancel_reason,
        _db_time(outcome.sent_at),
        *outcome[7:],
    ]


def _write(outcomes: Iterable[Outcome], lease_until: datetime) -> None:
    rows = [_row(outcome) for outcome in outcomes]
    if not rows:
        return
    until = _db_time(lease_until)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_WRITE_PG, [*map(list, zip(*rows, strict=True)), until])
            return
        cursor.executemany(_WRITE_ONE, [[*row[1:], row[0], until, row[1]] for row in rows])


def _release(ids: list[int], lease_until: datetime) -> None:
    """Give back entries that were claimed but not tried: due again at once, the attempt not counted."""
    if ids:
        Notification.objects.filter(
            id__in=ids, delivery_state=DeliveryState.SENDING, leased_until=lease_until
        ).update(
            delivery_state=DeliveryState.PENDING,
            leased_until=None,
            next_attempt_at=None,
            attempts=F("attempts") - 1,
        )
