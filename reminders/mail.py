"""Email backends that ``EMAIL_URL`` selects (see config/settings.py and docs/delivery.md)."""

from __future__ import annotations

import contextlib
import re
import secrets
import smtplib
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from email.generator import BytesGenerator
from email.message import Message
from email.policy import Compat32
from email.utils import formatdate, parseaddr
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any, TypeVar, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as DjangoSMTPBackend
from django.core.mail.message import forbid_multi_line_headers, sanitize_address

_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_PLAIN_HEADER = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")
MAX_HEADER_LINE = 78
_Taken = TypeVar("_Taken")


class _Policy(Compat32):
    """Django's policy (compat32), with a short cut for the common header: one line of printable ASCII
    words. The standard folding builds a ``Header`` object for every header of every part; for such a
    value its result is the value itself, so it is written as it is (the same bytes, several times
    faster). Anything else is folded the standard way."""

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if (
            isinstance(value, str)
            and len(name) + len(value) + 2 <= MAX_HEADER_LINE
            and _PLAIN_HEADER.fullmatch(value)
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)  # type: ignore[misc]  # private: not in the stubs


_POLICY = _Policy()


class _Generator(BytesGenerator):
    @classmethod
    def _make_boundary(cls, text: Any = None) -> str:
        """A random boundary found nowhere in ``text``; without compiling a pattern per message."""
        while True:
            boundary = f"=_{secrets.token_hex(16)}"
            if text is None or f"--{boundary}".encode() not in text:
                return boundary


def as_bytes(message: Message) -> bytes:
    """``message`` as Django's ``as_bytes(linesep="\\r\\n")`` writes it (up to the random boundary)."""
    buffer = BytesIO()
    _Generator(buffer, mangle_from_=False, policy=_POLICY).flatten(message, linesep="\r\n")
    return buffer.getvalue()


@lru_cache(maxsize=64)
def _sanitized(address: str, encoding: str) -> str:
    return sanitize_address(address, encoding)


_CRLF_POLICY = _POLICY.clone(linesep="\r\n")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Django writes a body with a longer line as quoted-printable; such a body takes Django's own path.
MAX_BODY_LINE = 998
# Headers that Django's ``message()`` writes itself, or that an extra header would write twice.
_WRITTEN_BY_DJANGO = frozenset(
    {"from", "to", "cc", "reply-to", "date", "subject", "content-type", "mime-version"}
    | {"content-transfer-encoding"}
)
_NOW_FORMATTED: list[Any] = [None, ""]


def _date_header() -> str:
    """``formatdate`` as Django calls it, once per second (its resolution)."""
    second = int(time.time())
    if _NOW_FORMATTED[0] != second:
        _NOW_FORMATTED[:] = [second, formatdate(second, localtime=settings.EMAIL_USE_LOCALTIME)]
    return cast(str, _NOW_FORMATTED[1])


def _has_long_line(text: str) -> bool:
    # Django's test (``SafeMIMEText.set_payload``), skipped when no line could be that long in UTF-8.
    lines = text.splitlines()
    return max(map(len, lines), default=0) * 4 > MAX_BODY_LINE and any(
        len(line.encode(errors="surrogateescape")) > MAX_BODY_LINE for line in lines
    )


# An address Django's ``sanitize_address`` returns unchanged: a dot-atom local part, an ASCII domain.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")


def safe_address(address: str, encoding: str) -> str:
    """``sanitize_address(address, encoding)``, without parsing an address that is plain already."""
    if isinstance(address, str) and _PLAIN_ADDRESS.fullmatch(address):
        return address
    return sanitize_address(address, encoding)


def _header_line(name: str, value: str) -> bytes:
    """The header as Django stores it (refused with a line break, encoded when not ASCII, a subject
    through ``Header``) and as the generator folds it. A value that is one short line of printable ASCII
    words is all of these unchanged, so it is written as it is."""
    if len(name) + len(value) + 2 <= MAX_HEADER_LINE - 2 and _PLAIN_HEADER.fullmatch(value):
        return f"{name}: {value}\r\n".encode()
    return _CRLF_POLICY.fold_binary(*forbid_multi_line_headers(name, value, "utf-8"))


