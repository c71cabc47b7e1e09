"""Email backends that ``EMAIL_URL`` selects (see config/settings.py and docs/delivery.md)."""

from __future__ import annotations

import re
import secrets
import smtplib
from collections.abc import Callable, Iterator
from datetime import datetime
from email.generator import BytesGenerator
from email.message import Message
from email.policy import Compat32
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as DjangoSMTPBackend
from django.core.mail.message import sanitize_address

_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_PLAIN_HEADER = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")
MAX_HEADER_LINE = 78


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


class PreparedEmail(EmailMultiAlternatives):
    """An email built once, before a connection waits for it: ``prepare`` runs Django's ``message()``,
    writes it to bytes and makes the addresses safe for SMTP; the SMTP backend below then sends those
    bytes, and any other backend gets the same ``message()``. Preparing a chunk while the previous one is
    on the wire keeps the mail connection busy (see ``reminders.delivery``)."""

    _prepared: Message | None = None
    smtp_from: str = ""
    smtp_recipients: tuple[str, ...] = ()
    smtp_bytes: bytes = b""

    def prepare(self) -> None:
        """Build the message; ``ValueError`` (Django's ``BadHeaderError``, an address it cannot encode)
        when it cannot be built, as ``message()`` itself raises."""
        for _ in self.prepare_steps():
            pass

    def prepare_steps(self) -> Iterator[None]:
        """``prepare`` in two steps of similar length (the caller may do other work between them)."""
        message = super().message()
        yield None
        encoding = self.encoding or settings.DEFAULT_CHARSET
        self.smtp_from = _sanitized(self.from_email, encoding)
        self.smtp_recipients = tuple(sanitize_address(address, encoding) for address in self.recipients())
        self.smtp_bytes = as_bytes(message)
        self._prepared = message

    def message(self) -> Message:
        return self._prepared if self._prepared is not None else super().message()


def _smtp_envelope(email_message: EmailMessage) -> tuple[str, list[str], bytes]:
    if isinstance(email_message, PreparedEmail) and email_message.smtp_bytes:
        return email_message.smtp_from, list(email_message.smtp_recipients), email_message.smtp_bytes
    encoding = email_message.encoding or settings.DEFAULT_CHARSET
    # The sender is the same for every message of a run: sanitized once.
    from_email = _sanitized(email_message.from_email, encoding)
    recipients = [sanitize_address(address, encoding) for address in email_message.recipients()]
    return from_email, recipients, as_bytes(email_message.message())


class _WaitingSMTP(smtplib.SMTP):
    """``smtplib.SMTP`` that runs ``while_waiting`` after sending a command and before reading the
    server's reply: the server works on the reply meanwhile, so that time is not lost to the client."""

    while_waiting: Callable[[], object] | None = None

    def getreply(self) -> tuple[int, bytes]:
        if self.while_waiting is not None:
            self.while_waiting()
        return super().getreply()


class _WaitingSMTPSSL(_WaitingSMTP, smtplib.SMTP_SSL):
    pass


class SMTPEmailBackend(DjangoSMTPBackend):
    """Django's SMTP backend, except that a message is not taken as sent when the server accepted only
    its Bcc copy: a refused ``To``/``Cc`` address raises ``SMTPRecipientsRefused`` as when all are.

    ``while_waiting``, when set, is called each time the connection waits for a reply; it must not
    raise (the SMTP exchange in progress would be left half done)."""

    while_waiting: Callable[[], object] | None = None

    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return _WaitingSMTPSSL if self.use_ssl else _WaitingSMTP

    def open(self) -> bool | None:
        opened = super().open()
        if opened and isinstance(self.connection, _WaitingSMTP):
            self.connection.while_waiting = self.while_waiting
        return opened

    def _send(self, email_message: EmailMessage) -> bool:
        if not email_message.recipients():
            return False
        from_email, recipients, data = _smtp_envelope(email_message)
        assert self.connection is not None  # send_messages opened it
        refused = self.connection.sendmail(from_email, recipients, data)
        if not refused:
            return True
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        visible = {sanitize_address(address, encoding) for address in [*email_message.to, *email_message.cc]}
        if missed := {address: reply for address, reply in refused.items() if address in visible}:
            raise smtplib.SMTPRecipientsRefused(missed)
        return True


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
    if backend.endswith("console.EmailBackend"):
        return "printed to this terminal"
    return f"handed to {backend}"
