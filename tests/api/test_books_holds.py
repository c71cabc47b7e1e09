"""Holds on one invoice through the books API (docs/SPEC.md §12, §13): ``reminders_held_until``,
``hold_reason`` and ``hold_note`` on PUT and GET of an invoice."""

from __future__ import annotations

from datetime import date

import pytest

from invoicing.models import Invoice
from tests.api.test_books_api import INVOICE, put
from tests.invoicing.factories import CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/invoices/INV-1"
HOLD = {"reminders_held_until": "2026-12-20", "hold_reason": "dispute", "hold_note": "Wrong quantity"}


@pytest.fixture(autouse=True)
def customer():
    return CustomerFactory(reference="C-1001")


def hold_of(number: str = "INV-1") -> tuple:
    return Invoice.objects.filter(number=number).values_list(
        "reminders_held_until", "hold_reason", "hold_note"
    )[0]


def test_put_invoice_with_a_hold_creates_it_held_and_returns_the_hold(client, books_headers):
    response = put(client, URL, {**INVOICE, **HOLD}, books_headers)
    assert response.status_code == 201
    body = response.json()
    assert {name: body[name] for name in HOLD} == HOLD
    assert hold_of() == (date(2026, 12, 20), "dispute", "Wrong quantity")
    assert client.get(URL, headers=books_headers).json()["hold_reason"] == "dispute"


def test_an_invoice_without_a_hold_answers_null_and_blank(client, books_headers):
    body = put(client, URL, INVOICE, books_headers).json()
    assert (body["reminders_held_until"], body["hold_reason"], body["hold_note"]) == (None, "", "")


def test_put_without_hold_fields_leaves_the_hold_as_it_is(client, books_headers):
    put(client, URL, {**INVOICE, **HOLD}, books_headers)
    again = put(client, URL, INVOICE, books_headers)
    assert (again.status_code, again.json()["result"]) == (200, "unchanged")
    assert hold_of() == (date(2026, 12, 20), "dispute", "Wrong quantity")


def test_a_new_hold_alone_makes_the_put_an_update(client, books_headers):
    put(client, URL, INVOICE, books_headers)
    response = put(client, URL, {**INVOICE, **HOLD}, books_headers)
    assert (response.status_code, response.json()["result"]) == (200, "updated")
    assert put(client, URL, {**INVOICE, **HOLD}, books_headers).json()["result"] == "unchanged"


def test_null_date_releases_the_hold(client, books_headers):
    put(client, URL, {**INVOICE, **HOLD}, books_headers)
    response = put(client, URL, {**INVOICE, "reminders_held_until": None}, books_headers)
    assert response.json()["result"] == "updated"
    assert hold_of() == (None, "", "")


@pytest.mark.parametrize(
    ("hold", "field", "value", "message"),
    [
        (
            {"reminders_held_until": "2026-12-20"},
            "hold_reason",
            "",
            "is required with reminders_held_until, one of dispute, promise_to_pay, other",
        ),
        (
            {"reminders_held_until": "2026-12-20", "hold_reason": "holiday"},
            "hold_reason",
            "holiday",
            "is required with reminders_held_until, one of dispute, promise_to_pay, other",
        ),
        (
            {"reminders_held_until": "20.12.2026", "hold_reason": "dispute"},
            "reminders_held_until",
            "20.12.2026",
            "expected a date YYYY-MM-DD from 1900-01-01 to 9999-12-31",
        ),
        (
            {"hold_reason": "dispute"},
            "hold_reason",
            "dispute",
            "needs reminders_held_until: without a date there is no hold",
        ),
        ({"reminders_held_until": "2026-12-20", "hold_reason": 3}, "hold_reason", 3, "must be text"),
    ],
)
def test_an_invalid_hold_is_400_naming_field_value_and_rule_and_writes_nothing(
    client, books_headers, hold, field, value, message
):
    response = put(client, URL, {**INVOICE, **hold}, books_headers)
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": field, "value": value, "message": message}]
    assert not Invoice.objects.exists()


def test_hold_errors_come_with_the_invoices_own_errors(client, books_headers):
    response = put(client, URL, {**INVOICE, "currency": "EURO", "hold_reason": "dispute"}, books_headers)
    assert [error["field"] for error in response.json()["errors"]] == ["currency", "hold_reason"]
    assert not Invoice.objects.exists()


def test_the_openapi_schema_documents_the_hold_fields(client, books_headers):
    schema = client.get("/api/schema/", headers=books_headers).content.decode()
    for name in HOLD:
        assert name in schema
