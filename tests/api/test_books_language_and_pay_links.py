"""A customer's language and an invoice's pay link through the books API (docs/SPEC.md §12, §13): stored,
returned, and a bad value refused naming the field, the value and the rule, with nothing written."""

from __future__ import annotations

import pytest

from invoicing.models import Customer, Invoice
from tests.api.test_books_api import CUSTOMER, INVOICE, post, put
from tests.invoicing.factories import CustomerFactory

pytestmark = pytest.mark.django_db
PAY_RULE = "is not a pay link: an https:// URL, or http:// on a loopback host (localhost, 127.0.0.1, [::1])"


@pytest.fixture
def customer():
    return CustomerFactory(reference="C-1001", name=CUSTOMER["name"], email=CUSTOMER["email"])


def test_a_customer_put_in_german_is_stored_and_returned_in_german(client, books_headers):
    response = put(client, "/api/v1/customers/C-1001", {**CUSTOMER, "language": "de"}, books_headers)
    assert (response.status_code, response.json()["language"]) == (201, "de")
    assert Customer.objects.get(reference="C-1001").language == "de"
    again = put(client, "/api/v1/customers/C-1001", {**CUSTOMER, "language": "de"}, books_headers)
    assert again.json()["result"] == "unchanged"
    # PUT replaces: left out, the language is the default one again.
    back = put(client, "/api/v1/customers/C-1001", CUSTOMER, books_headers)
    assert (back.json()["result"], back.json()["language"]) == ("updated", "en")


def test_a_language_not_offered_is_refused_naming_field_value_and_the_languages(client, books_headers):
    response = put(client, "/api/v1/customers/C-1001", {**CUSTOMER, "language": "fr"}, books_headers)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "language",
            "value": "fr",
            "message": "is not a language reminders are written in: one of en, de",
        }
    ]
    assert not Customer.objects.exists()


def test_an_invoice_put_with_a_pay_link_is_stored_and_returned(client, books_headers, customer):
    body = {**INVOICE, "payment_url": "https://pay.example/INV-1"}
    response = put(client, "/api/v1/invoices/INV-1", body, books_headers)
    assert response.status_code == 201, response.json()
    assert response.json()["payment_url"] == "https://pay.example/INV-1"
    assert Invoice.objects.get(number="INV-1").payment_url == "https://pay.example/INV-1"
    cleared = put(client, "/api/v1/invoices/INV-1", INVOICE, books_headers)
    assert (cleared.json()["result"], cleared.json()["payment_url"]) == ("updated", "")


@pytest.mark.parametrize(
    "url",
    ["http://pay.example/INV-1", "ftp://pay.example/1", "javascript:alert(1)", "https://", "pay.example"],
)
def test_a_pay_link_that_is_not_https_is_refused_naming_field_value_and_rule(
    client, books_headers, customer, url
):
    response = put(client, "/api/v1/invoices/INV-1", {**INVOICE, "payment_url": url}, books_headers)
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "payment_url", "value": url, "message": PAY_RULE}]
    assert not Invoice.objects.exists()


def test_a_pay_link_on_a_loopback_host_may_be_http(client, books_headers, customer):
    body = {**INVOICE, "payment_url": "http://localhost:8000/pay/INV-1"}
    assert put(client, "/api/v1/invoices/INV-1", body, books_headers).status_code == 201


def test_a_bulk_write_with_one_bad_pay_link_writes_nothing_and_names_its_index(
    client, books_headers, customer
):
    invoices = [
        {**INVOICE, "number": "INV-1", "customer": "C-1001", "payment_url": "https://pay.example/1"},
        {**INVOICE, "number": "INV-2", "customer": "C-1001", "payment_url": "http://pay.example/2"},
    ]
    response = post(client, "/api/v1/invoices/bulk", {"invoices": invoices}, books_headers)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"index": 1, "field": "payment_url", "value": "http://pay.example/2", "message": PAY_RULE}
    ]
    assert not Invoice.objects.exists()
    invoices[1]["payment_url"] = "https://pay.example/2"
    assert post(client, "/api/v1/invoices/bulk", {"invoices": invoices}, books_headers).status_code == 200
    assert sorted(Invoice.objects.values_list("payment_url", flat=True)) == [
        "https://pay.example/1",
        "https://pay.example/2",
    ]
