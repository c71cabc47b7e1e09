"""An invoice's pay link and a customer's language on the models (docs/SPEC.md §13): the rule said by
``full_clean`` naming the field, the value and the rule, and kept by the database."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from invoicing.links import payment_url_problem
from invoicing.models import Invoice
from tests.invoicing.factories import CustomerFactory, InvoiceFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "",
        "https://pay.example/INV-1",
        "https://pay.example:8443/i?n=1&t=2#x",
        "http://localhost/pay",
        "http://127.0.0.1:8000/pay",
        "http://[::1]:8000/",
    ],
)
def test_https_or_http_on_a_loopback_host_is_a_pay_link(url):
    invoice = InvoiceFactory.build(customer=CustomerFactory(), payment_url=url)
    invoice.full_clean()
    invoice.save()
    assert Invoice.objects.get(pk=invoice.pk).payment_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://pay.example/INV-1",
        "http://127.evil.example/",
        "ftp://pay.example/",
        "javascript:alert(1)",
        "https://",
    ],
)
def test_anything_else_is_refused_by_full_clean_and_by_the_database(url):
    invoice = InvoiceFactory.build(customer=CustomerFactory(), payment_url=url)
    with pytest.raises(ValidationError) as refused:
        invoice.full_clean()
    assert refused.value.message_dict["payment_url"] == [f"payment_url={url!r} {payment_url_problem(url)}."]
    assert "an https:// URL, or http:// on a loopback host" in payment_url_problem(url)
    if url.startswith(("http://", "ftp://", "javascript:")):
        with pytest.raises(IntegrityError), transaction.atomic():
            invoice.save()


def test_a_customers_language_is_one_of_the_languages_offered():
    customer = CustomerFactory.build(language="fr")
    with pytest.raises(ValidationError) as refused:
        customer.full_clean()
    assert "language" in refused.value.message_dict
    assert CustomerFactory().language == "en"
    CustomerFactory.build(language="de").full_clean()
