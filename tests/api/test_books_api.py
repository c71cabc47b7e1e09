"""The books API (docs/SPEC.md §12): customers and invoices put by their keys, the bulk write, payments;
every status code, the model permissions, and the OpenAPI schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from invoicing.models import Customer, Invoice, InvoiceStatus, Payment
from reminders.models import MessageState
from tests.api.conftest import headers_with_permissions
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.reminders.factories import NotificationFactory, delivered

pytestmark = pytest.mark.django_db

CUSTOMER = {"name": "Müller & Söhne GmbH", "email": "ap@mueller.example", "reminders_paused": False}
INVOICE = {
    "customer": "C-1001",
    "issue_date": "2026-01-02",
    "due_date": "2026-02-01",
    "currency": "EUR",
    "total": "1234.50",
    "amount_paid": "0.00",
    "status": "sent",
}
PAYMENT = {"reference": "BANK-2026-0311-7", "amount": "234.50", "paid_at": "2026-03-11T09:30:00Z"}


def put(client, url: str, body: object, headers: dict[str, str]):
    return client.put(url, body, content_type="application/json", headers=headers)


def post(client, url: str, body: object, headers: dict[str, str]):
    return client.post(url, body, content_type="application/json", headers=headers)


@pytest.fixture
def customer():
    return CustomerFactory(reference="C-1001", name=CUSTOMER["name"], email=CUSTOMER["email"])


# --- customers -------------------------------------------------------------------------------------------


def test_put_customer_creates_it_with_201(client, books_headers):
    response = put(client, "/api/v1/customers/C-1001", CUSTOMER, books_headers)
    assert response.status_code == 201
    assert response.json() == {"result": "created", "reference": "C-1001", **CUSTOMER, "language": "en"}
    assert Customer.objects.get(reference="C-1001").name == CUSTOMER["name"]


def test_put_customer_again_is_200_unchanged_and_a_change_is_200_updated(client, books_headers, customer):
    again = put(client, "/api/v1/customers/C-1001", CUSTOMER, books_headers)
    assert (again.status_code, again.json()["result"]) == (200, "unchanged")
    changed = put(client, "/api/v1/customers/C-1001", {**CUSTOMER, "reminders_paused": True}, books_headers)
    assert (changed.status_code, changed.json()["result"]) == (200, "updated")
    customer.refresh_from_db()
    assert customer.reminders_paused


def test_get_customer_by_reference(client, books_headers, customer):
    response = client.get("/api/v1/customers/C-1001", headers=books_headers)
    assert response.status_code == 200
    assert response.json() == {"reference": "C-1001", **CUSTOMER, "language": "en"}


def test_get_unknown_customer_is_404_naming_it(client, books_headers):
    response = client.get("/api/v1/customers/C-404", headers=books_headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "No customer with reference 'C-404'."}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({**CUSTOMER, "email": "not-an-address"}, {"field": "email", "value": "not-an-address"}),
        ({"email": CUSTOMER["email"]}, {"field": "name", "value": None, "message": "is required"}),
        ({**CUSTOMER, "name": "x" * 201}, {"field": "name"}),
        ({**CUSTOMER, "reminders_paused": "yes"}, {"field": "reminders_paused", "value": "yes"}),
        ({**CUSTOMER, "language": "fr"}, {"field": "language", "value": "fr"}),
        ({**CUSTOMER, "language": 7}, {"field": "language", "value": 7}),
        ({**CUSTOMER, "currency": "EUR"}, {"field": "currency", "value": "EUR"}),
    ],
)
def test_put_invalid_customer_is_400_naming_field_value_and_rule_and_writes_nothing(
    client, books_headers, body, error
):
    response = put(client, "/api/v1/customers/C-1001", body, books_headers)
    assert response.status_code == 400
    [found] = response.json()["errors"]
    assert found.items() >= error.items()
    assert found["message"]
    assert not Customer.objects.exists()


def test_a_body_that_is_not_json_is_400_naming_it(client, books_headers):
    response = client.put(
        "/api/v1/customers/C-1001", b"{", content_type="application/json", headers=books_headers
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["field"], error["message"][:21]) == ("body", "is not valid JSON: JS")
    assert not Customer.objects.exists()


def test_a_body_in_another_format_is_415(client, books_headers):
    response = client.put(
        "/api/v1/customers/C-1001", "name=x", content_type="text/plain", headers=books_headers
    )
    assert response.status_code == 415


def test_put_customer_body_not_an_object_is_400(client, books_headers):
    response = put(client, "/api/v1/customers/C-1001", ["a"], books_headers)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "body", "value": ["a"], "message": "must be a JSON object"}
    ]


# --- permissions -----------------------------------------------------------------------------------------


def test_no_token_is_401(client, customer):
    assert client.get("/api/v1/customers/C-1001").status_code == 401
    assert put(client, "/api/v1/customers/C-1001", CUSTOMER, {}).status_code == 401


@pytest.mark.parametrize(
    ("method", "url", "body", "needed"),
    [
        ("get", "/api/v1/customers/C-1001", None, "invoicing.view_customer"),
        ("put", "/api/v1/customers/C-1001", CUSTOMER, "invoicing.add_customer"),
        ("get", "/api/v1/invoices/INV-1", None, "invoicing.view_invoice"),
        ("put", "/api/v1/invoices/INV-1", INVOICE, "invoicing.add_invoice"),
        ("post", "/api/v1/invoices/bulk", {"invoices": []}, "invoicing.add_invoice"),
        ("post", "/api/v1/invoices/INV-1/payments", PAYMENT, "invoicing.add_payment"),
    ],
)
def test_staff_without_the_model_permission_get_403_naming_it(
    client, staff_headers, method, url, body, needed
):
    send = {"get": client.get, "put": client.put, "post": client.post}[method]
    kwargs = {"content_type": "application/json", "data": body} if body is not None else {}
    response = send(url, headers=staff_headers, **kwargs)
    assert response.status_code == 403
    assert needed in response.json()["detail"]


def test_view_permission_reads_but_does_not_write(client, customer):
    headers = headers_with_permissions("viewer", ["view_customer", "view_invoice"])
    assert client.get("/api/v1/customers/C-1001", headers=headers).status_code == 200
    response = put(client, "/api/v1/customers/C-1001", {**CUSTOMER, "name": "Other"}, headers)
    assert response.status_code == 403
    assert Customer.objects.get().name == CUSTOMER["name"]


def test_a_superuser_token_needs_no_explicit_permission(client, django_user_model, customer):
    from api.tokens import api_token_create
    from tests.api.conftest import bearer

    django_user_model.objects.create_user(username="root", is_staff=True, is_superuser=True)
    headers = bearer(api_token_create(username="root", name="tests").key)
    assert client.get("/api/v1/customers/C-1001", headers=headers).status_code == 200


# --- invoices --------------------------------------------------------------------------------------------


def test_put_invoice_creates_it_with_201_and_returns_it(client, books_headers, customer):
    response = put(client, "/api/v1/invoices/INV-2026-0042", INVOICE, books_headers)
    assert response.status_code == 201
    body = response.json()
    assert body["result"] == "created"
    assert (body["number"], body["customer"], body["total"], body["balance_due"]) == (
        "INV-2026-0042",
        "C-1001",
        "1234.50",
        "1234.50",
    )
    invoice = Invoice.objects.get(number="INV-2026-0042")
    assert (invoice.customer, invoice.total, invoice.status) == (customer, Decimal("1234.50"), "sent")


def test_put_invoice_again_is_200_unchanged_and_a_change_is_200_updated(client, books_headers, customer):
    put(client, "/api/v1/invoices/INV-1", INVOICE, books_headers)
    again = put(client, "/api/v1/invoices/INV-1", INVOICE, books_headers)
    assert (again.status_code, again.json()["result"]) == (200, "unchanged")
    paid = put(
        client,
        "/api/v1/invoices/INV-1",
        {**INVOICE, "amount_paid": "1234.50", "status": "paid"},
        books_headers,
    )
    assert (paid.status_code, paid.json()["result"]) == (200, "updated")
    assert Invoice.objects.get().status == InvoiceStatus.PAID


def test_put_invoice_without_amount_paid_means_nothing_paid(client, books_headers, customer):
    body = {key: value for key, value in INVOICE.items() if key != "amount_paid"}
    assert put(client, "/api/v1/invoices/INV-1", body, books_headers).status_code == 201
    assert Invoice.objects.get().amount_paid == 0


def test_put_invoice_of_an_unknown_customer_is_400_naming_it(client, books_headers):
    response = put(client, "/api/v1/invoices/INV-1", {**INVOICE, "customer": "C-404"}, books_headers)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["field"], error["value"]) == ("customer", "C-404")
    assert "PUT /api/v1/customers/{reference}" in error["message"]


def test_put_invalid_invoice_is_400_with_every_error_and_writes_nothing(client, books_headers, customer):
    body = {
        **INVOICE,
        "currency": "EURO",
        "total": "100.00",
        "amount_paid": "-1",
        "due_date": "2026-02-30",
        "status": "open",
    }
    response = put(client, "/api/v1/invoices/INV-1", body, books_headers)
    assert response.status_code == 400
    errors = {error["field"]: error for error in response.json()["errors"]}
    assert set(errors) == {"currency", "amount_paid", "due_date", "status"}
    assert errors["currency"] == {
        "field": "currency",
        "value": "EURO",
        "message": "is not an ISO 4217 currency code (three capital letters, e.g. EUR)",
    }
    assert errors["amount_paid"]["message"] == "is negative: amounts are 0 or more"
    assert errors["due_date"]["message"] == "is not a real calendar date"
    assert "draft, sent, paid, void" in errors["status"]["message"]
    assert response.json()["detail"] == "4 errors; nothing was written."
    assert not Invoice.objects.exists()


def test_put_invoice_paid_above_total_is_400(client, books_headers, customer):
    response = put(client, "/api/v1/invoices/INV-1", {**INVOICE, "amount_paid": "2000.00"}, books_headers)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "amount_paid",
            "value": "2000.00",
            "message": "is above total 1234.50: more cannot be paid than is owed",
        }
    ]


def test_put_invoice_with_missing_and_unknown_fields_is_400_naming_each(client, books_headers, customer):
    body = {key: value for key, value in INVOICE.items() if key != "currency"} | {"pay_link": "https://x"}
    errors = put(client, "/api/v1/invoices/INV-1", body, books_headers).json()["errors"]
    assert [(error["field"], error["message"].split(":")[0]) for error in errors] == [
        ("currency", "is required"),
        ("pay_link", "is not a field here"),
    ]


def test_get_invoice_has_its_reminders_with_their_message_and_delivery_state(client, books_headers, customer):
    invoice = InvoiceFactory(number="INV-7", customer=customer)
    NotificationFactory(invoice=invoice, threshold_days=30, level=2)
    delivered(
        NotificationFactory(invoice=invoice, threshold_days=1, level=1), state=MessageState.SENT, attempts=1
    )
    response = client.get("/api/v1/invoices/INV-7", headers=books_headers)
    assert response.status_code == 200
    reminders = response.json()["reminders"]
    assert [(r["threshold_days"], r["delivery_state"]) for r in reminders] == [(1, "sent"), (30, "pending")]
    assert all(r["message"] for r in reminders)
    assert [r["attempts"] for r in reminders] == [1, None]


def test_get_unknown_invoice_is_404(client, books_headers):
    response = client.get("/api/v1/invoices/INV-404", headers=books_headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "No invoice with number 'INV-404'."}


# --- payments --------------------------------------------------------------------------------------------


@pytest.fixture
def invoice(customer):
    return InvoiceFactory(number="INV-1", customer=customer, total=Decimal("1234.50"))


def test_post_payment_records_it_with_201(client, books_headers, invoice):
    response = post(client, "/api/v1/invoices/INV-1/payments", PAYMENT, books_headers)
    assert response.status_code == 201
    body = response.json()
    assert body["result"] == "created"
    assert body["payment"]["reference"] == PAYMENT["reference"]
    assert (body["invoice"]["amount_paid"], body["invoice"]["balance_due"]) == ("234.50", "1000.00")


def test_the_same_payment_twice_is_recorded_once_and_answers_200_with_the_first(
    client, books_headers, invoice
):
    first = post(client, "/api/v1/invoices/INV-1/payments", PAYMENT, books_headers).json()
    again = post(client, "/api/v1/invoices/INV-1/payments", PAYMENT, books_headers)
    assert again.status_code == 200
    assert again.json() == {**first, "result": "unchanged"}
    invoice.refresh_from_db()
    assert (Payment.objects.count(), invoice.amount_paid) == (1, Decimal("234.50"))


def test_the_whole_balance_makes_the_invoice_paid(client, books_headers, invoice):
    body = post(
        client, "/api/v1/invoices/INV-1/payments", {**PAYMENT, "amount": "1234.50"}, books_headers
    ).json()
    assert (body["invoice"]["status"], body["invoice"]["balance_due"]) == ("paid", "0.00")


def test_a_payment_above_the_balance_is_400_and_records_nothing(client, books_headers, invoice):
    response = post(
        client, "/api/v1/invoices/INV-1/payments", {**PAYMENT, "amount": "1234.51"}, books_headers
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["field"], error["value"]) == ("amount", "1234.51")
    assert error["message"].startswith("is above the balance due of invoice INV-1 (EUR 1234.50)")
    assert not Payment.objects.exists()


def test_a_payment_of_a_void_invoice_is_400_naming_the_invoice(client, books_headers, invoice):
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.VOID)
    [error] = post(client, "/api/v1/invoices/INV-1/payments", PAYMENT, books_headers).json()["errors"]
    assert (error["field"], error["value"]) == ("invoice", "INV-1")
    assert "void" in error["message"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({**PAYMENT, "amount": "abc"}, "amount", 'is not an amount: e.g. "1234.50"'),
        ({**PAYMENT, "amount": "0"}, "amount", "must be above 0"),
        ({**PAYMENT, "amount": "1.005"}, "amount", "has more decimals than EUR has minor units (2)"),
        ({**PAYMENT, "paid_at": "yesterday"}, "paid_at", "is not a date and time"),
        ({**PAYMENT, "reference": " "}, "reference", "must not be blank"),
        ({"amount": "1.00", "paid_at": PAYMENT["paid_at"]}, "reference", "is required"),
    ],
)
def test_an_invalid_payment_is_400_naming_field_and_rule(
    client, books_headers, invoice, body, field, message
):
    response = post(client, "/api/v1/invoices/INV-1/payments", body, books_headers)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert error["message"].startswith(message)
    assert not Payment.objects.exists()


def test_a_payment_of_an_unknown_invoice_is_404(client, books_headers):
    assert post(client, "/api/v1/invoices/INV-404/payments", PAYMENT, books_headers).status_code == 404


def test_a_payment_time_without_an_offset_is_in_the_configured_zone(client, books_headers, invoice, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    post(
        client,
        "/api/v1/invoices/INV-1/payments",
        {**PAYMENT, "paid_at": "2026-03-11T10:30:00"},
        books_headers,
    )
    assert Payment.objects.get().paid_at == datetime(2026, 3, 11, 9, 30, tzinfo=UTC)


# --- the schema ------------------------------------------------------------------------------------------


def test_the_openapi_schema_documents_every_books_endpoint_with_its_codes(client):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]
    expected = {
        ("/api/v1/customers/{reference}", "get"): {"200", "401", "403", "404"},
        ("/api/v1/customers/{reference}", "put"): {"200", "201", "400", "401", "403", "415"},
        ("/api/v1/invoices/{number}", "get"): {"200", "401", "403", "404"},
        ("/api/v1/invoices/{number}", "put"): {"200", "201", "400", "401", "403", "415"},
        ("/api/v1/invoices/bulk", "post"): {"200", "400", "401", "403", "415"},
        ("/api/v1/invoices/{number}/payments", "post"): {"200", "201", "400", "401", "403", "404", "415"},
    }
    for (url, method), codes in expected.items():
        operation = paths[url][method]
        assert set(operation["responses"]) == codes, (url, method)
        if method != "get":
            assert "requestBody" in operation, (url, method)


@pytest.mark.parametrize(
    ("text", "message"),
    [("a\x00b", "holds a NUL character"), ("a\ud800b", "holds a lone surrogate")],
)
def test_text_no_column_can_store_is_400_not_a_server_error(client, books_headers, invoice, text, message):
    body = json.dumps({**PAYMENT, "reference": text})  # as JSON escapes: \u0000, \ud800
    response = client.post(
        "/api/v1/invoices/INV-1/payments", body, content_type="application/json", headers=books_headers
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith(message)
    assert not Payment.objects.exists()


def test_a_nul_in_the_url_is_404(client, books_headers):
    assert client.get("/api/v1/invoices/INV%001", headers=books_headers).status_code == 404
    assert client.get("/api/v1/customers/C%001", headers=books_headers).status_code == 404
