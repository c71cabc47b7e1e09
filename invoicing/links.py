"""An invoice's pay link (docs/SPEC.md §13): where the customer pays it online, shown in its reminders.

One rule for the model, the API and the import: ``https://``, or ``http://`` only on a loopback host (a
payment page run next to the product while trying it out). Anything else would send customers to a page
anyone on the way could change.
"""

from __future__ import annotations

from ipaddress import ip_address
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

PAYMENT_URL_LENGTH = 2000
PAYMENT_URL_RULE = (
    "is not a pay link: an https:// URL, or http:// on a loopback host (localhost, 127.0.0.1, [::1])"
)
_well_formed = URLValidator(schemes=["http", "https"])


def payment_url_problem(url: str) -> str:
    """Why ``url`` cannot be a pay link, or "" when it can (an empty one is no link)."""
    if not url:
        return ""
    if len(url) > PAYMENT_URL_LENGTH:
        return f"is {len(url)} characters long: at most {PAYMENT_URL_LENGTH}"
    try:
        _well_formed(url)
    except ValidationError:
        return PAYMENT_URL_RULE
    if url.startswith("https://"):
        return ""
    if url.startswith("http://") and _is_loopback(url):
        return ""
    return PAYMENT_URL_RULE


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def validate_payment_url(url: str) -> None:
    """The model field's validator: the rule's message, naming the field and the value."""
    if problem := payment_url_problem(url):
        raise ValidationError(f"payment_url={url!r} {problem}.", code="payment_url")
