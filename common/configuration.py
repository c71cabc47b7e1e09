"""How an invalid configuration is reported, by the settings and by every app alike.

Configuration is decided in one place, Django's system checks: every check tagged ``CONFIGURATION_TAG``
reports invalid variables (the settings' own, collected by ``config.environment.StrictEnv``, and each
app's). ``manage.py``, ``wsgi.py`` and the commands ask the checks and refuse to run with
``common.exit_codes.REFUSED_EXIT_CODE``."""

from __future__ import annotations

CONFIGURATION_TAG = "configuration"


def invalid_value(name: str, value: object, allowed: str) -> str:
    """The one form of every "bad value" message: the name, the value as given, what is allowed."""
    return f"{name}={value!r} is invalid: {allowed}."


def configuration_problems() -> list[str]:
    """Every invalid variable as the configuration checks report it; needs Django set up."""
    from django.core import checks

    return [message.msg for message in checks.run_checks(tags=[CONFIGURATION_TAG]) if message.is_serious()]


def describe_problems(problems: list[str]) -> str:
    return "Invalid configuration:\n" + "\n".join(f"  - {problem}" for problem in problems)
