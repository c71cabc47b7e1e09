"""Amounts in a currency's own minor units (ISO 4217): ``EUR 1234.50``, ``JPY 123457``, ``BHD 1.250``."""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import get_currency_precision


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


def amount_text(amount: Decimal, currency: str) -> str:
    """``amount`` as the desk shows it: in ``currency``'s minor units, thousands grouped
    (``42,932,722.24``, ``JPY 123,457``'s ``123,457``)."""
    return f"{in_minor_units(amount, currency):,}"
