"""Each invariant of docs/SPEC.md §2 is kept by the database: these tests try to break it and see it
refused."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F

from invoicing.models import Invoice, not_owed_reason
from tests.invoicing.factories import CustomerFactory, InvoiceFactory

pytestmark = pytest.mark.django_db


def refused(**changes):
    """Write ``changes`` to a fresh invoice with a bulk update, past any Python validation."""
    invoice = InvoiceFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(**changes)


def test_balance_due_is_computed_by_the_database():
    invoice = InvoiceFactory(total=Decimal("1234.50"), amount_paid=Decimal("234.25"))
    invoice.refresh_from_db()
    assert invoice.balance_due == Decimal("1000.25")


def test_balance_due_follows_a_payment_made_with_a_bulk_update():
    invoice = InvoiceFactory(total=Decimal("100.00"))
    Invoice.objects.filter(pk=invoice.pk).update(amount_paid=F("amount_paid") + Decimal("40.00"))
    assert Invoice.objects.get(pk=invoice.pk).balance_due == Decimal("60.00")


def test_balance_due_cannot_be_written_even_in_raw_sql():
    invoice = InvoiceFactory()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE invoicing_invoice SET balance_due = 1 WHERE id = %s", [invoice.pk])


def test_invoice_number_is_unique():
    InvoiceFactory(number="INV-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceFactory(number="INV-1")


def test_negative_total_is_refused():
    refused(total=Decimal("-0.01"))


def test_negative_amount_paid_is_refused():
    refused(amount_paid=Decimal("-5.00"))


def test_due_date_before_issue_date_is_refused():
    refused(due_date=date(2020, 1, 1), issue_date=date(2020, 1, 2))


@pytest.mark.parametrize("currency", ["eur", "EU", "E1R", "EURO"[:3].lower(), "€UR"])
def test_currency_that_is_not_an_iso_code_is_refused(currency):
    refused(currency=currency)


def test_unknown_status_is_refused():
    refused(status="lost")


def test_customer_with_invoices_cannot_be_deleted():
    invoice = InvoiceFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        # A raw DELETE, so the database's foreign key, not Django's PROTECT, is what refuses.
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM invoicing_customer WHERE id = %s", [invoice.customer_id])
        connection.check_constraints()  # Django's foreign keys are deferred to commit


def test_overdue_selects_sent_unpaid_invoices_due_before_as_of():
    as_of = date(2026, 3, 1)
    overdue = InvoiceFactory(due_date=as_of - timedelta(days=1))
    InvoiceFactory(due_date=as_of)  # due today
    InvoiceFactory(due_date=as_of - timedelta(days=3), status=Invoice.Status.PAID)
    InvoiceFactory(due_date=as_of - timedelta(days=3), amount_paid=Decimal("100.00"))
    InvoiceFactory(due_date=as_of - timedelta(days=3), customer=CustomerFactory(reminders_paused=True))
    assert list(Invoice.objects.overdue(as_of=as_of)) == [overdue]


@pytest.mark.parametrize(
    "dates",
    [
        {"issue_date": date(1899, 12, 31), "due_date": date(1900, 1, 31)},
        {"due_date": date(1899, 12, 31), "issue_date": date(1899, 12, 1)},
    ],
)
def test_dates_before_1900_are_refused(dates):
    refused(**dates)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="BC dates and infinity are PostgreSQL's")
@pytest.mark.parametrize("value", ["0044-03-15 BC", "infinity", "-infinity"])
def test_dates_python_cannot_load_are_refused(value):
    """PostgreSQL stores BC dates and infinity; Python's date cannot hold them, so a run could not read
    the row. The range constraints keep them out of both date columns."""
    invoice = InvoiceFactory()
    sql = "UPDATE invoicing_invoice SET issue_date = %s::date, due_date = %s::date WHERE id = %s"
    with (
        pytest.raises(IntegrityError, match="date_in_range"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [value, value, invoice.pk])


def test_the_first_and_last_dates_of_the_range_are_accepted():
    invoice = InvoiceFactory(issue_date=date(1900, 1, 1), due_date=date(9999, 12, 31))
    invoice.refresh_from_db()
    assert (invoice.issue_date, invoice.due_date) == (date(1900, 1, 1), date(9999, 12, 31))


@pytest.mark.parametrize("status", list(Invoice.Status))
@pytest.mark.parametrize("amount_paid", [Decimal("0.00"), Decimal("99.99"), Decimal("100.00")])
@pytest.mark.parametrize("paused", [False, True])
def test_not_owed_reason_is_empty_exactly_for_what_the_overdue_queryset_selects(status, amount_paid, paused):
    as_of = date(2026, 3, 1)
    invoice = InvoiceFactory(
        status=status,
        total=Decimal("100.00"),
        amount_paid=amount_paid,
        due_date=as_of - timedelta(days=5),
        customer=CustomerFactory(reminders_paused=paused),
    )
    invoice.refresh_from_db()
    reason = not_owed_reason(status=invoice.status, balance_due=invoice.balance_due, reminders_paused=paused)
    assert (reason == "") == Invoice.objects.overdue(as_of=as_of).filter(pk=invoice.pk).exists()