def _text_part(text: str, subtype: str) -> bytes:
    """A text part's headers and body as Django's ``SafeMIMEText`` and the generator write them."""
    body = _LINE_BREAK.sub("\r\n", text).encode()
    encoding = "7bit" if body.isascii() else "8bit"
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nMIME-Version: 1.0\r\n'
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode() + body


class PreparedEmail(EmailMultiAlternatives):
    """An email built once, before a connection waits for it: ``prepare`` writes its bytes and makes its
    addresses safe for SMTP; the SMTP backend below sends those bytes. Any other backend builds Django's
    ``message()`` as usual.

    The bytes are what Django's ``message()`` and generator write, up to the random boundary and the
    second of the ``Date``: for the common email (a text body, an optional HTML alternative, no
    attachment, Cc or Reply-To, utf-8) they are written directly from the same header functions Django
    uses, without building the MIME tree, which costs several times more; any other email takes Django's
    own path."""

    smtp_from: str = ""
    smtp_recipients: tuple[str, ...] = ()
    # A mailbox that is not ASCII goes out as it is, for a server that offers SMTPUTF8 (RFC 6531).
    smtputf8: bool = False
    smtp_bytes: bytes = b""
    # Set on the direct path, so that its bytes can be compared with Django's.
    boundary: str = ""
    date: str = ""

    def prepare(self) -> None:
        """Build the message; ``ValueError`` (Django's ``BadHeaderError``, an address it cannot encode)
        when it cannot be built, as ``message()`` itself raises."""
        encoding = self.encoding or settings.DEFAULT_CHARSET
        self.smtp_from = _sanitized(self.from_email, encoding)
        self.smtp_recipients = tuple(
            _utf8_mailbox(address)
            if self.smtputf8 and not address.isascii()
            else safe_address(address, encoding)
            for address in self.recipients()
        )
        self.smtp_bytes = self._direct_bytes() if self._direct_path_applies() else as_bytes(super().message())

    def _direct_path_applies(self) -> bool:
        # Django 5.2 keeps alternatives as (content, mimetype) named tuples; django-stubs says plain tuples.
        alternatives: Any = self.alternatives
        return (
            type(self) is PreparedEmail
            and (self.encoding or settings.DEFAULT_CHARSET).lower() == "utf-8"
            and isinstance(self.body, str)
            and bool(self.body)
            and not _has_long_line(self.body)
            and not (self.attachments or self.cc or self.reply_to)
            and self.content_subtype == "plain"
            and getattr(self, "alternative_subtype", "alternative") == "alternative"
            and not _WRITTEN_BY_DJANGO.intersection(name.lower() for name in self.extra_headers)
            and "message-id" in (name.lower() for name in self.extra_headers)
            and (
                not alternatives
                or (
                    len(alternatives) == 1
                    and alternatives[0].mimetype == "text/html"
                    and isinstance(alternatives[0].content, str)
                    and not _has_long_line(alternatives[0].content)
                )
            )
        )

    def _direct_bytes(self) -> bytes:
        self.date = _date_header()
        headers = [("Subject", self.subject), ("From", self.from_email)]
        if self.to and not self.smtputf8:
            headers.append(("To", ", ".join(str(address) for address in self.to)))
        headers += [("Date", self.date), *self.extra_headers.items()]
        lines = [_header_line(name, str(value)) for name, value in headers]
        if self.to and self.smtputf8:
            lines.insert(2, f"To: {', '.join(str(address) for address in self.to)}\r\n".encode())
        text = _text_part(str(self.body), "plain")
        if not self.alternatives:
            return text.replace(b"\r\n\r\n", b"\r\n" + b"".join(lines) + b"\r\n", 1)
        alternatives: Any = self.alternatives
        html = _text_part(cast(str, alternatives[0].content), "html")
        self.boundary = _Generator._make_boundary(text + html)
        content_type = _CRLF_POLICY.fold_binary(
            "Content-Type", f'multipart/alternative; boundary="{self.boundary}"'
        )
        mark = f"--{self.boundary}".encode()
        head = [content_type, b"MIME-Version: 1.0\r\n", *lines, b"\r\n"]
        return b"".join([*head, mark, b"\r\n", text, b"\r\n", mark, b"\r\n", html, b"\r\n", mark, b"--\r\n"])


