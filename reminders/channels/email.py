"""Email, the first channel (SPEC §10): messages over Django's email backends, SMTP among them.

A chunk goes over one connection (several chunks at once over several, one per thread of the outbox);
an open connection is handed on to a later chunk. The SMTP replies decide the outcome: a 5xx for the
recipient or at the end of DATA fails that message for good, a 4xx is tried again later. A connection the
server closed or lost (a 421, a drop) is replaced and the chunk goes on; the message it was carrying is
tried again later, and one it had not yet offered goes over the new connection, no attempt spent.

Over SMTP each message's exchange begins before the message is asked for: its ``MAIL FROM`` (the sender
only, the same for every message) goes on the wire, and the feed re-checks, renders and builds the
message while the server answers it; its recipient and data follow. Against a server a network away the
re-check then costs no time of its own; the window between it and the server's acceptance stays within
the message's own exchange (docs/delivery.md).
"""

from __future__ import annotations

import functools
import logging
import smtplib
import threading
from collections.abc import Callable
from email.utils import parseaddr
from typing import Any

from django.core.mail import get_connection

from reminders.channels import Feed, Outcome, Outgoing, Result
from reminders.mail import PreparedEmail, SMTPEmailBackend, envelope_sender

logger = logging.getLogger(__name__)

# A connection is not given to a further chunk once it carried this many messages: some servers refuse
# more on one connection (Exim, by default, after 1,000).
MESSAGES_PER_CONNECTION = 500
# A chunk whose connections keep failing stops trying after this many new connections.
MAX_RECONNECTS = 3


