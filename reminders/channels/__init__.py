"""The seam between the outbox and a way of reaching customers (SPEC §10 "channel").

The outbox (``reminders.outbox``) claims, leases, re-checks, retries and records messages and knows no
protocol; a channel sends the messages of a chunk it is fed one at a time and reports one ``Outcome`` per
message it took: sent, transient or permanent failure, with the error. Email is ``channels.email``
(SMTP and Django's other backends) or ``channels.provider`` (a provider's API through django-anymail);
a new channel (SMS, letter) is one module with a ``send``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Result(StrEnum):
    SENT = "sent"
    TRANSIENT = "transient"  # worth another try later
    PERMANENT = "permanent"  # refused for good: another try would be refused the same way


@dataclass(frozen=True)
class Outgoing:
    """One message, re-checked and rendered, as a channel sends it."""

    key: int  # the outbox's id of the message
    recipient: str
    subject: str
    text: str
    html: str
    message_id: str


@dataclass(frozen=True)
class Outcome:
    key: int
    result: Result
    error: str = ""
    # False when the message never reached the server (the connection was gone before it): the try
    # spends no attempt.
    offered: bool = True
    # Copies (Bcc) the server refused while it took the message, with its replies.
    refused_copies: str = ""
    # The provider's id of the message, by which it reports bounces and deliveries (SPEC §14).
    provider_message_id: str = ""
    # Refused because the address itself is bad (the provider's suppression list, an invalid address):
    # recorded as a bounce, and the address is suppressed.
    address_refused: bool = False


class Feed(Protocol):
    """A chunk as the outbox hands it to a channel."""

    def next(self) -> Outgoing | None:
        """The next message, re-checked just now; None when the chunk is over (sent, stopped, or its
        lease would not cover another message)."""

    def report(self, outcome: Outcome) -> None:
        """What became of a message ``next`` gave."""

    def defer_rest(self, error: str) -> None:
        """The channel cannot go on (no connection): the messages not taken wait, no attempt spent."""


class Channel(Protocol):
    def send(self, feed: Feed) -> None:
        """Send the chunk's messages until ``feed.next()`` is None; report each message it took."""

    def close(self) -> None:
        """Release what the channel kept open between chunks."""


def default_channel(*, from_email: str, bcc: tuple[str, ...]) -> Channel:
    """The channel ``EMAIL_BACKEND`` calls for: a provider's API through django-anymail, or email over
    Django's backends (SMTP, files, console)."""
    from django.conf import settings

    if settings.EMAIL_BACKEND.startswith("anymail."):
        from reminders.channels.provider import ProviderChannel

        return ProviderChannel(from_email=from_email, bcc=bcc)
    from reminders.channels.email import EmailChannel

    return EmailChannel(from_email=from_email, bcc=bcc)
