"""The overdue check's configuration (SPEC §5): parsed once, validated, immutable.

An invalid value is never replaced by a default. ``load_overdue_config`` raises ``ConfigError`` listing
every problem, each naming the variable, the value and what is allowed; the system check and the
commands show those messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from django.conf import settings
from django.utils import timezone as django_timezone

MAX_BATCH_SIZE = 10_000
# django-q2 keeps an interval in Schedule.minutes, a PositiveSmallIntegerField (at most 32767).
MAX_INTERVAL_HOURS = 32767 // 60

VARIABLES = (
    "OVERDUE_INVOICE_SCHEDULE_TYPE",
    "OVERDUE_INVOICE_SCHEDULE_VALUE",
    "OVERDUE_INVOICE_BATCH_SIZE",
    "OVERDUE_INVOICE_TIMEZONE",
    "OVERDUE_INVOICE_REMINDER_DAYS",
)


class ConfigError(Exception):
    """One or more configuration variables are invalid; ``problems`` holds one message each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class OverdueConfig:
    schedule_type: str
    schedule_value: str
    batch_size: int
    timezone: ZoneInfo
    reminder_days: tuple[int, ...]

    @property
    def interval_hours(self) -> int:
        return int(self.schedule_value)


def _problem(name: str, value: str, allowed: str) -> str:
    return f"{name}={value!r} is invalid: {allowed}."


def parse_schedule_type(value: str) -> str:
    if value not in ("cron", "interval"):
        raise ValueError("allowed values are 'cron' and 'interval'")
    return value


def parse_cron(value: str) -> str:
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError("expected a cron expression of 5 fields, e.g. '0 0 * * *'")
    return value


def parse_interval_hours(value: str) -> str:
    if not value.isdigit() or not 1 <= int(value) <= MAX_INTERVAL_HOURS:
        raise ValueError(f"expected a whole number of hours from 1 to {MAX_INTERVAL_HOURS}")
    return str(int(value))


def parse_batch_size(value: str) -> int:
    if not value.strip().isdigit() or not 1 <= int(value) <= MAX_BATCH_SIZE:
        raise ValueError(f"expected a whole number from 1 to {MAX_BATCH_SIZE}")
    return int(value)


def parse_timezone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("expected an IANA time zone name, e.g. 'UTC' or 'Europe/Paris'") from exc


def parse_reminder_days(value: str) -> tuple[int, ...]:
    allowed = "expected ascending positive whole numbers separated by commas, e.g. '1,7,30'"
    parts = [part.strip() for part in value.split(",")]
    if not all(part.isdigit() and int(part) >= 1 for part in parts):
        raise ValueError(allowed)
    days = tuple(int(part) for part in parts)
    if any(later <= earlier for earlier, later in pairwise(days)):
        raise ValueError(allowed)
    return days


def _parse(name: str, raw: Mapping[str, str], parser: Callable[[str], Any], problems: list[str]) -> Any:
    value = raw[name]
    try:
        return parser(value)
    except ValueError as exc:
        problems.append(_problem(name, value, str(exc)))
        return None


def parse_overdue_config(raw: Mapping[str, str]) -> OverdueConfig:
    """Parse the five variables of SPEC §5 from ``raw``; raise ``ConfigError`` naming every bad one."""
    problems: list[str] = []
    schedule_type = _parse("OVERDUE_INVOICE_SCHEDULE_TYPE", raw, parse_schedule_type, problems)
    value_parser = parse_interval_hours if schedule_type == "interval" else parse_cron
    schedule_value = _parse("OVERDUE_INVOICE_SCHEDULE_VALUE", raw, value_parser, problems)
    batch_size = _parse("OVERDUE_INVOICE_BATCH_SIZE", raw, parse_batch_size, problems)
    timezone = _parse("OVERDUE_INVOICE_TIMEZONE", raw, parse_timezone, problems)
    reminder_days = _parse("OVERDUE_INVOICE_REMINDER_DAYS", raw, parse_reminder_days, problems)
    if problems:
        raise ConfigError(problems)
    return OverdueConfig(schedule_type, schedule_value, batch_size, timezone, reminder_days)


def raw_settings() -> dict[str, str]:
    return {name: str(getattr(settings, name)) for name in VARIABLES}


@cache
def _cached_config(items: tuple[tuple[str, str], ...]) -> OverdueConfig:
    return parse_overdue_config(dict(items))


def load_overdue_config() -> OverdueConfig:
    """The configuration from Django settings, parsed once per distinct set of values."""
    return _cached_config(tuple(sorted(raw_settings().items())))


def today(config: OverdueConfig | None = None) -> date:
    """Today's date in the configured zone: the ``as_of`` of a run started now (SPEC §3)."""
    zone = (config or load_overdue_config()).timezone
    return django_timezone.now().astimezone(zone).date()
