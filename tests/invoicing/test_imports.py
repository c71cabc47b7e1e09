"""``invoicing.imports.invoices_upsert``: the service an API's bulk write calls (rows as dicts, errors by
index)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoicing.currency import amount_problem
from invoicing.imports import ImportRefused, RowError, invoices_upsert, plainly_fits
from invoicing.models import Invoice
from tests.invoicing.imports import row

pytestmark = pytest.mark.django_db


def test_upsert_counts_created_updated_and_unchanged():
    first = invoices_upsert(rows=[row(), row(number="INV-2")])
    again = invoices_upsert(rows=[row(), row(number="INV-2", total="1.00"), row(number="INV-3")])
    assert (first.invoices.created, first.customers.created) == (2, 1)
    assert (again.invoices.created, again.invoices.updated, again.invoices.unchanged) == (1, 1, 1)


def test_upsert_errors_name_index_field_value_and_rule_and_write_nothing():
    with pytest.raises(ImportRefused) as refused:
        invoices_upsert(rows=[row(), row(number="INV-2", currency="XXY", due_date="2025-02-30")])
    assert refused.value.errors == [
        RowError(1, "due_date", "2025-02-30", "is not a real calendar date"),
        RowError(1, "currency", "XXY", "is not an ISO 4217 currency code (three capital letters, e.g. EUR)"),
    ]
    assert refused.value.count == 2
    assert not Invoice.objects.exists()


def test_upsert_refuses_one_number_twice_naming_both_indexes():
    with pytest.raises(ImportRefused) as refused:
        invoices_upsert(rows=[row(), row()])
    assert [(error.line, error.column) for error in refused.value.errors] == [(0, "number"), (1, "number")]
    assert "is on lines 0, 1" in refused.value.errors[0].message


@given(
    text=st.from_regex(r"[0-9]{1,14}(\.[0-9]{1,4})?", fullmatch=True),
    currency=st.sampled_from(["EUR", "JPY", "BHD", "USD", None]),
)
def test_the_amount_shortcut_accepts_only_what_amount_problem_accepts(text, currency):
    """The row check's shortcut is pinned to the rule's owner, ``invoicing.currency.amount_problem``."""
    if plainly_fits(text, currency):
        assert amount_problem(Decimal(text), currency or "EUR") == ""
