"""Customers, invoices and payments from the books (docs/SPEC.md §12): thin views over
``invoicing.upserts``, ``invoicing.imports`` and ``invoicing.services.payment_record``.

Bearer tokens as in §7, plus the Django model permissions the admin uses. A rejected write answers 400
with every error as ``{"field", "value", "message"}`` (and ``index`` in a bulk write) and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.urls import path
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.book_serializers import (
    BulkSerializer,
    BulkWrittenSerializer,
    CustomerPutSerializer,
    CustomerSerializer,
    CustomerWrittenSerializer,
    InvoicePutSerializer,
    InvoiceSerializer,
    InvoiceWrittenSerializer,
    PaymentPostSerializer,
    PaymentRecordedSerializer,
    ValidationErrorSerializer,
)
from api.permissions import HasModelPermissions
from api.serializers import ErrorSerializer
from common.dates import DATE_RULE, parse_iso_date
from invoicing.imports import CUSTOMER_COLUMNS, ImportRefused, RowError, invoices_upsert, row_problems
from invoicing.models import Customer, Invoice, default_language
from invoicing.services import hold_problems, invoice_hold_put, payment_record
from invoicing.upserts import customer_put, invoice_put
from reminders.models import Notification

TAG = "books"
BULK_LIMIT = 1_000
INVOICE_FIELDS = ("issue_date", "due_date", "currency", "total", "amount_paid", "status", "payment_url")
# Set with PUT of one invoice; left as they are when none is given (the books know nothing of holds).
HOLD_FIELDS = ("reminders_held_until", "hold_reason", "hold_note")
OPTIONAL = {"amount_paid": "0", "payment_url": ""}
WRITE_ERRORS = {
    400: OpenApiResponse(ValidationErrorSerializer, description="Invalid: every error, nothing written."),
    401: OpenApiResponse(ErrorSerializer, description="No token, or an invalid, revoked or misplaced one."),
    403: OpenApiResponse(ErrorSerializer, description="Not active staff, or lacking the model permissions."),
    415: OpenApiResponse(ErrorSerializer, description="The body is not sent as application/json."),
}
READ_ERRORS = {code: WRITE_ERRORS[code] for code in (401, 403)}
READ_ERRORS[404] = OpenApiResponse(ErrorSerializer, description="Not found.")


@dataclass(frozen=True)
class FieldError:
    field: str
    value: object
    message: str
    index: int | None = None

    def body(self) -> dict[str, object]:
        shown = {"field": self.field, "value": self.value, "message": self.message}
        return shown if self.index is None else {"index": self.index, **shown}


class Refused(Exception):
    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = list(errors)


def refused_response(errors: Sequence[FieldError], count: int | None = None) -> Response:
    count = len(errors) if count is None else count
    detail = f"{count} error{'s' if count != 1 else ''}; nothing was written."
    body = {"detail": detail, "errors": [error.body() for error in errors]}
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


def json_body(request: Request) -> Any:
    """The parsed body; refused when it is not JSON, or holds text no database column can store."""
    try:
        data = request.data
    except ParseError as exc:
        raise Refused([FieldError("body", None, f"is not valid JSON: {exc.detail}")]) from None
    for text in _texts(data):
        if "\x00" in text:
            raise Refused([FieldError("body", None, "holds a NUL character (\\u0000), which no field takes")])
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise Refused(
                [FieldError("body", None, "holds a lone surrogate (\\ud800…): not Unicode text")]
            ) from None
    return data


def _texts(value: object) -> Iterator[str]:
    """Every string of a parsed JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def storable(key: str) -> bool:
    """A key from the URL the database can look up (PostgreSQL text holds no NUL)."""
    return "\x00" not in key


def body_object(data: Any, *, field: str = "body", index: int | None = None) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise Refused([FieldError(field, data, "must be a JSON object", index)])
    return data


def shape_problems(
    item: Mapping[str, Any], *, required: Sequence[str], allowed: Sequence[str], index: int | None = None
) -> list[FieldError]:
    """Fields missing from a JSON object, and fields the endpoint does not know."""
    errors = [FieldError(name, None, "is required", index) for name in required if name not in item]
    known = ", ".join(allowed)
    errors += [
        FieldError(name, item[name], f"is not a field here: the fields are {known}", index)
        for name in item
        if name not in allowed
    ]
    return errors


