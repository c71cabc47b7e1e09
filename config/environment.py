"""Strict reading of settings from the environment.

django-environ's casts replace a bad boolean by false, treat a value starting with ``$`` as the name of
another variable, and stop settings with a traceback on a bad number. Here every value is read as
written, and a bad one is recorded as a problem that names the variable, the value and what is
allowed; the default stands in only so that Django can load far enough to report it. ``manage.py``
then refuses every command with exit 2, ``manage.py check`` lists the problems (``config.E001``), and
the WSGI application refuses to start.
"""

from __future__ import annotations

import os
import pkgutil
import re
import warnings
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import environ
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from common.configuration import invalid_value

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
THROTTLE_RATE = re.compile(r"^[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)$")


# Our SMTP backend: Django's, except that a refused To address is not hidden by an accepted Bcc copy.
SMTP_BACKEND = "reminders.mail.SMTPEmailBackend"
EML_FOLDER_BACKEND = "reminders.mail.EmlFolderBackend"
DEFAULT_EMAIL_TIMEOUT = 30
# ``anymail://<esp>``: the provider's HTTP API through django-anymail (docs/delivery.md, "Providers").
ANYMAIL_SCHEME = "anymail://"
# Modules of anymail.backends that are not a provider (or an old name of one).
_NOT_PROVIDERS = frozenset({"base", "base_requests", "console", "test", "sendinblue"})
# Anymail settings that are not text, read from their ANYMAIL_<NAME> variable as these types.
_ANYMAIL_BOOLEANS = frozenset(
    {"IGNORE_RECIPIENT_STATUS", "IGNORE_UNSUPPORTED_FEATURES", "DEBUG_API_REQUESTS"}
)
_ANYMAIL_NUMBERS = frozenset({"REQUESTS_TIMEOUT"})


def anymail_providers() -> tuple[str, ...]:
    """The providers the installed django-anymail has a backend for (``postmark``, ``mailgun`` …)."""
    import anymail.backends

    return tuple(
        sorted(
            module.name
            for module in pkgutil.iter_modules(anymail.backends.__path__)
            if module.name not in _NOT_PROVIDERS
        )
    )


def is_email_address(value: str) -> bool:
    if "\n" in value or "\r" in value:
        return False
    _, address = parseaddr(value)
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _email_config(url: str) -> dict[str, Any] | None:
    try:
        config = environ.Env.email_url_config(url)
    except Exception:  # django-environ raises several kinds for a bad URL; all mean the same here
        return None
    if config["EMAIL_BACKEND"].endswith("smtp.EmailBackend") and not config.get("EMAIL_HOST"):
        return None
    timeout = config.get("OPTIONS", {}).pop("TIMEOUT", DEFAULT_EMAIL_TIMEOUT)
    if not isinstance(timeout, int) or timeout < 1:
        return None
    config.setdefault("EMAIL_TIMEOUT", timeout)
    return config


