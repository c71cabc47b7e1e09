"""Bearer tokens for the monitoring API: issued once, stored only as SHA-256, revocable."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from api.models import ApiToken

PREFIX_LENGTH = 8
# Recording every request would turn each read into a write; a minute is precise enough for audits.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(Exception):
    """A token could not be issued, found or revoked; the message says why."""


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    key: str


def api_token_create(*, username: str, name: str = "") -> IssuedToken:
    """Issue a token to the active user ``username``; the key is returned here and never again.

    Raises ``TokenError`` for an unknown or inactive user."""
    user = _active_user(username)
    key = _unused_key()
    token = ApiToken(user=user, name=name, prefix=key[:PREFIX_LENGTH], key_hash=ApiToken.hash_key(key))
    token.full_clean()
    token.save()
    return IssuedToken(token=token, key=key)


def _active_user(username: str) -> Any:
    user_model = get_user_model()
    try:
        user = user_model._default_manager.get_by_natural_key(username)
    except user_model.DoesNotExist:
        raise TokenError(f"No user named {username!r}: create the user first.") from None
    if not user.is_active:
        raise TokenError(f"User {username!r} is inactive: only active users can be issued a token.")
    return user


def _unused_key() -> str:
    # Distinct prefixes let an operator revoke a token by its prefix without ambiguity; and a prefix
    # starting with "-" would be read as an option by `revoke_api_token`.
    while True:
        key = secrets.token_urlsafe(32)
        if key[0] != "-" and not ApiToken.objects.filter(prefix=key[:PREFIX_LENGTH]).exists():
            return key


def api_token_revoke(*, prefix: str, now: datetime | None = None) -> ApiToken:
    """Revoke the token whose key starts with ``prefix``; raises ``TokenError`` if there is none."""
    token = ApiToken.objects.filter(prefix=prefix[:PREFIX_LENGTH]).first()
    if len(prefix) < PREFIX_LENGTH or token is None:
        raise TokenError(
            f"No token with prefix {prefix!r}: give the first {PREFIX_LENGTH} characters of the key "
            "(the prefix column of the admin's token list)."
        )
    if token.revoked_at is None:
        api_tokens_revoke(tokens=ApiToken.objects.filter(pk=token.pk), now=now)
        token.refresh_from_db()
    return token


def api_tokens_revoke(*, tokens: QuerySet[ApiToken], now: datetime | None = None) -> int:
    """Revoke the tokens not yet revoked; returns how many were."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=now or timezone.now())


def api_token_for_key(*, key: str, now: datetime | None = None) -> ApiToken | None:
    """The token with this key, revoked or not, and its user; records its use at most once a minute."""
    token = ApiToken.objects.select_related("user").filter(key_hash=ApiToken.hash_key(key)).first()
    if token is not None and token.revoked_at is None:
        _record_use(token, now=now or timezone.now())
    return token


def _record_use(token: ApiToken, *, now: datetime) -> None:
    if token.last_used_at is not None and token.last_used_at > now - LAST_USED_RESOLUTION:
        return
    # Conditional, so concurrent requests with one token write it once.
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
    if ApiToken.objects.filter(stale, pk=token.pk).update(last_used_at=now):
        token.last_used_at = now