def field_errors(
    errors: Sequence[RowError],
    *,
    fields: Mapping[str, str],
    given: Mapping[str, Any],
    index: int | None = None,
) -> list[FieldError]:
    """The import's errors named by the API's fields; the value as the body gave it, where it did."""
    shown = []
    for error in errors:
        name = fields.get(error.column, error.column)
        value = (
            given.get(name, error.value)
            if isinstance(given.get(name), str | int | float | bool)
            else error.value
        )
        shown.append(FieldError(name, value, error.message, index))
    return shown


# --- customers -------------------------------------------------------------------------------------------

CUSTOMER_FIELDS = {
    "customer_reference": "reference",
    "customer_name": "name",
    "customer_email": "email",
    "customer_language": "language",
}


class CustomerView(APIView):
    permission_classes = [HasModelPermissions]
    model_permissions = {
        "GET": ("invoicing.view_customer",),
        "PUT": ("invoicing.add_customer", "invoicing.change_customer"),
    }

    @extend_schema(
        tags=[TAG],
        summary="One customer, by its reference",
        responses={200: CustomerSerializer, **READ_ERRORS},
    )
    def get(self, request: Request, reference: str) -> Response:
        customer = None
        if storable(reference):
            customer = Customer.objects.exclude(reference="").filter(reference=reference).first()
        if customer is None:
            raise NotFound(f"No customer with reference {reference!r}.")
        return Response(CustomerSerializer(customer).data)

    @extend_schema(
        tags=[TAG],
        summary="Create or replace a customer, by its reference",
        description="201 when created; 200 when updated or unchanged (result says which).",
        request=CustomerPutSerializer,
        responses={201: CustomerWrittenSerializer, 200: CustomerWrittenSerializer, **WRITE_ERRORS},
    )
    def put(self, request: Request, reference: str) -> Response:
        try:
            data = body_object(json_body(request))
            allowed = ("name", "email", "reminders_paused", "language")
            if errors := shape_problems(data, required=allowed[:2], allowed=allowed):
                raise Refused(errors)
            paused = data.get("reminders_paused", False)
            if not isinstance(paused, bool):
                raise Refused([FieldError("reminders_paused", paused, "must be true or false")])
            written = customer_put(
                reference=reference,
                name=_text(data["name"]),
                email=_text(data["email"]),
                reminders_paused=paused,
                language=data.get("language", default_language()),
            )
        except Refused as refused:
            return refused_response(refused.errors)
        except ImportRefused as refused:
            given = {"reference": reference, **data}
            return refused_response(field_errors(refused.errors, fields=CUSTOMER_FIELDS, given=given))
        body = {"result": written.result, **CustomerSerializer(written.customer).data}
        code = status.HTTP_201_CREATED if written.result == "created" else status.HTTP_200_OK
        return Response(body, status=code)


def _text(value: object) -> str:
    """Text as given; anything else as its JSON-ish text, which the import's rules then refuse or keep."""
    return value if isinstance(value, str) else "" if value is None else str(value)


# --- invoices --------------------------------------------------------------------------------------------

INVOICE_COLUMNS = {
    "customer_reference": "customer",
    "customer_name": "customer",
    "customer_email": "customer",
}


def invoice_detail(number: str) -> Invoice:
    reminders = Notification.objects.select_related("delivery").order_by("threshold_days")
    invoice = storable(number) and (
        Invoice.objects.select_related("customer")
        .prefetch_related(Prefetch("notifications", queryset=reminders), "payments")
        .filter(number=number)
        .first()
    )
    if not invoice:
        raise NotFound(f"No invoice with number {number!r}.")
    return invoice


def invoice_row(number: str, data: Mapping[str, Any], customer: tuple[str, str, str]) -> dict[str, object]:
    """An API invoice in the import's columns, its customer's given as ``(reference, name, email)``."""
    row: dict[str, object] = dict(zip(CUSTOMER_COLUMNS, customer, strict=True))
    row["number"] = number
    for name in INVOICE_FIELDS:
        row[name] = data.get(name, OPTIONAL.get(name))
    return row


