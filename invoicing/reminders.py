"""The rules of a reminder (SPEC §3 and §2), as pure functions of their inputs."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import date
from decimal import Decimal


def days_overdue(*, due_date: date, as_of: date) -> int:
    """Whole days past the due date; an invoice due on ``as_of`` is 0 days overdue (not overdue)."""
    return (as_of - due_date).days


def reminder_level(days: int, thresholds: Sequence[int]) -> int:
    """The highest level reached after ``days`` overdue: the count of thresholds at or below it (0: none)."""
    return bisect_right(thresholds, days)


def reminder_message(*, customer: str, number: str, days: int, currency: str, balance: Decimal) -> str:
    unit = "day" if days == 1 else "days"
    return (
        f"Dear {customer}, invoice {number} is {days} {unit} overdue. Balance due: {currency} {balance:.2f}."
    )
