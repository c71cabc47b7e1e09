"""How times and durations read in the admin: a time always with its zone, a duration in a unit it
does not round to zero in."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def moment(value: datetime | None, *, seconds: bool = True) -> str:
    """``2026-02-10 00:00:04 CET``: in the admin's zone (TIME_ZONE), with the zone's abbreviation."""
    if value is None:
        return "—"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


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
    return f"{number} {unit}{'' if number == 1 else 's'}"
