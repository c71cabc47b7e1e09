"""The send window (docs/SPEC.md §13): when reminders may go out, in the configured zone, public holidays
left out. Pure functions of their inputs; ``REMINDER_SEND_WINDOW`` and ``REMINDER_HOLIDAYS`` are parsed
here, by the settings at startup (a bad value is refused there) and by ``send_window`` at run time.

A window is days of the week and one span of wall-clock time, ``mon-fri 08:00-18:00``: it is open at an
instant whose local date is one of the days and not a holiday, and whose local time is in the span (the
end excluded). Wall-clock rules make DST days behave as the clock on the wall says: a span inside the
hour a spring-forward skips does not open that day; a repeated hour is in the span twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from common.configuration import invalid_value

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALWAYS = "always"
WINDOW_FORM = (
    "expected 'always', or days and/or a time span, e.g. 'mon-fri 08:00-18:00', 'mon,wed,fri', "
    "'mon-fri,sun 09:00-17:30' or '08:00-18:00' (days mon..sun as ranges or lists; times HH:MM, the end "
    "after the start, 24:00 for midnight at the end)"
)
HOLIDAYS_FORM = "expected a country code, optionally with a subdivision, e.g. DE, DE-BY, AT, US-CA"
_DAY = "|".join(DAY_NAMES)
_DAYS = re.compile(rf"(?:{_DAY})(?:-(?:{_DAY}))?(?:,(?:{_DAY})(?:-(?:{_DAY}))?)*\Z")
_SPAN = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})\Z")
# Every allowed weekday falls on a holiday for at most a few weeks in a row: a year ahead is plenty.
SEARCH_DAYS = 400
END_OF_DAY = time.max
UTC_ZONE = ZoneInfo("UTC")


class WindowError(ValueError):
    """A value of ``REMINDER_SEND_WINDOW`` or ``REMINDER_HOLIDAYS`` that is not one; the message names the
    variable, the value and the accepted form."""


@dataclass(frozen=True)
class SendWindow:
    """Days of the week (0 = Monday), a span of local time ``start``..``end`` (end excluded; ``time.max``
    for midnight at the end), a zone, and the public holidays on which it stays shut."""

    days: frozenset[int] = frozenset(range(7))
    start: time = time(0, 0)
    end: time = END_OF_DAY
    zone: ZoneInfo = UTC_ZONE
    holiday: Callable[[date], bool] | None = None
    text: str = ALWAYS
    holidays_text: str = ""

    @property
    def always(self) -> bool:
        whole_days = self.start == time(0, 0) and self.end == END_OF_DAY
        return len(self.days) == 7 and whole_days and self.holiday is None

    def is_open(self, at: datetime) -> bool:
        """Whether a sender may send at the instant ``at`` (an aware datetime)."""
        local = at.astimezone(self.zone)
        return self._day_open(local.date()) and self._in_span(local.time())

    def next_open(self, at: datetime) -> datetime | None:
        """``at`` when the window is open then, otherwise the first instant after it when it opens; None
        when it never opens within ``SEARCH_DAYS`` (every allowed day a holiday)."""
        if self.is_open(at):
            return at
        local = at.astimezone(self.zone)
        for offset in range(SEARCH_DAYS):
            day = local.date() + timedelta(days=offset)
            if not self._day_open(day):
                continue
            opening = self._opening(day)
            if opening > at and self.is_open(opening):
                return opening
        return None

    def open_since(self, at: datetime) -> datetime | None:
        """When the open stretch holding ``at`` began (looking back at most a week); None when the window
        is shut at ``at``, or always open."""
        if self.always or not self.is_open(at):
            return None
        since = self._opening(at.astimezone(self.zone).date())
        for _ in range(7):
            just_before = since - timedelta(microseconds=1)
            if not self.is_open(just_before):
                break
            since = self._opening(just_before.astimezone(self.zone).date())
        return since

    def describe(self) -> str:
        text = self.text
        if self.holidays_text:
            text += f", closed on public holidays of {self.holidays_text}"
        return f"{text} ({self.zone.key})"

    def closed_note(self, at: datetime) -> str:
        """What a sender that found the window shut at ``at`` says: the window, and when it opens next
        in its zone."""
        opening = self.next_open(at)
        when = (
            f"it opens next at {opening.astimezone(self.zone):%Y-%m-%d %H:%M %Z} ({self.zone.key})"
            if opening
            else f"it does not open within {SEARCH_DAYS} days"
        )
        return f"Outside the send window {self.describe()}: nothing is sent now; {when}."

    def _in_span(self, moment: time) -> bool:
        # The end is excluded, but a span to midnight (24:00) holds the day's last instant.
        return self.start <= moment and (moment < self.end or self.end == END_OF_DAY)

    def _day_open(self, day: date) -> bool:
        return day.weekday() in self.days and not (self.holiday and self.holiday(day))

    def _opening(self, day: date) -> datetime:
        """The first instant of ``day`` whose local wall time is at or past ``start``: on a spring-forward
        day a start inside the skipped hour opens when the clock jumps past it."""
        wall = datetime.combine(day, self.start)
        early = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        late = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        if early >= late:  # the wall time exists (once, or twice on a fall-back day: the first one)
            return late if _wall(late, self.zone) == wall else early
        # Skipped by the clock: the first instant after ``early`` whose wall time is at or past the start.
        low, high = early, late
        while high - low > timedelta(seconds=1):
            middle = low + (high - low) / 2
            if _wall(middle, self.zone) >= wall:
                high = middle
            else:
                low = middle
        return high.replace(microsecond=0)


def _wall(at: datetime, zone: ZoneInfo) -> datetime:
    return at.astimezone(zone).replace(tzinfo=None)


def parse_window(value: str, *, name: str = "REMINDER_SEND_WINDOW") -> tuple[frozenset[int], time, time]:
    """The days, start and end of a window's text; raises ``WindowError`` naming ``name`` and the form."""
    text = " ".join(value.lower().split())
    if text in ("", ALWAYS):
        return frozenset(range(7)), time(0, 0), END_OF_DAY
    parts = text.split(" ")
    days: frozenset[int] = frozenset(range(7))
    span = (time(0, 0), END_OF_DAY)
    if len(parts) > 2:
        raise WindowError(invalid_value(name, value, WINDOW_FORM))
    if _DAYS.match(parts[0]):
        days = _days(parts[0])
        parts = parts[1:]
    if parts:
        span = _span(parts[0], name=name, value=value)
    return days, *span


