"""How times, figures and durations read on the desk: a time always with its zone, one date and one
datetime format, thousands grouped, a duration in a unit it does not round to zero in."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.utils import formats, timezone


def moment(value: datetime | None) -> str:
    """``2026-02-10 00:00 CET``: in the admin's zone (TIME_ZONE) with the zone's abbreviation, in the
    desk's one DATETIME_FORMAT (config/formats)."""
    if value is None:
        return "—"
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")


def day(value: date | None) -> str:
    """``2026-02-10``: the desk's one DATE_FORMAT (config/formats)."""
    return "—" if value is None else formats.date_format(value)


def grouped(number: Decimal | int) -> str:
    """``42932722.24`` as ``42,932,722.24``, ``1151`` as ``1,151``: thousands grouped, the digits after
    the point kept as they are (an amount comes in its currency's minor units)."""
    return f"{number:,}"


def duration(seconds: float | None) -> str:
    """``85 ms``, ``4.2 s``, ``8 min 07 s``, ``2 h 05 min``; ``—`` while unknown (a run still running)."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def count_of(number: int, unit: str) -> str:
    """``1 day``, ``7 days``, ``0 invoices``: a number with its unit, plural unless it is one."""
    return f"{grouped(number)} {unit}{'' if number == 1 else 's'}"


def due_phrase(days: int) -> str:
    """``3 days overdue``, ``due today``, ``due in 3 days``: an invoice ``days`` overdue in words."""
    if days > 0:
        return f"{count_of(days, 'day')} overdue"
    return "due today" if days == 0 else f"due in {count_of(-days, 'day')}"


def threshold_phrase(days: int) -> str:
    """A reminder's threshold in words: ``7 days``, ``on the due date``, ``3 days before due``."""
    if days > 0:
        return count_of(days, "day")
    return "on the due date" if days == 0 else f"{count_of(-days, 'day')} before due"


def days_overdue_text(days: int) -> str:
    """A days overdue column's cell: ``44``; before the due date ``due in 3 days``, ``due today``."""
    return f"{days:,}" if days > 0 else due_phrase(days)
