"""An import from the books (docs/SPEC.md §12) and holds (§13): the file carries no hold, its upsert
lists its own columns, and an invoice's hold set here survives every import of it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from invoicing.imports import invoices_upsert
from invoicing.models import Invoice
from tests.invoicing.imports import import_file, row, write_csv

pytestmark = pytest.mark.django_db

HOLD = (date(2026, 12, 20), "promise_to_pay", "Pays on the 20th")


def hold_of(number: str) -> tuple:
    return Invoice.objects.filter(number=number).values_list(
        "reminders_held_until", "hold_reason", "hold_note"
    )[0]


def test_an_imported_invoice_is_not_held():
    invoices_upsert(rows=[row()])
    assert hold_of("INV-1") == (None, "", "")


def test_a_file_import_updating_a_held_invoice_keeps_its_hold(tmp_path):
    invoices_upsert(rows=[row()])
    Invoice.objects.filter(number="INV-1").update(
        reminders_held_until=HOLD[0], hold_reason=HOLD[1], hold_note=HOLD[2]
    )
    outcome = import_file(write_csv(tmp_path / "books.csv", [row(total="2000.00"), row(number="INV-2")]))
    assert outcome.code == 0, outcome.err
    assert Invoice.objects.get(number="INV-1").total == Decimal("2000.00")
    assert hold_of("INV-1") == HOLD
    assert hold_of("INV-2") == (None, "", "")
