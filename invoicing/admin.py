import re
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from invoicing.models import Customer, Invoice


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

    def queryset(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
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
        cleaned = super().clean()
        issue_date, due_date = cleaned.get("issue_date"), cleaned.get("due_date")
        if issue_date and due_date and due_date < issue_date:
            self.add_error("due_date", f"The due date cannot be before the issue date ({issue_date}).")
        return cleaned


def _not_negative(amount: Decimal) -> Decimal:
    if amount < 0:
        raise forms.ValidationError("An amount cannot be negative.")
    return amount


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    form = InvoiceAdminForm
    list_display = ["number", "customer", "due_date", "status", "currency", "total", "balance_due"]
    list_filter = [OverdueTodayFilter, "status", ("due_date", admin.DateFieldListFilter), "currency"]
    search_fields = ["number", "customer__name", "customer__email"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    readonly_fields = ["balance_due"]
    date_hierarchy = "due_date"
    show_full_result_count = False