class InvoiceView(APIView):
    permission_classes = [HasModelPermissions]
    model_permissions = {
        "GET": ("invoicing.view_invoice",),
        "PUT": ("invoicing.add_invoice", "invoicing.change_invoice"),
    }

    @extend_schema(
        tags=[TAG],
        summary="One invoice, by its number, with its payments and its reminders",
        description="Each reminder with its message and its delivery state.",
        responses={200: InvoiceSerializer, **READ_ERRORS},
    )
    def get(self, request: Request, number: str) -> Response:
        return Response(InvoiceSerializer(invoice_detail(number)).data)

    @extend_schema(
        tags=[TAG],
        summary="Create or replace an invoice, by its number",
        description="customer is the reference of an existing customer (PUT it first). 201 when created; "
        "200 when updated or unchanged (result says which). The rules are the file import's.",
        request=InvoicePutSerializer,
        responses={201: InvoiceWrittenSerializer, 200: InvoiceWrittenSerializer, **WRITE_ERRORS},
    )
    def put(self, request: Request, number: str) -> Response:
        try:
            data = body_object(json_body(request))
            allowed = ("customer", *INVOICE_FIELDS, *HOLD_FIELDS)
            required = [name for name in allowed if name not in OPTIONAL and name not in HOLD_FIELDS]
            if errors := shape_problems(data, required=required, allowed=allowed):
                raise Refused(errors)
            customer = _existing_customer(data["customer"])
            row = invoice_row(number, data, (customer.reference, customer.name, customer.email))
            hold, hold_errors = hold_values(data)
            if (problems := row_problems(0, row)[1]) or hold_errors:
                given = {"number": number, **data}
                raise Refused([*field_errors(problems, fields=INVOICE_COLUMNS, given=given), *hold_errors])
            with transaction.atomic():
                result = invoice_put(values=row)
                if hold is not None and invoice_hold_put(number=number, **hold) and result == "unchanged":
                    result = "updated"
        except Refused as refused:
            return refused_response(refused.errors)
        except ImportRefused as refused:
            given = {"number": number, **data}
            return refused_response(field_errors(refused.errors, fields=INVOICE_COLUMNS, given=given))
        body = {"result": result, **InvoiceSerializer(invoice_detail(number)).data}
        return Response(body, status=status.HTTP_201_CREATED if result == "created" else status.HTTP_200_OK)


