"""Amounts in a currency's own minor units (ISO 4217): ``EUR 1234.50``, ``JPY 123457``, ``BHD 1.250``."""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import get_currency_precision, list_currencies

# What an amount column holds (decimal_places=2): a currency with more minor units keeps at most two.
COLUMN_PLACES = 2
COLUMN_DIGITS = 12  # max_digits=14 with 2 places
COLUMN_LIMIT = Decimal(10) ** COLUMN_DIGITS


@functools.cache
def minor_units(currency: str) -> int:
    """Digits after the decimal point in ``currency`` (2 for a code babel does not know)."""
    return get_currency_precision(currency)


def in_minor_units(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half up to ``currency``'s minor units."""
    return amount.quantize(_smallest_unit(currency), rounding=ROUND_HALF_UP)


@functools.cache
def _smallest_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def money(amount: Decimal, currency: str) -> str:
    """``amount`` with its ISO 4217 code in the currency's minor units: ``EUR 1234.50``, ``JPY 123457``."""
    return f"{currency} {in_minor_units(amount, currency)}"


@functools.cache
def is_known_currency(code: str) -> bool:
    """``code`` is an ISO 4217 code babel knows."""
    return code in _known_currencies()


@functools.cache
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def amount_problem(amount: Decimal, currency: str) -> str:
    """Why ``amount`` cannot be an amount in ``currency``, or "": it has more decimals than the currency's
    minor units (and the columns' two), or is too large for the columns. Sign rules are the caller's."""
    if not amount.is_finite():
        return "must be a number"
    if amount and amount.adjusted() >= COLUMN_DIGITS:
        return f"must be below {COLUMN_LIMIT:,}"
    places = _column_places(currency)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places and amount != round(amount, places):
        return f"has more decimals than {currency} has minor units ({places})"
    return ""


@functools.cache
def _column_places(currency: str) -> int:
    return min(minor_units(currency), COLUMN_PLACES)
