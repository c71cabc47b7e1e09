"""Email through a provider's HTTP API with django-anymail (``EMAIL_URL=anymail://postmark``, SPEC §14).

A chunk goes over one backend, whose HTTP session (one kept-alive connection) carries every message of
it. anymail sends one API request per message: it offers a provider's batch endpoint (Postmark's
``/email/batch``) only for one message to many recipients with merge data, not for a chunk of
different messages, so each message is its own request (docs/delivery.md, "Providers").

Each message's outcome is its recipient's status as anymail reports it: ``sent`` or ``queued`` → sent,
with the provider's message id (bounces and deliveries come back by it, ``reminders.tracking``);
``rejected`` or ``invalid`` (the provider's suppression list, a malformed address) → refused for good,
and the address is bad; an API error of the provider's side (5xx, 429), a timeout → tried again later.
When the provider cannot be reached, or refuses the credentials, the rest of the chunk waits unspent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import requests
from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.core.mail import EmailMultiAlternatives, get_connection

from reminders.channels import Feed, Outcome, Outgoing, Result
from reminders.channels.email import describe, mailbox

logger = logging.getLogger(__name__)

SENT_STATUSES = frozenset({"sent", "queued"})
REFUSED_STATUSES = frozenset({"rejected", "invalid"})
# API replies that say the provider refuses this sender, not this message: nothing in the chunk can go.
CREDENTIALS_REFUSED = frozenset({401, 403})


class ProviderUnreachable(Exception):
    """The provider cannot take any message now (no connection, credentials refused)."""


class ProviderChannel:
    def __init__(
        self, *, from_email: str, bcc: tuple[str, ...], connect: Callable[[], Any] | None = None
    ) -> None:
        self.from_email = from_email
        self.bcc = bcc
        self._connect = connect or _open

    def send(self, feed: Feed) -> None:
        try:
            backend = self._connect()
        except Exception as exc:  # a setting anymail misses, or the session could not be made
            feed.defer_rest(f"No connection to the provider: {describe(exc)}")
            return
        try:
            while (message := feed.next()) is not None:
                try:
                    feed.report(self._send_one(backend, message))
                except ProviderUnreachable as exc:
                    feed.report(Outcome(message.key, Result.TRANSIENT, str(exc), offered=False))
                    feed.defer_rest(str(exc))
                    return
        finally:
            _close(backend)

    def close(self) -> None:
        """Nothing is kept between chunks: each opens its own session."""

    def _send_one(self, backend: Any, message: Outgoing) -> Outcome:
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.text,
            from_email=self.from_email,
            to=[message.recipient],
            bcc=list(self.bcc),
            headers={"Message-ID": message.message_id, "Auto-Submitted": "auto-generated"},
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        try:
            backend.send_messages([email])
        except AnymailRecipientsRefused:
            pass  # every address refused: the statuses below say how
        except AnymailAPIError as exc:
            return _api_error(message.key, exc, backend)
        except AnymailError as exc:  # an address or a part the provider's API cannot take
            return Outcome(
                message.key,
                Result.PERMANENT,
                f"The message could not be built: {_first_line(exc)}",
                offered=False,
            )
        status = email.anymail_status  # type: ignore[attr-defined]  # set by anymail as it sends
        return _outcome_of_statuses(message, status, backend.esp_name)


def _outcome_of_statuses(message: Outgoing, status: Any, provider: str) -> Outcome:
    statuses = {address.lower(): recipient for address, recipient in status.recipients.items()}
    customer = mailbox(message.recipient).lower()
    mine = statuses.pop(customer, None)
    copies = "; ".join(
        f"{recipient.status} <{address}>"
        for address, recipient in statuses.items()
        if recipient.status in REFUSED_STATUSES
    )
    if mine is not None and mine.status in SENT_STATUSES:
        return Outcome(
            message.key, Result.SENT, refused_copies=copies, provider_message_id=str(mine.message_id or "")
        )
    reply = _reply_text(status.esp_response)
    if mine is not None and mine.status in REFUSED_STATUSES:
        error = f"Refused by {provider}: the address {customer} is {mine.status}{reply}"
        return Outcome(message.key, Result.PERMANENT, error, address_refused=True)
    found = mine.status if mine is not None else "no status"
    return Outcome(message.key, Result.TRANSIENT, f"{provider} reported {found} for {customer}{reply}")


def _api_error(key: int, exc: AnymailAPIError, backend: Any) -> Outcome:
    provider = backend.esp_name
    code = exc.status_code
    if code is None:  # the request itself failed
        if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout):
            raise ProviderUnreachable(f"No connection to {provider}: {_first_line(exc)}") from exc
        return Outcome(key, Result.TRANSIENT, f"No answer from {provider}: {_first_line(exc)}")
    reply = _reply_text(exc.response)
    if code in CREDENTIALS_REFUSED:
        raise ProviderUnreachable(f"{provider} refused the credentials: HTTP {code}{reply}") from exc
    if code >= 500 or code == 429:
        return Outcome(key, Result.TRANSIENT, f"{provider} is unavailable: HTTP {code}{reply}")
    return Outcome(key, Result.PERMANENT, f"Refused by {provider}: HTTP {code}{reply}")


def _reply_text(response: Any) -> str:
    """The provider's own words in its reply (Postmark's ``Message``), for ``last_error``."""
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return f": {text[:300]}" if text else ""
    if isinstance(body, dict):
        words = body.get("Message") or body.get("message") or ""
        code = body.get("ErrorCode")
        return f" ({code}: {words})" if code is not None and words else (f" ({words})" if words else "")
    return ""


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _open() -> Any:
    backend = get_connection(fail_silently=False)
    backend.open()
    return backend


def _close(backend: Any) -> None:
    try:
        backend.close()
    except Exception as exc:  # every outcome is reported already
        logger.warning("Closing the provider's session failed: %s", describe(exc))