def _days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in text.split(","):
        first, _, last = item.partition("-")
        start = DAY_NAMES.index(first)
        stop = DAY_NAMES.index(last or first)
        days.update((start + step) % 7 for step in range((stop - start) % 7 + 1))
    return frozenset(days)


def _span(text: str, *, name: str, value: str) -> tuple[time, time]:
    found = _SPAN.match(text)
    if not found:
        raise WindowError(invalid_value(name, value, WINDOW_FORM))
    start_h, start_m, end_h, end_m = (int(group) for group in found.groups())
    if start_h > 23 or start_m > 59 or end_m > 59 or end_h > 24 or (end_h == 24 and end_m):
        raise WindowError(invalid_value(name, value, WINDOW_FORM))
    start = time(start_h, start_m)
    end = END_OF_DAY if end_h == 24 else time(end_h, end_m)
    if end <= start:
        raise WindowError(invalid_value(name, value, WINDOW_FORM))
    return start, end


def holiday_calendar(value: str, *, name: str = "REMINDER_HOLIDAYS") -> Callable[[date], bool] | None:
    """Whether a date is a public holiday of the country (and subdivision) ``value`` names (``DE``,
    ``DE-BY``), from the ``holidays`` package; None for an empty value. Raises ``WindowError`` naming an
    unknown country or subdivision and those there are."""
    text = value.strip()
    if not text:
        return None
    import holidays  # over half a second to import: only when a country is named

    country, _, subdivision = text.partition("-")
    country = country.upper()
    supported = holidays.list_supported_countries()
    if country not in supported:
        rule = f"{country!r} is not a country the holidays package knows; {HOLIDAYS_FORM}"
        raise WindowError(invalid_value(name, value, rule))
    known = {code.upper(): code for code in supported[country]}
    if subdivision and subdivision.upper() not in known:
        listed = ", ".join(sorted(supported[country])) or "none"
        rule = f"{subdivision!r} is not a subdivision of {country} (those are: {listed})"
        raise WindowError(invalid_value(name, value, rule))
    subdiv = known[subdivision.upper()] if subdivision else None
    calendar = holidays.country_holidays(country, subdiv=subdiv)
    return calendar.__contains__


def window_problems(window: str, holidays_value: str) -> list[str]:
    """What is wrong with the two variables, each message naming the variable, value and form."""
    problems = []
    for check in (lambda: parse_window(window), lambda: holiday_calendar(holidays_value)):
        try:
            check()
        except WindowError as exc:
            problems.append(str(exc))
    return problems


@cache
def build_window(window: str, holidays_value: str, zone: str) -> SendWindow:
    """The window of these settings' values, made once per process (the holiday calendar fills itself a
    year at a time as dates are asked)."""
    days, start, end = parse_window(window)
    return SendWindow(
        days=days,
        start=start,
        end=end,
        zone=ZoneInfo(zone),
        holiday=holiday_calendar(holidays_value),
        text=" ".join(window.split()) or ALWAYS,
        holidays_text=holidays_value.strip().upper(),
    )


def send_window() -> SendWindow:
    """The window of the current settings: ``REMINDER_SEND_WINDOW`` and ``REMINDER_HOLIDAYS`` in
    ``TIME_ZONE`` (the zone of ``OVERDUE_INVOICE_TIMEZONE``)."""
    from django.conf import settings

    return build_window(settings.REMINDER_SEND_WINDOW, settings.REMINDER_HOLIDAYS, settings.TIME_ZONE)