def _email_settings(config: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    backend = config["EMAIL_BACKEND"]
    if backend.endswith("smtp.EmailBackend"):
        backend = SMTP_BACKEND
    elif backend.endswith("filebased.EmailBackend"):
        backend = EML_FOLDER_BACKEND
    return {
        "EMAIL_BACKEND": backend,
        "EMAIL_HOST": config.get("EMAIL_HOST") or "localhost",
        "EMAIL_PORT": config.get("EMAIL_PORT") or 25,
        "EMAIL_HOST_USER": config.get("EMAIL_HOST_USER") or "",
        "EMAIL_HOST_PASSWORD": config.get("EMAIL_HOST_PASSWORD") or "",
        "EMAIL_USE_TLS": bool(config.get("EMAIL_USE_TLS")),
        "EMAIL_USE_SSL": bool(config.get("EMAIL_USE_SSL")),
        "EMAIL_TIMEOUT": config["EMAIL_TIMEOUT"],
        "EMAIL_FILE_PATH": str(base_dir / config["EMAIL_FILE_PATH"]) if config.get("EMAIL_FILE_PATH") else "",
    }


class StrictEnv:
    def __init__(self, environ_: Mapping[str, str] = os.environ) -> None:
        self.environ = environ_
        self.problems: list[str] = []

    def _problem(self, name: str, value: str, allowed: str) -> None:
        self.problems.append(invalid_value(name, value, allowed))

    def text(self, name: str, default: str) -> str:
        return self.environ.get(name, default)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.environ.get(name)
        if value is None:
            return default
        if value.strip().lower() in TRUE | FALSE:
            return value.strip().lower() in TRUE
        self._problem(name, value, "expected one of 1, 0, true, false, yes, no, on, off")
        return default

    def integer(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        value = self.environ.get(name)
        if value is None:
            return default
        if value.isascii() and value.isdigit() and minimum <= int(value) <= (maximum or int(value)):
            return int(value)
        span = f"from {minimum} to {maximum}" if maximum else f"of at least {minimum}"
        self._problem(name, value, f"expected a whole number {span}")
        return default

    def comma_list(self, name: str, default: list[str]) -> list[str]:
        value = self.environ.get(name)
        if value is None:
            return default
        return [item.strip() for item in value.split(",") if item.strip()]

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.environ.get(name, default)
        if value.upper() in allowed:
            return value.upper()
        self._problem(name, value, f"allowed values are {', '.join(allowed)}")
        return default

    def matching(self, name: str, default: str, pattern: re.Pattern[str], allowed: str) -> str:
        value = self.environ.get(name, default)
        if pattern.match(value):
            return value
        self._problem(name, value, allowed)
        return default

    def email_address(self, name: str, default: str) -> str:
        """One address, with or without a display name: ``billing@example.com``, ``Billing <b@x.example>``."""
        value = self.environ.get(name, default)
        if is_email_address(value):
            return value
        self._problem(name, value, "expected an email address such as Billing <billing@example.com>")
        return default

    def email_list(self, name: str) -> list[str]:
        """Comma-separated addresses; unset or empty is an empty list."""
        value = self.environ.get(name, "")
        addresses = [item.strip() for item in value.split(",") if item.strip()]
        if all(is_email_address(address) for address in addresses):
            return addresses
        self._problem(name, value, "expected comma-separated email addresses, e.g. billing@example.com")
        return []

    def email_url(self, name: str, default: str, *, base_dir: Path) -> dict[str, Any]:
        """Django's EMAIL_* settings from a django-environ email URL (``smtp://``, ``smtp+tls://``,
        ``consolemail://``, ``filemail:///folder`` …). A ``filemail`` folder is relative to ``base_dir``;
        ``?timeout=N`` sets the SMTP timeout in seconds (default 30)."""
        value = self.environ.get(name, default)
        if value.startswith(ANYMAIL_SCHEME):
            return _email_settings(
                self._anymail_config(name, value) or _email_config(default) or {}, base_dir
            )
        config = _email_config(value)
        if config is None:
            shown = _without_password(value)
            schemes = ", ".join(f"{scheme}://" for scheme in environ.Env.EMAIL_SCHEMES)
            self._problem(
                name, shown, f"expected a URL with one of the schemes {schemes} (smtp needs a host)"
            )
            config = _email_config(default) or {}
        return _email_settings(config, base_dir)

    def _anymail_config(self, name: str, value: str) -> dict[str, Any] | None:
        provider = value.removeprefix(ANYMAIL_SCHEME).strip("/")
        providers = anymail_providers()
        if provider not in providers:
            self._problem(name, value, f"expected anymail://<provider>, one of {', '.join(providers)}")
            return None
        return {
            "EMAIL_BACKEND": f"anymail.backends.{provider}.EmailBackend",
            "EMAIL_TIMEOUT": DEFAULT_EMAIL_TIMEOUT,
        }

    def anymail(self, prefix: str = "ANYMAIL_") -> dict[str, Any]:
        """django-anymail's settings: each ``ANYMAIL_<NAME>`` variable as the setting ``<NAME>``
        (``ANYMAIL_POSTMARK_SERVER_TOKEN`` → ``POSTMARK_SERVER_TOKEN``), as text except the few anymail
        reads as a boolean or a number."""
        found: dict[str, Any] = {}
        for variable in sorted(self.environ):
            setting = variable.removeprefix(prefix)
            if not variable.startswith(prefix) or not setting:
                continue
            if setting in _ANYMAIL_BOOLEANS:
                found[setting] = self.boolean(variable, default=False)
            elif setting in _ANYMAIL_NUMBERS:
                found[setting] = self.integer(variable, default=30, minimum=1)
            else:
                found[setting] = self.environ[variable]
        return found

    def database(self, name: str, default: str) -> dict[str, Any]:
        value = self.environ.get(name, default)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Engine not recognized": reported below, by name
                config = environ.Env.db_url_config(value)
        except Exception:  # django-environ raises several kinds; all mean the same here
            config = {}
        if config.get("ENGINE") and (config.get("NAME") or config["ENGINE"].endswith("sqlite3")):
            return config
        self._problem(name, value, "expected a URL such as postgres://user@host:5432/name or sqlite:///path")
        return environ.Env.db_url_config(default)
