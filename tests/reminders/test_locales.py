"""Amounts and dates written for a language (docs/SPEC.md §13): ``money_in`` lays amounts into the shape
Babel gives each currency and language, and must write exactly what Babel writes."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from babel.numbers import format_currency
from hypothesis import given
from hypothesis import strategies as st

from invoicing.currency import in_minor_units
from reminders.locales import babel_locale, long_date, money_in

CURRENCIES = ["EUR", "USD", "GBP", "CHF", "SEK", "JPY", "BHD", "INR", "KWD", "CLP"]


def babel_writes(amount: Decimal, currency: str, language: str) -> str:
    text = format_currency(in_minor_units(amount, currency), currency, locale=babel_locale(language))
    return re.sub(r"^([^\W\d_]{2,})(\d)", "\\1\xa0\\2", text)  # CLDR's space after a leading code


@given(
    amount=st.decimals(min_value=0, max_value=Decimal("999999999999.99"), places=2),
    currency=st.sampled_from(CURRENCIES),
    language=st.sampled_from(["en", "de"]),
)
def test_an_amount_is_written_as_babel_writes_it_for_the_language(amount, currency, language):
    assert money_in(amount, currency, language) == babel_writes(amount, currency, language)


@pytest.mark.parametrize(
    ("amount", "currency", "language", "written"),
    [
        ("1234.50", "EUR", "de", "1.234,50\xa0€"),
        ("1234.50", "EUR", "en", "€1,234.50"),
        ("123456.50", "JPY", "de", "123.457\xa0¥"),
        ("1041.78", "CHF", "en", "CHF\xa01,041.78"),
        ("0.01", "USD", "en", "$0.01"),
    ],
)
def test_examples_of_the_docs(amount, currency, language, written):
    assert money_in(Decimal(amount), currency, language) == written


def test_a_due_date_is_written_out_for_the_language():
    assert long_date(date(2026, 3, 1), "de") == "1. März 2026"
    assert long_date(date(2026, 3, 1), "en") == "March 1, 2026"