def hold_values(data: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """The hold a PUT gives (``reminders_held_until`` null: none), or None when it gives no hold field;
    and what is wrong with it, each error naming its field."""
    if not any(name in data for name in HOLD_FIELDS):
        return None, []
    raw_until, reason, note = (data.get(name) for name in HOLD_FIELDS)
    errors = [
        FieldError(name, value, "must be text")
        for name, value in (("hold_reason", reason), ("hold_note", note))
        if value is not None and not isinstance(value, str)
    ]
    until = _hold_date(raw_until)
    if raw_until is not None and until is None:
        return None, [*errors, FieldError("reminders_held_until", raw_until, DATE_RULE)]
    hold: dict[str, Any] = {"until": until, "reason": _text(reason), "note": _text(note).strip()}
    if not errors:
        errors += [FieldError(*problem) for problem in hold_problems(**hold)]
    return hold, errors


def _hold_date(value: object) -> date | None:
    try:
        return parse_iso_date(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _existing_customer(reference: object) -> Customer:
    found = None
    if isinstance(reference, str) and reference and storable(reference):
        found = Customer.objects.filter(reference=reference).first()
    if found is None:
        raise Refused(
            [
                FieldError(
                    "customer",
                    reference,
                    "is not the reference of a customer: create it with PUT /api/v1/customers/{reference}",
                )
            ]
        )
    return found


# --- bulk ------------------------------------------------------------------------------------------------

BULK_INVOICE_FIELDS = ("number", "customer", *INVOICE_FIELDS)
INLINE_CUSTOMER_FIELDS = ("reference", "name", "email")
INLINE_COLUMNS = {
    "customer_reference": "customer.reference",
    "customer_name": "customer.name",
    "customer_email": "customer.email",
}


@dataclass
class BulkItem:
    index: int
    data: Mapping[str, Any]
    inline: bool
    customer: tuple[str, str, str] | None = None


def bulk_items(body: Any) -> list[BulkItem]:
    """The body's invoices, each with its customer resolved (inline, inline elsewhere in the body, or
    stored); raises ``Refused`` with every error of their shape."""
    invoices = body_object(body).get("invoices")
    if not isinstance(invoices, list) or not 1 <= len(invoices) <= BULK_LIMIT:
        size = len(invoices) if isinstance(invoices, list) else invoices
        raise Refused([FieldError("invoices", size, f"must be a list of 1 to {BULK_LIMIT:,} invoices")])
    errors: list[FieldError] = []
    items = []
    for index, raw in enumerate(invoices):
        try:
            data = body_object(raw, field="invoices", index=index)
        except Refused as refused:
            errors += refused.errors
            continue
        required = [name for name in BULK_INVOICE_FIELDS if name not in OPTIONAL]
        errors += shape_problems(data, required=required, allowed=BULK_INVOICE_FIELDS, index=index)
        customer = data.get("customer")
        if customer is not None and not isinstance(customer, str | Mapping):
            rule = "must be a customer's reference (text) or the customer as an object"
            errors.append(FieldError("customer", customer, rule, index))
            continue
        item = BulkItem(index, data, inline=isinstance(customer, Mapping))
        if isinstance(customer, Mapping):
            fields = INLINE_CUSTOMER_FIELDS
            problems = shape_problems(customer, required=fields, allowed=fields)
            errors += [FieldError(f"customer.{e.field}", e.value, e.message, index) for e in problems]
            reference, name, email = (_text(customer.get(field)) for field in fields)
            item.customer = (reference, name, email)
        items.append(item)
    errors += _resolve_references(items)
    if errors:
        raise Refused(errors)
    return items


def _resolve_references(items: list[BulkItem]) -> list[FieldError]:
    inline = {item.customer[0]: item.customer for item in items if item.customer is not None}
    named = [item.data["customer"] for item in items if isinstance(item.data.get("customer"), str)]
    stored = {
        row[0]: row
        for row in Customer.objects.filter(reference__in=named).values_list("reference", "name", "email")
    }
    errors = []
    for item in items:
        if item.inline or "customer" not in item.data:
            continue
        reference = item.data["customer"]
        item.customer = inline.get(reference) or stored.get(reference)
        if item.customer is None:
            rule = "is not the reference of a customer, stored or inline in this request"
            errors.append(FieldError("customer", reference, rule, item.index))
    return errors


def bulk_rows(items: list[BulkItem]) -> list[dict[str, object]]:
    """The items in the import's columns; raises ``Refused`` with every row's errors."""
    rows, errors = [], []
    for item in items:
        assert item.customer is not None
        row = invoice_row(_text(item.data["number"]), item.data, item.customer)
        problems = row_problems(item.index, row)[1]
        errors += _bulk_errors(problems, items)
        rows.append(row)
    if errors:
        raise Refused(errors)
    return rows


def _bulk_errors(problems: Sequence[RowError], items: Sequence[BulkItem]) -> list[FieldError]:
    shown = []
    for problem in problems:
        item = items[problem.line]
        fields = INLINE_COLUMNS if item.inline else INVOICE_COLUMNS
        given = dict(item.data)
        if item.inline:
            given.update({f"customer.{name}": value for name, value in item.data["customer"].items()})
        shown += field_errors([problem], fields=fields, given=given, index=problem.line)
    return shown


class InvoiceBulkView(APIView):
    permission_classes = [HasModelPermissions]
    model_permissions = {
        "POST": (
            "invoicing.add_invoice",
            "invoicing.change_invoice",
            "invoicing.add_customer",
            "invoicing.change_customer",
        )
    }

    @extend_schema(
        tags=[TAG],
        summary="Create or replace up to 1,000 invoices, all or nothing",
        description="Each invoice names an existing customer's reference or carries its customer inline. "
        "200 with the counts; or 400 with every error (index: the invoice's position) and nothing written. "
        "The rules are the file import's, one invoice number and one name and email per customer "
        "reference in a request included.",
        request=BulkSerializer,
        responses={200: BulkWrittenSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        try:
            items = bulk_items(json_body(request))
            result = invoices_upsert(rows=bulk_rows(items))
        except Refused as refused:
            return refused_response(refused.errors)
        except ImportRefused as refused:
            return refused_response(_bulk_errors(refused.errors, items), refused.count)
        counts = result.invoices
        body = {
            "created": counts.created,
            "updated": counts.updated,
            "unchanged": counts.unchanged,
            "customers": vars(result.customers),
        }
        return Response(body)


# --- payments --------------------------------------------------------------------------------------------


class PaymentView(APIView):
    permission_classes = [HasModelPermissions]
    model_permissions = {"POST": ("invoicing.add_payment", "invoicing.change_invoice")}

    @extend_schema(
        tags=[TAG],
        summary="Record a payment of an invoice, once per reference",
        description="Adds amount to amount_paid; the invoice becomes paid when nothing is owed. The same "
        "reference again records nothing and answers 200 with the payment as first recorded. A payment "
        "above the balance due, or of a void invoice, is a 400.",
        request=PaymentPostSerializer,
        responses={
            201: PaymentRecordedSerializer,
            200: PaymentRecordedSerializer,
            **READ_ERRORS,
            **WRITE_ERRORS,
        },
    )
    def post(self, request: Request, number: str) -> Response:
        invoice = invoice_detail(number)
        try:
            data = body_object(json_body(request))
            allowed = ("reference", "amount", "paid_at")
            if errors := shape_problems(data, required=allowed, allowed=allowed):
                raise Refused(errors)
            reference, amount, paid_at = _payment_values(data)
            recorded = payment_record(invoice=invoice, reference=reference, amount=amount, paid_at=paid_at)
        except Refused as refused:
            return refused_response(refused.errors)
        except ValidationError as refused:
            return refused_response(_validation_errors(refused, data))
        body = {
            "result": "created" if recorded.created else "unchanged",
            "payment": recorded.payment,
            "invoice": invoice_detail(number),
        }
        code = status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK
        return Response(PaymentRecordedSerializer(body).data, status=code)


def _payment_values(data: Mapping[str, Any]) -> tuple[str, Decimal, datetime]:
    reference, amount, paid_at = data["reference"], _decimal(data["amount"]), _datetime(data["paid_at"])
    errors = []
    if not isinstance(reference, str):
        errors.append(FieldError("reference", reference, "must be text"))
    if amount is None:
        errors.append(FieldError("amount", data["amount"], 'is not an amount: e.g. "1234.50"'))
    if paid_at is None:
        rule = "is not a date and time: ISO 8601, e.g. 2026-03-01T12:00:00Z"
        errors.append(FieldError("paid_at", data["paid_at"], rule))
    if errors or not isinstance(reference, str) or amount is None or paid_at is None:
        raise Refused(errors)
    return reference, amount, paid_at


def _datetime(value: object) -> datetime | None:
    """ISO 8601; one without an offset is in TIME_ZONE."""
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well formed, but no such day or hour
        return None
    if parsed is not None and timezone.is_naive(parsed):
        return timezone.make_aware(parsed)
    return parsed


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


# payment_record's messages read "field=value: rule."; the API gives the three apart.
SERVICE_MESSAGE = re.compile(r"(?P<field>\w+)=(?P<value>.*?): (?P<rule>.*?)\.?", re.DOTALL)


def _validation_errors(error: ValidationError, data: Mapping[str, Any]) -> list[FieldError]:
    errors = []
    for name, messages in error.message_dict.items():
        for message in messages:
            found = SERVICE_MESSAGE.fullmatch(message)
            value = data.get(name, found["value"] if found else None)
            errors.append(FieldError(name, value, found["rule"] if found else message))
    return errors


app_name = "books-api"

urlpatterns = [
    path("customers/<str:reference>", CustomerView.as_view(), name="customer"),
    path("invoices/bulk", InvoiceBulkView.as_view(), name="invoice-bulk"),
    path("invoices/<str:number>/payments", PaymentView.as_view(), name="invoice-payments"),
    path("invoices/<str:number>", InvoiceView.as_view(), name="invoice"),
]
