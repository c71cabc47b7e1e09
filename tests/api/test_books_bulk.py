"""POST /api/v1/invoices/bulk (docs/SPEC.md §12, P25): up to 1,000 invoices, customers inline or by
reference, all or nothing with every error named by index, field, value and rule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from invoicing.models import Customer, Invoice
from tests.api.conftest import BOOKS_PERMISSIONS, headers_with_permissions
from tests.invoicing.factories import CustomerFactory

URL = "/api/v1/invoices/bulk"


def item(n: int, **changes: object) -> dict[str, object]:
    return {
        "number": f"INV-{n:05d}",
        "customer": {"reference": f"C-{n % 7}", "name": f"Customer {n % 7}", "email": f"ap{n % 7}@c.example"},
        "issue_date": "2026-01-02",
        "due_date": "2026-02-01",
        "currency": "EUR",
        "total": "100.00",
        "amount_paid": "0.00",
        "status": "sent",
        **changes,
    }


def post(client, body: object, headers: dict[str, str]):
    return client.post(URL, body, content_type="application/json", headers=headers)


pytestmark = pytest.mark.django_db


def test_bulk_creates_invoices_and_their_inline_customers(client, books_headers):
    response = post(client, {"invoices": [item(n) for n in range(20)]}, books_headers)
    assert response.status_code == 200
    assert response.json() == {
        "created": 20,
        "updated": 0,
        "unchanged": 0,
        "customers": {"created": 7, "updated": 0, "unchanged": 0},
    }
    assert Invoice.objects.count() == 20
    assert Customer.objects.get(reference="C-3").email == "ap3@c.example"


def test_bulk_again_is_unchanged_and_counts_what_changed(client, books_headers):
    post(client, {"invoices": [item(n) for n in range(5)]}, books_headers)
    body = post(
        client,
        {"invoices": [item(0, status="paid", amount_paid="100.00"), *map(item, range(1, 6))]},
        books_headers,
    ).json()
    assert (body["created"], body["updated"], body["unchanged"]) == (1, 1, 4)


def test_bulk_takes_a_stored_customer_by_reference_or_one_inline_elsewhere_in_the_body(client, books_headers):
    CustomerFactory(reference="C-stored")
    body = {"invoices": [item(1), item(2, customer="C-stored"), item(3, customer="C-1")]}
    assert post(client, body, books_headers).status_code == 200
    assert Invoice.objects.get(number="INV-00002").customer.reference == "C-stored"
    assert Invoice.objects.get(number="INV-00003").customer.reference == "C-1"


def test_bulk_with_invalid_items_is_400_with_every_error_and_writes_nothing(client, books_headers):
    body = {
        "invoices": [
            item(0),
            item(1, currency="XXQ"),
            item(2, total="-5", customer={"reference": "C-9", "name": "N", "email": "bad"}),
            item(3, customer="C-unknown"),
            "not an object",
        ]
    }
    response = post(client, body, books_headers)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["index"], e["field"], e["value"]) for e in errors] == [
        (4, "invoices", "not an object"),
        (3, "customer", "C-unknown"),
    ]
    # Shape errors first; once the shape is right, every value is checked.
    body["invoices"] = body["invoices"][:3]
    errors = post(client, body, books_headers).json()["errors"]
    assert [(e["index"], e["field"], e["value"]) for e in errors] == [
        (1, "currency", "XXQ"),
        (2, "customer.email", "bad"),
        (2, "total", "-5"),
    ]
    assert all(e["message"] for e in errors)
    assert not Invoice.objects.exists()
    assert not Customer.objects.exists()


def test_bulk_with_one_number_twice_names_both_and_writes_nothing(client, books_headers):
    response = post(client, {"invoices": [item(1), item(2), item(1, total="5.00")]}, books_headers)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(0, "number"), (2, "number")]
    assert "is on lines 0, 2" in errors[0]["message"]
    assert not Invoice.objects.exists()


def test_bulk_with_one_customer_under_two_names_is_400(client, books_headers):
    other = {"reference": "C-1", "name": "Someone else", "email": "ap1@c.example"}
    errors = post(client, {"invoices": [item(1), item(8, customer=other)]}, books_headers).json()["errors"]
    assert {(e["index"], e["field"]) for e in errors} == {
        (0, "customer.reference"),
        (1, "customer.reference"),
    }


@pytest.mark.parametrize("invoices", [[], None, "x", [item(n) for n in range(1_001)]])
def test_bulk_needs_1_to_1000_invoices(client, books_headers, invoices):
    response = post(client, {"invoices": invoices}, books_headers)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["field"], error["message"]) == ("invoices", "must be a list of 1 to 1,000 invoices")


def test_bulk_of_1000_is_accepted(client, books_headers):
    response = post(client, {"invoices": [item(n) for n in range(1_000)]}, books_headers)
    assert response.json()["created"] == 1_000


def test_bulk_needs_the_customer_permissions_too(client):
    headers = headers_with_permissions("invoices-only", ["add_invoice", "change_invoice"])
    response = post(client, {"invoices": [item(1)]}, headers)
    assert response.status_code == 403
    assert "invoicing.add_customer" in response.json()["detail"]


class BulkIsAllOrNothing(TestCase):
    """P25: a bulk write with an invalid item writes nothing, wherever the item is; a valid one writes all."""

    @settings(max_examples=25, deadline=None)
    @given(
        size=st.integers(1, 30),
        bad=st.one_of(
            st.none(),
            st.sampled_from(
                [
                    {"currency": "EURO"},
                    {"total": "1.001"},
                    {"amount_paid": "200.00"},
                    {"due_date": "2025-01-01"},
                    {"status": "open"},
                    {"number": ""},
                    {"customer": {"reference": "C-x", "name": "X", "email": "x"}},
                ]
            ),
        ),
        where=st.integers(0, 29),
    )
    def test_an_invalid_item_anywhere_writes_nothing(self, size, bad, where):
        headers = headers_with_permissions(f"p25-{size}-{where}-{bad is None}", BOOKS_PERMISSIONS)
        invoices = [item(n) for n in range(size)]
        if bad is not None:
            invoices[where % size] = item(where % size, **bad)
        response = post(self.client, {"invoices": invoices}, headers)
        if bad is None:
            assert response.status_code == 200
            assert Invoice.objects.count() == size
            assert sum(Invoice.objects.values_list("total", flat=True)) == Decimal("100.00") * size
        else:
            assert response.status_code == 400
            assert [error["index"] for error in response.json()["errors"]] == [where % size]
            assert not Invoice.objects.exists()
            assert not Customer.objects.exists()


def test_a_customer_that_is_neither_text_nor_an_object_is_400(client, books_headers):
    errors = post(
        client, {"invoices": [item(1, customer=["C-1"]), item(2, customer=None)]}, books_headers
    ).json()
    assert [(e["index"], e["field"]) for e in errors["errors"]] == [(0, "customer"), (1, "customer")]
