"""Dates and amounts written for a customer's language (docs/SPEC.md §13), with Babel: ``1.234,50 €`` and
``31. Januar 2026`` in German, ``€1,234.50`` and ``January 31, 2026`` in English. Amounts are first
rounded half up to the currency's minor units, as everywhere else (``JPY 123457``).

The same few dates and amounts recur across a sending's messages: each is formatted once.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from functools import cache, lru_cache

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency
from django.utils.translation import to_locale

from invoicing.currency import in_minor_units

FORMATTED_VALUES = 16_384
_CODE_THEN_DIGIT = re.compile(r"^([^\W\d_]{2,})(\d)")


@cache
def babel_locale(language: str) -> Locale:
    """Babel's locale of a Django language code (``de``, ``pt-br``)."""
    return Locale.parse(to_locale(language))


@lru_cache(maxsize=FORMATTED_VALUES)
def money_in(amount: Decimal, currency: str, language: str) -> str:
    """``amount`` of ``currency`` as ``language`` writes it, in the currency's minor units."""
    text = format_currency(in_minor_units(amount, currency), currency, locale=babel_locale(language))
    # CLDR puts a space between a currency code and its digits (CHF 1.25); Babel leaves it out. A
    # no-break space, as Babel puts between the digits and a code that follows them (1,25 CHF).
    return _CODE_THEN_DIGIT.sub("\\1\xa0\\2", text)


@lru_cache(maxsize=FORMATTED_VALUES)
def long_date(day: date, language: str) -> str:
    """``day`` written out as ``language`` writes a date in a letter."""
    return format_date(day, format="long", locale=babel_locale(language))
