"""The currencies in use, read by index for the invoice list's filter."""

import pytest
from django.urls import reverse

from invoicing.models import Invoice
from invoicing.selectors import invoice_currencies
from tests.invoicing.factories import InvoiceFactory

pytestmark = pytest.mark.django_db


def test_no_invoice_no_currency():
    assert invoice_currencies() == []


def test_the_currencies_are_those_of_every_invoice_each_once_by_code():
    for currency, status in [
        ("USD", "paid"),
        ("EUR", "sent"),
        ("JPY", "draft"),
        ("EUR", "void"),
        ("CHF", "sent"),
    ]:
        InvoiceFactory(currency=currency, status=status)
    distinct = list(Invoice.objects.order_by("currency").values_list("currency", flat=True).distinct())
    assert invoice_currencies() == distinct == ["CHF", "EUR", "JPY", "USD"]


def test_the_invoice_list_offers_and_applies_the_currencies_in_use(staff_client):
    InvoiceFactory(currency="EUR", number="E-1")
    InvoiceFactory(currency="GBP", number="G-1")
    response = staff_client.get(reverse("admin:invoicing_invoice_changelist"), {"currency__exact": "GBP"})
    assert [invoice.number for invoice in response.context["cl"].result_list] == ["G-1"]
    choices = [
        choice["display"]
        for spec in response.context["cl"].filter_specs
        if spec.title == "currency"
        for choice in spec.choices(response.context["cl"])
    ]
    assert choices == ["All", "EUR", "GBP"]
