"""Dates and amounts written for a customer's language (docs/SPEC.md §13), with Babel: ``1.234,50 €`` and
``31. Januar 2026`` in German, ``€1,234.50`` and ``January 31, 2026`` in English. Amounts are first
rounded half up to the currency's minor units, as everywhere else (``JPY 123457``).

Babel formats an amount in over 100 µs, several times per message; so Babel is asked once per currency
and language for the amount's shape (what stands before and after the digits, the separators, the
grouping), and each amount is laid into it. ``tests/reminders/test_locales.py`` pins ``money_in`` to
Babel's ``format_currency`` for any amount, currency and language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache, lru_cache

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, get_decimal_symbol, get_group_symbol
from django.utils.translation import to_locale

from common.display import due_phrase
from invoicing.currency import in_minor_units, minor_units

FORMATTED_DATES = 4_096
_DIGITS = re.compile(r"\d")
_NO_BREAK = "\xa0"


@cache
def babel_locale(language: str) -> Locale:
    """Babel's locale of a Django language code (``de``, ``pt-br``)."""
    return Locale.parse(to_locale(language))


@dataclass(frozen=True)
class MoneyShape:
    prefix: str
    suffix: str
    decimal: str
    group: str
    grouping: tuple[int, int]
    places: int

    def write(self, amount: Decimal) -> str:
        whole, _, fraction = f"{abs(amount):.{self.places}f}".partition(".")
        text = _grouped(whole, self.group, self.grouping) + (self.decimal + fraction if fraction else "")
        return ("-" if amount < 0 else "") + self.prefix + text + self.suffix


@cache
def money_shape(currency: str, language: str) -> MoneyShape:
    """How ``language`` writes an amount of ``currency``, read off Babel's own writing of zero."""
    locale = babel_locale(language)
    probe = format_currency(Decimal(0), currency, locale=locale)
    digits = [found.start() for found in _DIGITS.finditer(probe)]
    prefix, suffix = probe[: digits[0]], probe[digits[-1] + 1 :]
    # CLDR puts a space between a currency code and the digits after it (CHF 1.25); Babel leaves it out.
    if prefix[-1:].isalpha():
        prefix += _NO_BREAK
    pattern = locale.currency_formats["standard"]
    return MoneyShape(
        prefix=prefix,
        suffix=suffix,
        decimal=get_decimal_symbol(locale),
        group=get_group_symbol(locale),
        grouping=pattern.grouping,
        places=minor_units(currency),
    )


def money_in(amount: Decimal, currency: str, language: str) -> str:
    """``amount`` of ``currency`` as ``language`` writes it, in the currency's minor units."""
    return money_shape(currency, language).write(in_minor_units(amount, currency))


def _grouped(whole: str, separator: str, grouping: tuple[int, int]) -> str:
    first, then = grouping
    if len(whole) <= first:
        return whole
    head, groups = whole[:-first], [whole[-first:]]
    while len(head) > then:
        head, groups = head[:-then], [head[-then:], *groups]
    return separator.join([head, *groups])


@lru_cache(maxsize=FORMATTED_DATES)
def long_date(day: date, language: str) -> str:
    """``day`` written out as ``language`` writes a date in a letter."""
    return format_date(day, format="long", locale=babel_locale(language))


def due_in_words(days_overdue: int, language: str) -> str:
    """An invoice ``days_overdue`` (negative: before its due date, SPEC §13) in words of ``language``:
    ``seit 12 Tagen überfällig``, ``heute fällig``, ``in 3 Tagen fällig`` in German; English
    (``12 days overdue``, ``due today``, ``due in 3 days``) for every other language."""
    if not language.startswith("de"):
        return due_phrase(days_overdue)
    days = abs(days_overdue)
    count = f"{days} Tag" if days == 1 else f"{days} Tagen"
    if days_overdue > 0:
        return f"seit {count} überfällig"
    return "heute fällig" if days_overdue == 0 else f"in {count} fällig"
