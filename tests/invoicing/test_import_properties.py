"""P25 (docs/SPEC.md §8): an import with an invalid row writes nothing; the same file twice changes nothing;
export then import is unchanged. Hypothesis makes the books."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from invoicing.files import export_rows, read_rows, write_file
from invoicing.imports import ImportRefused, invoices_import, invoices_upsert
from invoicing.models import FIRST_DATE, LAST_DATE, InvoiceStatus
from tests.invoicing.imports import ROW, snapshot

# Text as the books hold it: accents, commas, quotes, line breaks, and cells that look like formulas.
NAME_CHARACTERS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), include_characters=',"\n=+-@')
names = st.text(NAME_CHARACTERS, min_size=1, max_size=30).filter(str.strip)
references = st.text('ABCXYZ019-=,"', min_size=1, max_size=6).filter(str.strip)
ROW_DATES = (FIRST_DATE, LAST_DATE)
CURRENCIES = {"EUR": 2, "JPY": 0, "USD": 2, "BHD": 2}


@st.composite
def invoice_rows(draw, count: int) -> dict[str, str]:
    customer = draw(references)
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    places = CURRENCIES[currency]
    total = Decimal(draw(st.integers(0, 10**9))).scaleb(-places)
    paid = Decimal(draw(st.integers(0, int(total.scaleb(places))))).scaleb(-places)
    issue = draw(st.dates(min_value=ROW_DATES[0], max_value=ROW_DATES[1]))
    due = draw(st.dates(min_value=issue, max_value=ROW_DATES[1]))
    return {
        "customer_reference": customer,
        "customer_name": f"name of {customer}",
        "customer_email": f"ap{sum(map(ord, customer))}@customer.example",
        "number": f"N-{count}",
        "issue_date": issue.isoformat(),
        "due_date": due.isoformat(),
        "currency": currency,
        "total": str(total),
        "amount_paid": str(paid),
        "status": draw(st.sampled_from(InvoiceStatus.values)),
    }


@st.composite
def books(draw) -> list[dict[str, str]]:
    count = draw(st.integers(1, 12))
    rows = [draw(invoice_rows(n)) for n in range(count)]
    # One name per customer reference within a file; a drawn name on some of them.
    named = {row["customer_reference"]: draw(names) for row in rows}
    for row in rows:
        row["customer_name"] = named[row["customer_reference"]]
    return rows


INVALID = [
    ("currency", "EURO"),
    ("total", "-1.00"),
    ("due_date", "2026-02-30"),
    ("status", "open"),
    ("customer_email", "nobody"),
    ("amount_paid", "99999999999.00"),
]


class ImportProperties(TestCase):
    @settings(max_examples=25, deadline=None)
    @given(rows=books(), xlsx=st.booleans())
    def test_export_then_import_is_unchanged(self, rows, xlsx):
        invoices_upsert(rows=rows)
        before = snapshot()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / ("export.xlsx" if xlsx else "export.csv")
            write_file(path, export_rows(), xlsx=xlsx)
            result = invoices_import(rows=read_rows(path))
        assert (result.invoices.created, result.invoices.updated) == (0, 0)
        assert result.invoices.unchanged == len(rows)
        assert (result.customers.created, result.customers.updated) == (0, 0)
        assert snapshot() == before

    @settings(max_examples=25, deadline=None)
    @given(rows=books())
    def test_the_same_rows_twice_change_nothing_the_second_time(self, rows):
        first = invoices_upsert(rows=rows)
        before = snapshot()
        again = invoices_upsert(rows=rows)
        assert first.invoices.created == len(rows)
        assert (again.invoices.created, again.invoices.updated, again.invoices.unchanged) == (0, 0, len(rows))
        assert again.customers.unchanged == first.customers.created
        assert snapshot() == before

    @settings(max_examples=25, deadline=None)
    @given(rows=books(), where=st.integers(0, 100), invalid=st.sampled_from(INVALID), data=st.data())
    def test_one_invalid_row_writes_nothing(self, rows, where, invalid, data):
        existing = data.draw(st.sampled_from([[], [dict(ROW)]]))
        invoices_upsert(rows=existing)
        before = snapshot()
        index = where % len(rows)
        column, value = invalid
        rows[index][column] = value
        with pytest.raises(ImportRefused) as refused:
            invoices_upsert(rows=rows)
        assert refused.value.count >= 1
        assert any(error.line == index and error.column == column for error in refused.value.errors)
        assert snapshot() == before
