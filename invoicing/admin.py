import csv
import re
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone

from invoicing.currency import in_minor_units
from invoicing.models import Customer, Invoice, InvoiceQuerySet, not_owed_reason
from invoicing.resources import InvoiceImportExportMixin
from invoicing.selectors import BUCKET_KEYS, receivables_aging


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "reminders_paused"]
    list_filter = ["reminders_paused"]
    search_fields = ["name", "email"]


class OverdueTodayFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # TIME_ZONE is OVERDUE_INVOICE_TIMEZONE, so this is the check's "today" (docs/SPEC.md §3).
        return [("yes", "Overdue as of today")]

    def queryset(self, request: HttpRequest, queryset: InvoiceQuerySet) -> InvoiceQuerySet:  # type: ignore[override]
        if self.value() == "yes":
            return queryset.overdue(as_of=timezone.localdate())
        return queryset


ISO_4217 = re.compile(r"[A-Z]{3}")


class InvoiceAdminForm(forms.ModelForm):
    """The database's check constraints, said on the field at fault: the constraints stay the safety,
    these only give finance staff a message they can act on instead of a constraint name."""

    class Meta:
        model = Invoice
        fields = [
            "customer",
            "number",
            "issue_date",
            "due_date",
            "currency",
            "total",
            "amount_paid",
            "status",
        ]

    def clean_currency(self) -> str:
        currency = self.cleaned_data["currency"]
        if not ISO_4217.fullmatch(currency):
            raise forms.ValidationError(
                f"{currency!r} is not a currency code: use the 3 capital letters of ISO 4217, e.g. EUR."
            )
        return currency

    def clean_total(self) -> Decimal:
        return _not_negative(self.cleaned_data["total"])

    def clean_amount_paid(self) -> Decimal:
        return _not_negative(self.cleaned_data["amount_paid"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        issue_date, due_date = cleaned.get("issue_date"), cleaned.get("due_date")
        if issue_date and due_date and due_date < issue_date:
            self.add_error("due_date", f"The due date cannot be before the issue date ({issue_date}).")
        return cleaned


def _not_negative(amount: Decimal) -> Decimal:
    if amount < 0:
        raise forms.ValidationError("An amount cannot be negative.")
    return amount


class EchoBuffer:
    """What ``csv.writer`` writes to when each row is streamed out as soon as it is made."""

    def write(self, value: str) -> str:
        return value


# A cell starting with one of these is a formula to a spreadsheet (CSV injection): it is written as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_text(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def csv_response(rows: Iterable[Iterable[Any]], *, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(EchoBuffer())
    response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def aging_csv_rows(*, as_of: date) -> Iterator[list[Any]]:
    yield [
        "as_of",
        "currency",
        "total",
        "count",
        *(f"{key} {part}" for key in BUCKET_KEYS for part in ("amount", "count")),
        "paused amount",
        "paused count",
    ]
    for row in receivables_aging(as_of=as_of):
        shares = [value for share in row.buckets.values() for value in (share.amount, share.count)]
        yield [as_of, row.currency, row.total, row.count, *shares, row.paused.amount, row.paused.count]


OVERDUE_CSV_COLUMNS = ["number", "customer", "email", "due_date", "days_overdue", "currency", "balance_due"]


def overdue_csv_rows(*, as_of: date) -> Iterator[list[Any]]:
    """Oldest due first, read in chunks: memory stays flat however many invoices are overdue."""
    yield OVERDUE_CSV_COLUMNS
    rows = (
        Invoice.objects.overdue(as_of=as_of)
        .order_by("due_date", "id")
        .values_list("number", "customer__name", "customer__email", "due_date", "currency", "balance_due")
    )
    for number, name, email, due_date, currency, balance in rows.iterator(chunk_size=2000):
        days = (as_of - due_date).days
        yield [
            as_text(number),
            as_text(name),
            as_text(email),
            due_date,
            days,
            currency,
            in_minor_units(balance, currency),
        ]


@admin.register(Invoice)
# django-import-export's stubs type the mixin's model and change_list_template apart from ModelAdmin's.
class InvoiceAdmin(InvoiceImportExportMixin, admin.ModelAdmin):  # type: ignore[misc]
    form = InvoiceAdminForm
    list_display = [
        "number",
        "customer_name",
        "due_date",
        "days_overdue",
        "status",
        "currency",
        "total",
        "balance_due",
    ]
    list_filter = [OverdueTodayFilter, "status", ("due_date", admin.DateFieldListFilter), "currency"]
    search_fields = ["number", "customer__name", "customer__email"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    readonly_fields = ["balance_due"]
    date_hierarchy = "due_date"
    show_full_result_count = False

    @admin.display(description="customer", ordering="customer__name")
    def customer_name(self, invoice: Invoice) -> str:
        return invoice.customer.name

    @admin.display(description="days overdue", ordering="-due_date")
    def days_overdue(self, invoice: Invoice) -> int | None:
        """Days past due today for an invoice that is overdue (the rule of the "Overdue as of today"
        filter); none otherwise."""
        days = (timezone.localdate() - invoice.due_date).days
        reason = not_owed_reason(
            status=invoice.status,
            balance_due=invoice.balance_due,
            reminders_paused=invoice.customer.reminders_paused,
        )
        return days if not reason and days > 0 else None

    def get_ordering(self, request: HttpRequest) -> Any:
        # The overdue list is worked from the oldest debt down.
        if request.GET.get(OverdueTodayFilter.parameter_name) == "yes":
            return ["due_date", "id"]
        return super().get_ordering(request)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        response = super().changelist_view(request, extra_context=extra_context)
        context = response.context_data if isinstance(response, TemplateResponse) else None
        if context is not None and "cl" in context:
            context["currency_totals"] = currency_totals(context["cl"].queryset)
        return response

    def get_urls(self) -> list[URLPattern]:
        views = [
            ("aging.csv", self.aging_csv_view, "invoicing_invoice_aging_csv"),
            ("overdue.csv", self.overdue_csv_view, "invoicing_invoice_overdue_csv"),
        ]
        ours = [path(route, self.admin_site.admin_view(view), name=name) for route, view, name in views]
        return [*ours, *super().get_urls()]

    def aging_csv_view(self, request: HttpRequest) -> StreamingHttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        as_of = timezone.localdate()
        return csv_response(aging_csv_rows(as_of=as_of), filename=f"receivables-aging-{as_of}.csv")

    def overdue_csv_view(self, request: HttpRequest) -> StreamingHttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        as_of = timezone.localdate()
        return csv_response(overdue_csv_rows(as_of=as_of), filename=f"overdue-invoices-{as_of}.csv")


def currency_totals(invoices: QuerySet[Invoice]) -> list[dict[str, Any]]:
    """The balance due and the count of ``invoices`` per currency, in each currency's minor units."""
    rows = invoices.order_by().values("currency").annotate(balance=Sum("balance_due"), count=Count("id"))
    return [
        {
            "currency": row["currency"],
            "balance": in_minor_units(row["balance"], row["currency"]),
            "count": row["count"],
        }
        for row in rows.order_by("currency")
    ]