class ConnectionLost(Exception):
    """The connection is gone. ``offered``: the message in progress had reached the server (DATA);
    ``message``: the one to send again over a new connection, when it had not."""

    def __init__(self, reason: str, *, offered: bool, message: Outgoing | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offered = offered
        self.message = message
        self.carried = 0


class EmailChannel:
    def __init__(
        self, *, from_email: str, bcc: tuple[str, ...], connect: Callable[[], Any] | None = None
    ) -> None:
        self.from_email = from_email
        self.sender = envelope_sender(from_email)
        self.bcc = bcc
        self._connect = connect or _open
        self._idle: list[tuple[Any, int]] = []
        self._lock = threading.Lock()

    def send(self, feed: Feed) -> None:
        failures = 0  # connections in a row lost before they carried a message
        carrying: Outgoing | None = None
        while True:
            try:
                mail, carried = self._take()
            except Exception as exc:  # refused, timed out, TLS or login failed
                error = f"No connection to the mail server: {describe(exc)}"
                if carrying is not None:
                    feed.report(Outcome(carrying.key, Result.TRANSIENT, error, offered=False))
                feed.defer_rest(error)
                return
            try:
                carried = self._send_over(mail, carried, feed, carrying)
            except ConnectionLost as lost:
                _close(mail)
                carrying = lost.message
                failures = 0 if lost.carried else failures + 1
                if failures > MAX_RECONNECTS:
                    error = f"Not sent: the connection to the mail server was lost ({lost.reason})."
                    if carrying is not None:
                        feed.report(Outcome(carrying.key, Result.TRANSIENT, error, offered=False))
                    feed.defer_rest(error)
                    return
                continue
            except BaseException:
                _close(mail)
                raise
            self._give_back(mail, carried)
            return

    def _send_over(self, mail: Any, carried: int, feed: Feed, first: Outgoing | None) -> int:
        """Send the feed's messages over ``mail``; return how many it carried. Raises ``ConnectionLost``
        (with the message to send again, when it was not offered) when the connection is gone."""
        sent_here = 0
        while True:
            taken: list[Outgoing] = []
            outcome: Outcome | ConnectionLost | None
            if first is not None:
                taken.append(first)
                outcome = self._send_one(mail, first)
                first = None
            elif isinstance(mail, SMTPEmailBackend):
                # The next message is asked for (re-checked, rendered, built) once its MAIL FROM is on the
                # wire, while the server answers it.
                take = self._taker(mail, feed, taken)
                outcome = _outcome_of_sending(
                    mail, taken, functools.partial(mail.send_while_answering, self.sender, take)
                )
            elif (message := feed.next()) is not None:
                taken.append(message)
                outcome = self._send_one(mail, message)
            else:
                return carried
            if isinstance(outcome, ConnectionLost):
                if taken and outcome.offered:
                    error = f"Not sent: the connection was lost during DATA ({outcome.reason})."
                    feed.report(Outcome(taken[0].key, Result.TRANSIENT, error, offered=True))
                elif taken:
                    outcome.message = taken[0]
                outcome.carried = sent_here
                raise outcome
            if outcome is None:  # the feed had no further message
                return carried
            feed.report(outcome)
            carried += 1
            sent_here += 1

    def _taker(self, mail: Any, feed: Feed, taken: list[Outgoing]) -> Callable[[], PreparedEmail | None]:
        """The feed's next message that can be built, noted in ``taken``; one that cannot is reported."""

        def take() -> PreparedEmail | None:
            while (message := feed.next()) is not None:
                built = self._build(mail, message)
                if isinstance(built, Outcome):
                    feed.report(built)
                    continue
                taken.append(message)
                return built
            return None

        return take

    def _send_one(self, mail: Any, message: Outgoing) -> Outcome | ConnectionLost:
        built = self._build(mail, message)
        if isinstance(built, Outcome):
            return built
        outcome = _outcome_of_sending(mail, [message], lambda: mail.send_messages([built]))
        assert outcome is not None, "a message was given"
        return outcome

    def _build(self, mail: Any, message: Outgoing) -> PreparedEmail | Outcome:
        """The email of ``message``, ready for the wire; or why it cannot be sent (never offered)."""
        smtp = getattr(mail, "connection", None)
        utf8 = not message.recipient.isascii()
        if utf8 and isinstance(smtp, smtplib.SMTP) and not _offers_smtputf8(smtp):
            return Outcome(
                message.key,
                Result.PERMANENT,
                f"The address {message.recipient} needs SMTPUTF8, which the mail server does not offer.",
                offered=False,
            )
        email = PreparedEmail(
            subject=message.subject,
            body=message.text,
            from_email=self.from_email,
            to=[message.recipient],
            bcc=list(self.bcc),
            headers={"Message-ID": message.message_id, "Auto-Submitted": "auto-generated"},
        )
        email.smtputf8 = utf8
        if message.html:
            email.attach_alternative(message.html, "text/html")
        try:
            email.prepare()
        # BadHeaderError, or an address Django cannot encode or parse (its parser also raises AttributeError,
        # IndexError, TypeError): this message alone.
        except Exception as exc:
            return Outcome(
                message.key,
                Result.PERMANENT,
                f"The message could not be built: {describe(exc)}",
                offered=False,
            )
        return email

    def _take(self) -> tuple[Any, int]:
        """An open connection and how many messages it carried; raises when none can be opened."""
        while True:
            with self._lock:
                if not self._idle:
                    break
                mail, carried = self._idle.pop()
            if _still_open(mail):
                return mail, carried
            _close(mail)
        return self._connect(), 0

    def _give_back(self, mail: Any, carried: int) -> None:
        if carried >= MESSAGES_PER_CONNECTION:
            _close(mail)
            return
        with self._lock:
            self._idle.append((mail, carried))

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for mail, _ in idle:
            _close(mail)


def _open() -> Any:
    mail = get_connection(fail_silently=False)
    mail.open()
    return mail


def _outcome_of_sending(
    mail: Any, taken: list[Outgoing], send: Callable[[], object]
) -> Outcome | ConnectionLost | None:
    """What ``send()`` made of the message it sent, the one in ``taken`` (None when it took none)."""
    try:
        if send() is False and not taken:
            return None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        error = "; ".join(
            f"{code} {text(reply)} <{address}>" for address, (code, reply) in exc.recipients.items()
        )
        if all(code >= 500 for code in codes):
            return Outcome(taken[0].key, Result.PERMANENT, f"Refused by the mail server: {error}")
        return Outcome(taken[0].key, Result.TRANSIENT, f"Deferred by the mail server: {error}")
    except smtplib.SMTPSenderRefused as exc:
        if exc.smtp_code == 421:
            return ConnectionLost(f"{exc.smtp_code} {text(exc.smtp_error)}", offered=False)
        result = Result.PERMANENT if exc.smtp_code >= 500 else Result.TRANSIENT
        return Outcome(
            taken[0].key, result, f"Sender refused by the mail server: {exc.smtp_code} {text(exc.smtp_error)}"
        )
    except smtplib.SMTPDataError as exc:
        if exc.smtp_code == 421:
            return ConnectionLost(f"{exc.smtp_code} {text(exc.smtp_error)}", offered=True)
        error = f"{exc.smtp_code} {text(exc.smtp_error)}"
        if exc.smtp_code >= 500:
            return Outcome(taken[0].key, Result.PERMANENT, f"Refused by the mail server: {error}")
        return Outcome(taken[0].key, Result.TRANSIENT, f"Deferred by the mail server: {error}")
    except ValueError as exc:  # BadHeaderError, or an address Django cannot encode
        if not taken:
            raise
        return Outcome(
            taken[0].key, Result.PERMANENT, f"The message could not be built: {describe(exc)}", offered=False
        )
    except (OSError, smtplib.SMTPException) as exc:
        smtp = getattr(mail, "connection", None)
        offered = bool(taken) and getattr(smtp, "last_command", "data") == "data"
        return ConnectionLost(describe(exc), offered=offered)
    refused = getattr(mail, "refused_copies", {}) or {}
    copies = "; ".join(f"{code} {text(reply)} <{address}>" for address, (code, reply) in refused.items())
    return Outcome(taken[0].key, Result.SENT, refused_copies=copies)


def _offers_smtputf8(smtp: smtplib.SMTP) -> bool:
    try:
        smtp.ehlo_or_helo_if_needed()
    except (OSError, smtplib.SMTPException):
        return True  # the connection's failure shows when the message is sent
    return smtp.has_extn("smtputf8")


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


def _close(mail: Any) -> None:
    try:
        mail.close()
    except Exception as exc:  # the messages are sent or recorded already; a failed QUIT changes nothing
        logger.warning("Closing the mail connection failed: %s", describe(exc))


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip().rstrip(":")


def text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def mailbox(address: str) -> str:
    return parseaddr(address)[1] or address
