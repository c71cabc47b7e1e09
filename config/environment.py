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
import re
import warnings
from collections.abc import Mapping
from typing import Any

import environ

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
THROTTLE_RATE = re.compile(r"^[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)$")


class StrictEnv:
    def __init__(self, environ_: Mapping[str, str] = os.environ) -> None:
        self.environ = environ_
        self.problems: list[str] = []

    def _problem(self, name: str, value: str, allowed: str) -> None:
        self.problems.append(f"{name}={value!r} is invalid: {allowed}.")

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

    def integer(self, name: str, default: int, *, minimum: int = 0) -> int:
        value = self.environ.get(name)
        if value is None:
            return default
        if value.isascii() and value.isdigit() and int(value) >= minimum:
            return int(value)
        self._problem(name, value, f"expected a whole number of at least {minimum}")
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


# Configuration is decided in one place, Django's system checks: every check tagged CONFIGURATION_TAG
# reports invalid variables (the settings' own and each app's). manage.py, wsgi.py and the commands ask
# the checks and refuse to run with this exit code.
CONFIGURATION_TAG = "configuration"
CONFIG_EXIT_CODE = 2


def configuration_problems() -> list[str]:
    """Every invalid variable as the configuration checks report it; needs Django set up."""
    from django.core import checks

    return [message.msg for message in checks.run_checks(tags=[CONFIGURATION_TAG]) if message.is_serious()]


def describe_problems(problems: list[str]) -> str:
    return "Invalid configuration:\n" + "\n".join(f"  - {problem}" for problem in problems)
