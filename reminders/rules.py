"""The rules of a reminder (docs/SPEC.md §2, §3), as pure functions of their inputs."""

from __future__ import annotations

import functools
import sys
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from enum import StrEnum

from common.display import due_phrase
from invoicing.currency import minor_units, money

# Characters that must never reach a message or a mail header: control characters (CR, LF, NUL…),
# line and paragraph separators, and invisible format characters (bidi overrides, zero-width).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


class Escalation(StrEnum):
    """How an invoice's reminders follow each other (``REMINDER_ESCALATION``, docs/SPEC.md §13)."""

    # The highest threshold reached, skipping those a run came too late for (catch-up).
    HIGHEST = "highest"
    # The thresholds one by one, each at least the gap between them after the one before.
    IN_SEQUENCE = "in_sequence"


def days_overdue(*, due_date: date, as_of: date) -> int:
    """Whole days past the due date; an invoice due on ``as_of`` is 0 days overdue (not overdue), one due
    later a negative number (a courtesy reminder's, docs/SPEC.md §13)."""
    return (as_of - due_date).days


def days_overdue_sql(*, due_date: str, as_of: str) -> str:
    """``days_overdue`` in PostgreSQL over the SQL expressions ``due_date`` and ``as_of`` (there a date
    minus a date is whole days), for a statement that judges rows where they are stored.
    ``tests/reminders/test_rules.py`` pins it to ``days_overdue``."""
    return f"({as_of}::date - {due_date})"


def reached_threshold(days: int, thresholds: Sequence[int]) -> tuple[int, int] | None:
    """The highest threshold ``days`` overdue has reached and its level (1-based position), or None."""
    level = bisect_right(thresholds, days)
    return (thresholds[level - 1], level) if level else None


def is_owed(threshold: int, top_threshold: int | None) -> bool:
    """A reminder for ``threshold`` is owed unless one for it or a higher threshold exists (in days)."""
    return top_threshold is None or top_threshold < threshold


def next_in_sequence(
    days: int, thresholds: Sequence[int], top_threshold: int | None, top_days: int | None
) -> tuple[int, int] | None:
    """The threshold and level owed when reminders go in sequence, or None: the first threshold whatever
    the invoice's age, then the one above the highest reminded (``top_threshold``, made ``top_days``
    overdue) once reached and at least the gap between the two thresholds after that reminder."""
    if top_threshold is None or top_days is None:
        return (thresholds[0], 1) if days >= thresholds[0] else None
    level = bisect_right(thresholds, top_threshold)
    if level == len(thresholds):
        return None
    following = thresholds[level]
    if days < following or days - top_days < following - top_threshold:
        return None
    return following, level + 1


def owed_threshold(
    days: int,
    thresholds: Sequence[int],
    *,
    escalation: Escalation,
    top_threshold: int | None,
    top_days: int | None,
) -> tuple[int, int] | None:
    """The threshold and level of the reminder an invoice ``days`` overdue is owed, or None
    (docs/SPEC.md §3, §13)."""
    if escalation == Escalation.IN_SEQUENCE:
        return next_in_sequence(days, thresholds, top_threshold, top_days)
    reached = reached_threshold(days, thresholds)
    return reached if reached and is_owed(reached[0], top_threshold) else None


def plain_text(value: str) -> str:
    """``value`` with every control, separator and invisible format character replaced by a space."""
    # A printable string has none of them (Python's "printable" excludes all Other and Separator
    # categories but the space): most names and numbers skip the per-character look-up.
    if value.isprintable():
        return value
    return "".join(" " if unicodedata.category(char) in _UNSAFE_CATEGORIES else char for char in value)


@functools.cache
def _unsafe_class() -> str:
    """The characters ``plain_text`` replaces, as a PostgreSQL regular expression bracket expression of
    ``\\U`` escapes (NUL left out: a PostgreSQL text cannot hold it)."""
    ranges: list[tuple[int, int]] = []
    for code in range(1, sys.maxunicode + 1):
        if unicodedata.category(chr(code)) in _UNSAFE_CATEGORIES:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    parts = (f"\\U{low:08X}" + (f"-\\U{high:08X}" if high > low else "") for low, high in ranges)
    return "[" + "".join(parts) + "]"


def plain_text_sql(value: str) -> str:
    """``plain_text`` in PostgreSQL over the SQL expression ``value``."""
    return f"regexp_replace({value}, '{_unsafe_class()}', ' ', 'g')"


def _count_of_days_sql(days: str) -> str:
    # ``count_of(days, "day")`` for days >= 1: thousands grouped by a literal comma.
    return f"to_char({days}, 'FM9,999,999,999') || CASE WHEN {days} = 1 THEN ' day' ELSE ' days' END"


def due_phrase_sql(days: str) -> str:
    """``common.display.due_phrase`` in PostgreSQL over the integer SQL expression ``days``."""
    return (
        f"CASE WHEN {days} > 0 THEN {_count_of_days_sql(days)} || ' overdue' "
        f"WHEN {days} = 0 THEN 'due today' "
        f"ELSE 'due in ' || {_count_of_days_sql(f'-({days})')} END"
    )


@functools.cache
def _minor_units_sql(currency: str) -> str:
    # ``invoicing.currency.minor_units`` for every currency babel knows with other than two.
    from babel.numbers import list_currencies

    other = sorted((code, minor_units(code)) for code in list_currencies() if minor_units(code) != 2)
    cases = " ".join(f"WHEN '{code}' THEN {units}" for code, units in other if code.isalnum())
    return f"CASE {currency} {cases} ELSE 2 END"


def money_sql(amount: str, currency: str) -> str:
    """``invoicing.currency.money`` in PostgreSQL: round() of a numeric rounds half away from zero, as
    ROUND_HALF_UP does."""
    return f"{currency} || ' ' || round({amount}, {_minor_units_sql(currency)})::text"


def reminder_message_sql(*, customer: str, number: str, days: str, currency: str, balance: str) -> str:
    """``reminder_message`` in PostgreSQL over SQL expressions, for a statement that writes reminders
    where the invoices are stored. ``tests/reminders/test_rules.py`` pins it to ``reminder_message``."""
    return (
        f"'Dear ' || {plain_text_sql(customer)} || ', invoice ' || {plain_text_sql(number)} || ' is ' || "
        f"{due_phrase_sql(days)} || '. Balance due: ' || {money_sql(balance, currency)} || '.'"
    )


def reached_threshold_sql(days: str, thresholds: str) -> str:
    """``reached_threshold`` in PostgreSQL: a lateral subquery giving ``threshold`` (NULL when none is
    reached) and ``level`` for the integer expression ``days`` and the sorted integer array ``thresholds``."""
    return f"(SELECT max(t) AS threshold, count(*) AS level FROM unnest({thresholds}) AS t WHERE t <= {days})"


def reminder_message(*, customer: str, number: str, days: int, currency: str, balance: Decimal) -> str:
    return (
        f"Dear {plain_text(customer)}, invoice {plain_text(number)} is {due_phrase(days)}. "
        f"Balance due: {money(balance, currency)}."
    )
