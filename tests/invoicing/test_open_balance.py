"""``OpenBalance`` (migration 0011's triggers, PostgreSQL) pinned to ``Invoice.objects.open()``: after any
writes of invoices and customers, the aging summed from it equals the aging summed from the invoices."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from invoicing.models import Customer, Invoice, InvoiceStatus, OpenBalance
from invoicing.selectors import aging_queryset
from tests.invoicing.factories import CustomerFactory, InvoiceFactory, held_fields

AS_OF = date(2026, 3, 31)

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="OpenBalance is kept by PostgreSQL triggers"
)


def aging_rows(*, from_open_balance: bool) -> list[dict[str, object]]:
    rows = aging_queryset(as_of=AS_OF, from_open_balance=from_open_balance)
    return sorted(rows, key=lambda row: (row["currency"], row["bucket"], row["paused"], row["held"]))


def assert_open_balance_matches_invoices() -> None:
    assert aging_rows(from_open_balance=True) == aging_rows(from_open_balance=False)


# Each a write the application (or an operator's SQL) makes: (what, which invoice or customer, a value).
writes = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "create",
                "pay",
                "pay in full",
                "status",
                "due date",
                "currency",
                "hold",
                "release",
                "pause",
                "delete",
                "update all",
            ]
        ),
        st.integers(0, 20),
        st.integers(-120, 120),
    ),
    min_size=1,
    max_size=25,
)


class OpenBalancePropertyTests(TestCase):
    @settings(max_examples=60, deadline=None)
    @given(writes=writes)
    def test_open_balance_sums_exactly_the_open_invoices_after_any_writes(self, writes):
        customers = [CustomerFactory() for _ in range(3)]
        for n, (what, which, value) in enumerate(writes):
            invoices = list(Invoice.objects.order_by("id").values_list("id", flat=True))
            invoice = Invoice.objects.filter(id=invoices[which % len(invoices)]) if invoices else None
            if what == "create" or invoice is None:
                due = AS_OF - timedelta(days=value)
                InvoiceFactory(
                    customer=customers[which % 3],
                    number=f"OB-{n}",
                    issue_date=due,
                    due_date=due,
                    total=Decimal(100 + which),
                    status=InvoiceStatus.SENT,
                )
            elif what == "pay":
                invoice.update(amount_paid=Decimal(abs(value) % 100))
            elif what == "pay in full":
                invoice.update(amount_paid=invoice.get().total)
            elif what == "status":
                invoice.update(status=InvoiceStatus.values[which % len(InvoiceStatus.values)])
            elif what == "due date":
                invoice.update(due_date=AS_OF - timedelta(days=value), issue_date=date(2025, 1, 1))
            elif what == "currency":
                invoice.update(currency=["EUR", "USD", "JPY"][which % 3])
            elif what == "hold":
                invoice.update(**held_fields(AS_OF + timedelta(days=value)))
            elif what == "release":
                invoice.update(reminders_held_until=None, hold_reason="", hold_note="")
            elif what == "pause":
                Customer.objects.filter(id=customers[which % 3].id).update(reminders_paused=value % 2 == 0)
            elif what == "delete":
                invoice.delete()
            else:
                Invoice.objects.update(amount_paid=Decimal(0))
            assert_open_balance_matches_invoices()


def test_every_customer_paused_at_once_moves_their_open_balance(db):
    paused, other = CustomerFactory(), CustomerFactory()
    InvoiceFactory(customer=paused, status=InvoiceStatus.SENT, total=Decimal("40.00"))
    InvoiceFactory(customer=other, status=InvoiceStatus.SENT, total=Decimal("2.50"))

    Customer.objects.update(reminders_paused=True)

    assert_open_balance_matches_invoices()
    assert OpenBalance.objects.filter(paused=True, invoices__gt=0).count() >= 1


def test_an_unrelated_change_of_an_invoice_writes_no_open_balance(db):
    invoice = InvoiceFactory(status=InvoiceStatus.SENT, total=Decimal("40.00"))
    before = list(OpenBalance.objects.values_list("id", "balance_due", "invoices"))

    Invoice.objects.filter(id=invoice.id).update(payment_url="https://pay.example/1")

    assert list(OpenBalance.objects.values_list("id", "balance_due", "invoices")) == before
