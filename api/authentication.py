"""``Authorization: Bearer <key>``; the key is looked up by its SHA-256 (docs/SPEC.md §7)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from api.models import ApiToken
from api.tokens import api_token_for_key

KEYWORD = "Bearer"
# Keys in URLs end up in access logs, browser history and proxies: refuse them outright.
QUERY_STRING_TOKEN_NAMES = ("token", "access_token", "api_key")


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        _refuse_query_string_token(request)
        key = _bearer_key(request)
        if key is None:
            return None
        token = api_token_for_key(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This token has been revoked.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token's user is inactive.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{KEYWORD} realm="api"'


class CredentialsOptional(BearerTokenAuthentication):
    """For the public health endpoint: a valid token tells who asks (staff get details); any other
    credentials are ignored, as if none were sent, so a load balancer holding a stale, revoked or
    malformed token still gets 200 or 503, never 401."""

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            return None


def _refuse_query_string_token(request: Request) -> None:
    sent = [name for name in QUERY_STRING_TOKEN_NAMES if name in request.query_params]
    if sent:
        raise exceptions.AuthenticationFailed(
            f"A token in the query string ({sent[0]}=…) is not accepted: "
            f"send it as the header 'Authorization: {KEYWORD} <token>'."
        )


def _bearer_key(request: Request) -> str | None:
    """The key of a ``Bearer`` header; ``None`` for no header or another scheme."""
    parts = authentication.get_authorization_header(request).split()
    if not parts or parts[0].lower() != KEYWORD.lower().encode():
        return None
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed(
            f"Malformed Authorization header: expected '{KEYWORD} <token>' with no spaces in the token."
        )
    try:
        return parts[1].decode()
    except UnicodeDecodeError:
        raise exceptions.AuthenticationFailed("Malformed token: expected printable ASCII.") from None


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix=KEYWORD)