def _smtp_envelope(email_message: EmailMessage) -> tuple[str, list[str], bytes]:
    if isinstance(email_message, PreparedEmail) and email_message.smtp_bytes:
        return email_message.smtp_from, list(email_message.smtp_recipients), email_message.smtp_bytes
    encoding = email_message.encoding or settings.DEFAULT_CHARSET
    # The sender is the same for every message of a run: sanitized once.
    from_email = _sanitized(email_message.from_email, encoding)
    recipients = [safe_address(address, encoding) for address in email_message.recipients()]
    return from_email, recipients, as_bytes(email_message.message())


def _utf8_mailbox(address: str) -> str:
    if "\n" in address or "\r" in address:
        raise ValueError(f"The address {address!r} holds a line break.")
    return parseaddr(address)[1] or address


class _WaitingSMTP(smtplib.SMTP):
    """``smtplib.SMTP`` that can build a message while the server answers its ``MAIL FROM``
    (``mail_then``), and that tells how far an exchange got when the connection failed (``last_command``:
    "data" once the message was offered)."""

    last_command: str = ""

    def putcmd(self, cmd: str, args: str = "") -> None:
        self.last_command = cmd.lower()
        super().putcmd(cmd, args)

    def mail_then(self, sender: str, take: Callable[[], _Taken]) -> tuple[int, bytes, _Taken]:
        """``MAIL FROM:<sender>``, and ``take()`` run after the command went out and before its reply is
        read, so that whatever ``take`` reads, it reads once this message's exchange began; the reply and
        what ``take`` returned. A failure to send the command raises before ``take`` runs."""
        self.ehlo_or_helo_if_needed()
        self.putcmd("mail", f"FROM:{smtplib.quoteaddr(sender)}")
        taken = take()
        code, reply = self.getreply()
        return code, reply, taken

    def reset_quietly(self) -> None:
        """``RSET``, as ``sendmail`` resets after a refusal: a server gone already is let be."""
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            self.rset()

    def send_rest(self, recipients: Sequence[str], data: bytes) -> dict[str, tuple[int, bytes]]:
        """The rest of ``sendmail`` once ``MAIL FROM`` was accepted: ``RCPT`` for each recipient and the
        data; the recipients refused, raising as ``sendmail`` does when all were or the data was."""
        refused: dict[str, tuple[int, bytes]] = {}
        for recipient in recipients:
            code, reply = self.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, reply)
            if code == 421:
                self.close()
                raise smtplib.SMTPRecipientsRefused(refused)
        if len(refused) == len(recipients):
            self.reset_quietly()
            raise smtplib.SMTPRecipientsRefused(refused)
        code, reply = self.data(data)
        if code != 250:
            if code == 421:
                self.close()
            else:
                self.reset_quietly()
            raise smtplib.SMTPDataError(code, reply)
        return refused


class _WaitingSMTPSSL(_WaitingSMTP, smtplib.SMTP_SSL):
    pass


def envelope_sender(from_email: str) -> str:
    """The ``MAIL FROM`` address of every message from ``from_email``, as the backend below sends it."""
    return _sanitized(from_email, settings.DEFAULT_CHARSET)


