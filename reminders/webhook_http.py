"""Where a webhook may go, and the one HTTP request that takes it there (SPEC §14).

An endpoint's URL is checked when it is saved and again just before each request: its host is resolved,
every address it resolves to must be public (not loopback, private, link-local or a cloud metadata
address) unless ``WEBHOOK_ALLOW_PRIVATE`` is on, and the request connects to the address that was checked,
so a name that has come to resolve to a private address since it was saved is caught. The standard
library's ``http.client`` sends it: it follows no redirect, and the answer is read up to ``MAX_BODY``.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

SCHEMES = {"http": 80, "https": 443}
# The instance metadata services of the clouds (AWS's IPv6 one is not link-local).
METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
# What is kept of a receiver's answer, for the delivery's record: enough for an error message.
MAX_BODY = 1024
ALLOW_PRIVATE_HINT = "set WEBHOOK_ALLOW_PRIVATE=on to send to such addresses (a receiver on this machine)"


class DestinationRefused(ValueError):
    """The URL may not be sent to: its scheme, its host, or an address its host resolves to."""


class DeliveryFailed(Exception):
    """The request did not get a 2xx answer: connection refused or dropped, timeout, another status."""

    def __init__(self, error: str, status: int | None = None) -> None:
        super().__init__(error)
        self.status = status


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


def resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_rule(address: IPAddress) -> str | None:
    """Why ``address`` is not a public one webhooks may go to; None when it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address_rule(address.ipv4_mapped)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified or address.is_multicast:
        return "not a public unicast address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    # Shared (100.64/10), documentation and other special ranges: not on the internet either.
    if address.is_reserved or not address.is_global:
        return "not a public unicast address"
    return None


def checked_addresses(
    url: str, *, allow_private: bool | None = None, resolver: Resolver = resolve
) -> list[str]:
    """The addresses ``url``'s host resolves to, every one allowed; raises ``DestinationRefused`` naming
    the URL and the rule it breaks."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise DestinationRefused(f"url {url!r}: only http:// and https:// URLs are allowed")
    if not parts.hostname:
        raise DestinationRefused(f"url {url!r}: the URL names no host")
    try:
        port = parts.port or SCHEMES[parts.scheme]
        addresses = resolver(parts.hostname, port)
    except (OSError, ValueError) as exc:
        raise DestinationRefused(
            f"url {url!r}: the host {parts.hostname} could not be resolved ({exc})"
        ) from exc
    if not addresses:
        raise DestinationRefused(f"url {url!r}: the host {parts.hostname} resolves to no address")
    allow = settings.WEBHOOK_ALLOW_PRIVATE if allow_private is None else allow_private
    for address in addresses:
        rule = None if allow else address_rule(ipaddress.ip_address(address.split("%")[0]))
        if rule:
            raise DestinationRefused(
                f"url {url!r}: {parts.hostname} resolves to {address}, {rule}; {ALLOW_PRIVATE_HINT}"
            )
    return addresses


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the checked address, not to whatever the host name resolves to by then."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        # The certificate is checked against the host name, as if connected by name.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(
    url: str, *, body: bytes, headers: dict[str, str], timeout: float, resolver: Resolver = resolve
) -> Answer:
    """POST ``body`` to ``url`` once. Raises ``DestinationRefused`` (see ``checked_addresses``), or
    ``DeliveryFailed`` for anything but a 2xx answer; a redirect is an answer like any other (not 2xx)."""
    address = checked_addresses(url, resolver=resolver)[0]
    parts = urlsplit(url)
    port = parts.port or SCHEMES[parts.scheme]
    kind = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    connection = kind(parts.hostname or "", port, address, timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body, headers={**headers, "Content-Type": "application/json"})
        response = connection.getresponse()
        answer = Answer(response.status, response.read(MAX_BODY).decode("utf-8", "replace"))
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
    finally:
        connection.close()
    if not 200 <= answer.status < 300:
        raise DeliveryFailed(f"HTTP {answer.status}: {answer.body[:200]}".rstrip(": "), status=answer.status)
    return answer
