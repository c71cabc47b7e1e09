"""Payments (docs/SPEC.md §12, P26): recorded once per reference; ``amount_paid`` never exceeds ``total``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from invoicing.models import Invoice, InvoiceStatus, Payment
from invoicing.services import payment_record
from tests.invoicing.factories import CustomerFactory, InvoiceFactory

PAID_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def pay(invoice: Invoice, amount: str, reference: str = "BANK-1"):
    return payment_record(invoice=invoice, reference=reference, amount=Decimal(amount), paid_at=PAID_AT)


@pytest.mark.django_db
def test_payment_adds_to_amount_paid_and_leaves_the_invoice_sent_while_something_is_owed():
    invoice = InvoiceFactory(total=Decimal("100.00"))
    result = pay(invoice, "40.00")
    invoice.refresh_from_db()
    assert result.created
    assert (invoice.amount_paid, invoice.balance_due, invoice.status) == (
        Decimal("40.00"),
        Decimal("60.00"),
        InvoiceStatus.SENT,
    )


@pytest.mark.django_db
def test_payment_of_the_whole_balance_makes_the_invoice_paid():
    invoice = InvoiceFactory(total=Decimal("100.00"), amount_paid=Decimal("30.00"))
    pay(invoice, "70.00")
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.balance_due == 0


@pytest.mark.django_db
def test_same_reference_twice_is_recorded_once_and_returns_the_first():
    invoice = InvoiceFactory(total=Decimal("100.00"))
    first = pay(invoice, "40.00", reference="BANK-7")
    again = pay(invoice, "40.00", reference="BANK-7")
    invoice.refresh_from_db()
    assert not again.created
    assert again.payment.pk == first.payment.pk
    assert invoice.amount_paid == Decimal("40.00")
    assert Payment.objects.count() == 1


@pytest.mark.django_db
def test_same_reference_on_another_invoice_is_another_payment():
    customer = CustomerFactory()
    one, two = InvoiceFactory(customer=customer), InvoiceFactory(customer=customer)
    assert pay(one, "10.00", reference="BANK-1").created
    assert pay(two, "10.00", reference="BANK-1").created


@pytest.mark.django_db
def test_payment_above_the_balance_is_refused_naming_field_value_and_rule():
    invoice = InvoiceFactory(total=Decimal("800.00"))
    with pytest.raises(ValidationError) as refused:
        pay(invoice, "900.00")
    message = refused.value.message_dict["amount"][0]
    assert "amount=900.00" in message
    assert "above the balance due" in message
    assert "EUR 800.00" in message
    invoice.refresh_from_db()
    assert invoice.amount_paid == 0
    assert not Payment.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount", "currency", "rule"),
    [
        ("0.00", "EUR", "must be above 0"),
        ("-5.00", "EUR", "must be above 0"),
        ("1.005", "EUR", "more decimals than EUR has minor units (2)"),
        ("10.50", "JPY", "more decimals than JPY has minor units (0)"),
    ],
)
def test_payment_amount_must_be_positive_in_the_currencys_minor_units(amount, currency, rule):
    invoice = InvoiceFactory(total=Decimal("100.00"), currency=currency)
    with pytest.raises(ValidationError, match=re.escape(rule)):
        pay(invoice, amount)


@pytest.mark.django_db
def test_void_invoice_takes_no_payment():
    invoice = InvoiceFactory(status=InvoiceStatus.VOID)
    with pytest.raises(ValidationError, match="is void"):
        pay(invoice, "10.00")


@pytest.mark.django_db
def test_blank_reference_is_refused():
    with pytest.raises(ValidationError, match="reference"):
        pay(InvoiceFactory(), "10.00", reference=" ")


@pytest.mark.django_db
def test_database_refuses_amount_paid_above_total():
    invoice = InvoiceFactory(total=Decimal("800.00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(amount_paid=Decimal("900.00"))


@pytest.mark.django_db
def test_database_refuses_a_second_payment_with_the_same_reference_on_one_invoice():
    invoice = InvoiceFactory()
    Payment.objects.create(invoice=invoice, reference="R", amount=Decimal("1.00"), paid_at=PAID_AT)
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(invoice=invoice, reference="R", amount=Decimal("1.00"), paid_at=PAID_AT)


@pytest.mark.django_db
def test_database_refuses_a_payment_of_nothing():
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(invoice=InvoiceFactory(), reference="R", amount=0, paid_at=PAID_AT)


@pytest.mark.django_db
def test_customer_reference_is_unique_when_set_and_blank_for_many():
    CustomerFactory(reference="")
    CustomerFactory(reference="")
    CustomerFactory(reference="C-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerFactory(reference="C-1")


cents = st.integers(min_value=1, max_value=50_000).map(lambda n: Decimal(n) / 100)


class PaymentProperties(TestCase):
    @settings(max_examples=40, deadline=None)
    @given(
        total=cents,
        payments=st.lists(st.tuples(st.sampled_from("ABCDEF"), cents), min_size=1, max_size=8),
    )
    def test_each_reference_counts_once_and_amount_paid_never_exceeds_total(self, total, payments):
        """P26: whatever payments arrive, in any order and repeated, each reference is recorded once,
        the invoice's amount_paid is the sum of the accepted ones and never above its total."""
        invoice = InvoiceFactory(total=total)
        accepted: dict[str, Decimal] = {}
        for reference, amount in payments:
            try:
                result = pay(invoice, str(amount), reference=reference)
            except ValidationError:
                assert reference not in accepted
                assert amount > total - sum(accepted.values(), Decimal(0))
                continue
            accepted.setdefault(reference, result.payment.amount)
        invoice.refresh_from_db()
        assert invoice.amount_paid == sum(accepted.values(), Decimal(0)) <= invoice.total
        assert sorted(invoice.payments.values_list("reference", flat=True)) == sorted(accepted)
        assert (invoice.status == InvoiceStatus.PAID) == (invoice.amount_paid == invoice.total)
