"""The overdue check's configuration (docs/SPEC.md §5): parsed once, validated, immutable.

An invalid value is never replaced by a default. ``load_overdue_config`` raises ``ConfigError`` listing
every problem, each naming the variable, the value and what is allowed; the system check and the
commands show those messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from croniter import CroniterBadDateError, CroniterError, croniter
from django.conf import settings
from django.utils import timezone as django_timezone

from common.configuration import invalid_value
from common.dates import FIRST_DATE
from reminders.rules import Escalation

MAX_BATCH_SIZE = 10_000
# django-q2 keeps an interval in Schedule.minutes, a PositiveSmallIntegerField (at most 32767).
MAX_INTERVAL_HOURS = 32767 // 60
# Schedule.cron is a CharField(max_length=100).
MAX_CRON_LENGTH = 100
# A threshold beyond a century is a typo; it would also push date arithmetic towards date.min.
MAX_REMINDER_DAY = 36_500
# A courtesy reminder (docs/SPEC.md §13) comes at most a year before the due date.
MIN_REMINDER_DAY = -365
# The run log keeps the thresholds as text in a CharField(max_length=200).
MAX_REMINDER_DAYS_LENGTH = 200
WHOLE_NUMBER = re.compile(r"[0-9]+")
SIGNED_WHOLE_NUMBER = re.compile(r"-?[0-9]+")

VARIABLES = (
    "OVERDUE_INVOICE_SCHEDULE_TYPE",
    "OVERDUE_INVOICE_SCHEDULE_VALUE",
    "OVERDUE_INVOICE_BATCH_SIZE",
    "OVERDUE_INVOICE_TIMEZONE",
    "OVERDUE_INVOICE_REMINDER_DAYS",
    "REMINDER_ESCALATION",
)


# A dry run may look ahead this far.
DRY_RUN_LOOKAHEAD_YEARS = 10


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
    escalation: Escalation = Escalation.HIGHEST

    @property
    def interval_hours(self) -> int:
        return int(self.schedule_value)


def parse_schedule_type(value: str) -> str:
    if value not in ("cron", "interval"):
        raise ValueError("allowed values are 'cron' and 'interval'")
    return value


def parse_cron(value: str) -> str:
    expected = (
        f"expected a cron expression of 5 fields, e.g. '0 0 * * *', at most {MAX_CRON_LENGTH} characters"
    )
    if len(value.split()) != 5 or len(value) > MAX_CRON_LENGTH or not value.isascii():
        raise ValueError(expected)
    try:
        croniter(value, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError as exc:
        raise ValueError(f"{expected}, that matches at least one date (this one never fires)") from exc
    except CroniterError as exc:
        raise ValueError(expected) from exc
    return " ".join(value.split())


def _whole_number(value: str, low: int, high: int) -> int | None:
    if WHOLE_NUMBER.fullmatch(value) and low <= int(value) <= high:
        return int(value)
    return None


def parse_interval_hours(value: str) -> str:
    hours = _whole_number(value, 1, MAX_INTERVAL_HOURS)
    if hours is None:
        raise ValueError(f"expected a whole number of hours from 1 to {MAX_INTERVAL_HOURS}")
    return str(hours)


def parse_batch_size(value: str) -> int:
    size = _whole_number(value, 1, MAX_BATCH_SIZE)
    if size is None:
        raise ValueError(f"expected a whole number from 1 to {MAX_BATCH_SIZE}")
    return size


# Names the system's zone database carries that are not IANA zones: "localtime" is whatever this
# machine is set to (another machine judges another date), "Factory" an undefined placeholder.
NOT_IANA_ZONES = frozenset({"localtime", "Factory", "posixrules"})


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) - NOT_IANA_ZONES


def parse_timezone(value: str) -> ZoneInfo:
    # Only names settings.TIME_ZONE accepts too, so Q_CLUSTER's zone is always this one.
    if value not in _zone_names():
        raise ValueError("expected an IANA time zone name, e.g. 'UTC' or 'Europe/Paris'")
    return ZoneInfo(value)


def _day_threshold(value: str) -> int | None:
    if SIGNED_WHOLE_NUMBER.fullmatch(value) and MIN_REMINDER_DAY <= int(value) <= MAX_REMINDER_DAY:
        return int(value)
    return None


def parse_reminder_days(value: str) -> tuple[int, ...]:
    """Days after the due date, ascending; zero is the due date, negative days are before it."""
    parts = [_day_threshold(part.strip()) for part in value.split(",")]
    days = tuple(day for day in parts if day is not None)
    ascending = all(earlier < later for earlier, later in pairwise(days))
    if len(days) != len(parts) or not ascending or len(format_reminder_days(days)) > MAX_REMINDER_DAYS_LENGTH:
        raise ValueError(
            f"expected ascending whole numbers of days from {MIN_REMINDER_DAY} to {MAX_REMINDER_DAY} "
            "separated by commas (negative: before the due date), e.g. '1,7,30' or '-3,1,7,30', "
            f"at most {MAX_REMINDER_DAYS_LENGTH} characters"
        )
    return days


def parse_escalation(value: str) -> Escalation:
    allowed = [item.value for item in Escalation]
    if value not in allowed:
        raise ValueError(f"allowed values are {', '.join(allowed)}")
    return Escalation(value)


def format_reminder_days(days: tuple[int, ...]) -> str:
    """The thresholds as an operator writes them, e.g. ``1,7,30``."""
    return ",".join(str(day) for day in days)


def _parse(name: str, raw: Mapping[str, str], parser: Callable[[str], Any], problems: list[str]) -> Any:
    value = raw[name]
    try:
        return parser(value)
    except ValueError as exc:
        problems.append(invalid_value(name, value, str(exc)))
        return None


def parse_overdue_config(raw: Mapping[str, str]) -> OverdueConfig:
    """Parse the variables of docs/SPEC.md §5 (and §13's escalation) from ``raw``; raise ``ConfigError``
    naming every bad one.

    The schedule value is judged by the schedule type, so it is not judged while the type is invalid.
    """
    problems: list[str] = []
    schedule_type = _parse("OVERDUE_INVOICE_SCHEDULE_TYPE", raw, parse_schedule_type, problems)
    schedule_value = None
    if schedule_type is not None:
        value_parser = parse_interval_hours if schedule_type == "interval" else parse_cron
        schedule_value = _parse("OVERDUE_INVOICE_SCHEDULE_VALUE", raw, value_parser, problems)
    batch_size = _parse("OVERDUE_INVOICE_BATCH_SIZE", raw, parse_batch_size, problems)
    timezone = _parse("OVERDUE_INVOICE_TIMEZONE", raw, parse_timezone, problems)
    reminder_days = _parse("OVERDUE_INVOICE_REMINDER_DAYS", raw, parse_reminder_days, problems)
    escalation = _parse("REMINDER_ESCALATION", raw, parse_escalation, problems)
    if problems or schedule_value is None:
        raise ConfigError(problems)
    return OverdueConfig(schedule_type, schedule_value, batch_size, timezone, reminder_days, escalation)


def raw_settings() -> dict[str, str]:
    return {name: str(getattr(settings, name)) for name in VARIABLES}


@cache
def _cached_config(items: tuple[tuple[str, str], ...]) -> OverdueConfig:
    return parse_overdue_config(dict(items))


def load_overdue_config() -> OverdueConfig:
    """The configuration from Django settings, parsed once per distinct set of values."""
    return _cached_config(tuple(sorted(raw_settings().items())))


def today(config: OverdueConfig | None = None) -> date:
    """Today's date in the configured zone: the ``as_of`` of a run started now (docs/SPEC.md §3)."""
    zone = (config or load_overdue_config()).timezone
    return django_timezone.now().astimezone(zone).date()


def as_of_problem(as_of: date, *, today: date, dry_run: bool) -> str | None:
    """Why a run may not judge ``as_of``, or None. A real run judging a future date would remind invoices
    not yet due and, once they sit at their top threshold, silence their real reminders."""
    if as_of < FIRST_DATE:
        return f"as_of={as_of} is invalid: expected a date from {FIRST_DATE} on."
    if not dry_run and as_of > today:
        return (
            f"as_of={as_of} is invalid: a real run judges today ({today}) or an earlier date; "
            "use --dry-run to look ahead."
        )
    limit = today.replace(year=today.year + DRY_RUN_LOOKAHEAD_YEARS, day=min(today.day, 28))
    if as_of > limit:
        return f"as_of={as_of} is invalid: a dry run looks ahead at most to {limit}."
    return None