class SMTPEmailBackend(DjangoSMTPBackend):
    """Django's SMTP backend, except that a message is not taken as sent when the server accepted only
    its Bcc copy: a refused ``To``/``Cc`` address raises ``SMTPRecipientsRefused`` as when all are.

    ``send_while_answering`` builds a message while the server answers its ``MAIL FROM``."""

    # The Bcc copies the server refused for the last message sent (address: (code, reply)).
    refused_copies: dict[str, tuple[int, bytes]] = {}

    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return _WaitingSMTPSSL if self.use_ssl else _WaitingSMTP

    def _send(self, email_message: EmailMessage) -> bool:
        if not email_message.recipients():
            return False
        from_email, recipients, data = _smtp_envelope(email_message)
        assert self.connection is not None  # send_messages opened it
        options = ["SMTPUTF8"] if getattr(email_message, "smtputf8", False) else []
        self.refused_copies = {}
        refused = self.connection.sendmail(from_email, recipients, data, mail_options=options)
        self._take_refused(email_message, refused)
        return True

    def send_while_answering(self, sender: str, take: Callable[[], PreparedEmail | None]) -> bool:
        """Send the message ``take`` builds, called once ``MAIL FROM:<sender>`` is on its way and before
        the server's reply is read: the time the reply travels is not lost. False when ``take`` had no
        message (the transaction is reset, nothing sent). Raises as ``send_messages`` does; a message
        whose envelope is not ``sender`` alone (SMTPUTF8, another sender) starts over with its own."""
        if self.connection is None:
            self.open()
        smtp = self.connection
        assert isinstance(smtp, _WaitingSMTP)
        code, reply, email = smtp.mail_then(sender, take)
        if email is None or code != 250:
            if code == 421:
                smtp.close()
            else:
                smtp.reset_quietly()
            if email is None:
                return False
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        self.refused_copies = {}
        if email.smtputf8 or email.smtp_from != sender:
            smtp.rset()
            return self._send(email)
        refused = smtp.send_rest(email.smtp_recipients, email.smtp_bytes)
        self._take_refused(email, refused)
        return True

    def _take_refused(self, email_message: EmailMessage, refused: dict[str, tuple[int, bytes]]) -> None:
        """Raise when a ``To``/``Cc`` address was refused; keep the refused Bcc copies."""
        if not refused:
            return
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        utf8 = getattr(email_message, "smtputf8", False)
        visible = {
            _utf8_mailbox(address) if utf8 and not address.isascii() else safe_address(address, encoding)
            for address in [*email_message.to, *email_message.cc]
        }
        if missed := {address: reply for address, reply in refused.items() if address in visible}:
            raise smtplib.SMTPRecipientsRefused(missed)
        self.refused_copies = refused


class EmlFolderBackend(BaseEmailBackend):
    """Each message as one ``.eml`` file in a folder (``EMAIL_FILE_PATH``): any mail program opens it.

    The embedded default, so that reminders of a trial install stay on this machine and can be read.
    """

    def __init__(self, *args: Any, file_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.folder = Path(file_path or settings.EMAIL_FILE_PATH)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ImproperlyConfigured(
                f"EMAIL_FILE_PATH={str(self.folder)!r} is not a writable folder: {exc}"
            ) from exc

    def send_messages(self, email_messages: Any) -> int:
        sent = 0
        for email_message in email_messages:
            message = email_message.message()
            name = _UNSAFE_IN_FILE_NAME.sub("_", message["Message-ID"].strip("<>"))
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            (self.folder / f"{stamp}-{name}.eml").write_bytes(as_bytes(message))
            sent += 1
        return sent


def mail_destination() -> str:
    """Where the configured backend puts mail, in words for a person reading a command's output."""
    backend = settings.EMAIL_BACKEND
    if backend == f"{EmlFolderBackend.__module__}.{EmlFolderBackend.__qualname__}":
        return f"written as .eml files into {settings.EMAIL_FILE_PATH}/ (any mail program opens them)"
    if backend.endswith("smtp.EmailBackend") or backend.endswith("SMTPEmailBackend"):
        return f"sent to the SMTP server {settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
    if backend.startswith("anymail.backends."):
        return f"sent through the API of {backend.split('.')[2]} (django-anymail)"
    if backend.endswith("console.EmailBackend"):
        return "printed to this terminal"
    return f"handed to {backend}"
