import csv
import re
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.widgets import AdminDateWidget
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join

from common.admin import IndexedSearchAdmin, PlainCheckboxAdmin
from invoicing.currency import amount_text, in_minor_units
from invoicing.models import (
    Customer,
    HoldReason,
    Invoice,
    InvoiceQuerySet,
    days_overdue,
    held_on,
    not_owed_reason,
)
from invoicing.resources import InvoiceImportExportMixin
from invoicing.selectors import (
    BUCKET_KEYS,
    CurrencyOverdue,
    invoice_currencies,
    invoices_matching,
    overdue_totals,
    receivables_aging,
)
from invoicing.services import invoices_hold, invoices_release

# The first of a customer's open invoices listed on its page (oldest due first); the rest are a link away.
CUSTOMER_PAGE_INVOICES = 20
Summary = list[tuple[str, str]]


class SummaryAdmin(admin.ModelAdmin):
    """A change page that leads with a summary (``summary``: label and HTML rows) above the form."""

    def summary(self, obj: Any) -> Summary:
        return []

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> Any:
        if obj is not None:
            context["summary"] = self.summary(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)


class AddressBouncedFilter(admin.SimpleListFilter):
    title = "address"
    parameter_name = "address"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("bounced", "address bounced")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Customer]) -> QuerySet[Customer]:
        return queryset.email_suppressed() if self.value() == "bounced" else queryset  # type: ignore[attr-defined]


@admin.register(Customer)
class CustomerAdmin(PlainCheckboxAdmin, SummaryAdmin):
    list_display = ["name", "email", "reminders_paused", "language"]
    list_filter = ["reminders_paused", "language", AddressBouncedFilter]
    search_fields = ["name", "email"]
    # Set by the provider's reports (SPEC §14), shown in the summary; changing the email lifts it.
    exclude = ["email_suppressed_at", "email_suppressed_reason", "email_suppressed_address"]

    def summary(self, customer: Customer) -> Summary:
        open_invoices = Invoice.objects.open().filter(customer=customer)
        return [
            *([("Address bounced", suppression_html(customer))] if customer.email_suppressed else []),
            ("Open balance", open_balance_html(open_invoices)),
            ("Open invoices", open_invoices_html(customer, open_invoices)),
        ]


def suppression_html(customer: Customer) -> str:
    """Why reminders to the customer are cancelled, and how staff end it."""
    return format_html(
        "<strong>{}</strong> bounced on {}: {}<br>Reminders to it are cancelled (“address bounced”). Correct "
        "the email and save: a new address lifts the suppression.",
        customer.email_suppressed_address,
        formats.date_format(timezone.localtime(customer.email_suppressed_at), "DATETIME_FORMAT")
        if customer.email_suppressed_at
        else "—",
        customer.email_suppressed_reason or "no description",
    )


def open_balance_html(open_invoices: InvoiceQuerySet) -> str:
    rows = open_invoices.order_by().values("currency").annotate(balance=Sum("balance_due"), n=Count("id"))
    if not rows:
        return "Nothing owed."
    return format_html_join(
        ", ",
        '<strong class="open-balance" data-currency="{}">{} {}</strong> ({} invoice{})',
        (
            (
                row["currency"],
                row["currency"],
                amount_text(row["balance"], row["currency"]),
                row["n"],
                "" if row["n"] == 1 else "s",
            )
            for row in rows.order_by("currency")
        ),
    )


def open_invoices_html(customer: Customer, open_invoices: InvoiceQuerySet) -> str:
    today = timezone.localdate()
    shown = list(open_invoices.order_by("due_date", "id")[: CUSTOMER_PAGE_INVOICES + 1])
    if not shown:
        return "None."
    rows = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td>{}</td><td class="num">{}</td><td class="num">{} {}</td></tr>',
        (
            (
                reverse("admin:invoicing_invoice_change", args=[invoice.pk]),
                invoice.number,
                formats.date_format(invoice.due_date),
                overdue_text(invoice, customer, today),
                invoice.currency,
                amount_text(invoice.balance_due, invoice.currency),
            )
            for invoice in shown[:CUSTOMER_PAGE_INVOICES]
        ),
    )
    table = format_html(
        '<table class="open-invoices"><thead><tr><th>invoice</th><th>due</th><th>days overdue</th>'
        "<th>balance due</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )
    if len(shown) <= CUSTOMER_PAGE_INVOICES:
        return table
    url = (
        reverse("admin:invoicing_invoice_changelist")
        + f"?customer__id__exact={customer.pk}&status__exact=sent"
    )
    return format_html('{}<p><a href="{}">All invoices of this customer</a></p>', table, url)


def overdue_text(invoice: Invoice, customer: Customer, today: date) -> str:
    """``44`` days overdue; or why not: ``not sent``, ``paid``, ``paused``, ``due in 3 days``."""
    reason = not_owed_reason(
        status=invoice.status, balance_due=invoice.balance_due, reminders_paused=customer.reminders_paused
    )
    days = days_overdue(due_date=invoice.due_date, as_of=today, reason=reason)
    if days is not None:
        return f"{days:,}"
    if reason:
        return f"— ({reason})"
    ahead = (invoice.due_date - today).days
    return "— (due today)" if ahead == 0 else f"— (due in {ahead:,} day{'' if ahead == 1 else 's'})"


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


class OnHoldFilter(admin.SimpleListFilter):
    title = "reminders held"
    parameter_name = "held"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "On hold today")]

    def queryset(self, request: HttpRequest, queryset: InvoiceQuerySet) -> InvoiceQuerySet:  # type: ignore[override]
        if self.value() == "yes":
            return queryset.filter(reminders_held_until__gte=timezone.localdate())
        return queryset


class HoldForm(forms.Form):
    """The "hold until…" action's own page: through which date, why, and a note for colleagues."""

    until = forms.DateField(
        label="Hold reminders through", widget=AdminDateWidget, help_text="No reminder through this date."
    )
    reason = forms.ChoiceField(label="Reason", choices=HoldReason.choices)
    note = forms.CharField(label="Note", required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))

    def clean_until(self) -> date:
        until: date = self.cleaned_data["until"]
        if until < timezone.localdate():
            raise forms.ValidationError(f"{until} has passed: hold through today or a later date.")
        return until


def hold_text(invoice: Invoice, today: date) -> str:
    """``held through 2026-12-20 (dispute): note``, or ``not held``."""
    until = invoice.reminders_held_until
    if until is None or not held_on(until, today):
        return "not held"
    note = f": {invoice.hold_note}" if invoice.hold_note else ""
    held = formats.date_format(until)
    return f"held through {held} ({invoice.get_hold_reason_display().lower()}){note}"


class CurrencyFilter(admin.SimpleListFilter):
    """The currencies in use, read by index (Django's own filter reads every invoice for them)."""

    title = "currency"
    parameter_name = "currency__exact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(currency, currency) for currency in invoice_currencies()]

    def queryset(self, request: HttpRequest, queryset: InvoiceQuerySet) -> InvoiceQuerySet:  # type: ignore[override]
        return queryset.filter(currency=self.value()) if self.value() else queryset


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
            "reminders_held_until",
            "hold_reason",
            "hold_note",
            "payment_url",
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
        self._clean_hold(cleaned)
        return cleaned

    def _clean_hold(self, cleaned: dict[str, Any]) -> None:
        held = cleaned.get("reminders_held_until")
        if held and not cleaned.get("hold_reason"):
            self.add_error("hold_reason", "A hold needs a reason.")
        if not held and (cleaned.get("hold_reason") or cleaned.get("hold_note")):
            field = "hold_reason" if cleaned.get("hold_reason") else "hold_note"
            self.add_error(field, "Set the date the hold lasts through, or clear the reason and the note.")


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
class InvoiceAdmin(InvoiceImportExportMixin, PlainCheckboxAdmin, IndexedSearchAdmin, SummaryAdmin):  # type: ignore[misc]
    form = InvoiceAdminForm
    list_display = [
        "number",
        "customer_name",
        "due_date",
        "days_overdue",
        "status",
        "currency",
        "total_amount",
        "balance",
    ]
    list_filter = [
        OverdueTodayFilter,
        OnHoldFilter,
        "status",
        ("due_date", admin.DateFieldListFilter),
        CurrencyFilter,
    ]
    actions = ["hold", "release"]
    search_fields = ["number", "customer__name", "customer__email"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    readonly_fields = ["balance"]
    # No date hierarchy: it reads every invoice of the list twice on each page view (the first and last
    # due dates, the distinct months); the due date filter offers its ranges without a query.
    show_full_result_count = False

    def matching(self, words: list[str]) -> QuerySet[Invoice, Any]:
        return invoices_matching(words)

    @admin.display(description="customer", ordering="customer__name")
    def customer_name(self, invoice: Invoice) -> str:
        return invoice.customer.name

    @admin.display(description="total", ordering="total")
    def total_amount(self, invoice: Invoice) -> str:
        return amount_text(invoice.total, invoice.currency)

    @admin.display(description="balance due", ordering="balance_due")
    def balance(self, invoice: Invoice) -> str:
        return amount_text(invoice.balance_due, invoice.currency)

    @admin.display(description="days overdue", ordering="-due_date")
    def days_overdue(self, invoice: Invoice) -> int | None:
        """Days past due today for an invoice that is overdue (the rule of the "Overdue as of today"
        filter); none otherwise."""
        reason = not_owed_reason(
            status=invoice.status,
            balance_due=invoice.balance_due,
            reminders_paused=invoice.customer.reminders_paused,
        )
        return days_overdue(due_date=invoice.due_date, as_of=timezone.localdate(), reason=reason)

    def summary(self, invoice: Invoice) -> Summary:
        balance = format_html(
            '<strong id="summary-balance">{} {}</strong> of {} {}',
            invoice.currency,
            amount_text(invoice.balance_due, invoice.currency),
            invoice.currency,
            amount_text(invoice.total, invoice.currency),
        )
        overdue = format_html(
            '<strong id="summary-days-overdue">{}</strong> (due {})',
            overdue_text(invoice, invoice.customer, timezone.localdate()),
            formats.date_format(invoice.due_date),
        )
        customer = format_html(
            '<a href="{}">{}</a>{}',
            reverse("admin:invoicing_customer_change", args=[invoice.customer_id]),
            invoice.customer.name,
            " (reminders paused)" if invoice.customer.reminders_paused else "",
        )
        reminders = format_html('<span id="summary-hold">{}</span>', hold_text(invoice, timezone.localdate()))
        return [
            ("Balance due", balance),
            ("Days overdue", overdue),
            ("Customer", customer),
            ("Reminders", reminders),
        ]

    @admin.action(description="Hold reminders until…", permissions=["change"])
    def hold(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> TemplateResponse | None:
        form = HoldForm(request.POST if "apply" in request.POST else None)
        selected = list(queryset.values_list("pk", flat=True))
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            done = invoices_hold(ids=selected, until=data["until"], reason=data["reason"], note=data["note"])
            self.message_user(
                request,
                f"{done} invoice{'' if done == 1 else 's'} held through {data['until']}: no reminder for "
                "them until then, and those waiting in the outbox are left out.",
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Hold reminders",
            "opts": self.model._meta,
            "form": form,
            "media": self.media + form.media,
            "invoices": queryset.order_by("number")[:20],
            "count": len(selected),
            "selected": selected,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/invoicing/invoice/hold.html", context)

    @admin.action(description="Release the hold on reminders", permissions=["change"])
    def release(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        done = invoices_release(ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            f"{done} invoice{'' if done == 1 else 's'} released: the next run reminds them of the highest "
            "threshold they have reached.",
            messages.SUCCESS,
        )

    def get_ordering(self, request: HttpRequest) -> Any:
        # The overdue list is worked from the oldest debt down.
        if request.GET.get(OverdueTodayFilter.parameter_name) == "yes":
            return ["due_date", "id"]
        return super().get_ordering(request)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        response = super().changelist_view(request, extra_context=extra_context)
        context = response.context_data if isinstance(response, TemplateResponse) else None
        if context is not None and "cl" in context:
            context.update(self.totals(request, context["cl"].queryset))
        return response

    def totals(self, request: HttpRequest, listed: QuerySet[Invoice]) -> dict[str, Any]:
        """The balance due per currency of what is listed; on the overdue list, also the desk's overdue
        figure, from which the list's own totals are read when nothing else narrows it (one scan of the
        overdue invoices, not two)."""
        if request.GET.get(OverdueTodayFilter.parameter_name) != "yes":
            return {"currency_totals": currency_totals(listed)}
        today = timezone.localdate()
        overdue = overdue_totals(as_of=today)
        only_overdue = set(request.GET) <= {"p", "o", OverdueTodayFilter.parameter_name}
        listed_totals = reminded_rows(overdue) if only_overdue else currency_totals(listed)
        by_currency = {row["currency"]: row for row in listed_totals}
        no_listed = {"count": "0", "balance": "—"}
        rows = overdue_rows(overdue)
        for row in rows:
            row["listed"] = by_currency.get(row["currency"], no_listed)
        return {"overdue_as_of": today, "overdue_totals": rows, "currency_totals": listed_totals}

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
            "balance": amount_text(row["balance"], row["currency"]),
            "count": f"{row['count']:,}",
        }
        for row in rows.order_by("currency")
    ]


def overdue_rows(overdue: list[CurrencyOverdue]) -> list[dict[str, Any]]:
    """The desk's "overdue" figure per currency (``overdue_totals``, as the dashboard shows it)."""
    return [
        {
            "currency": row.currency,
            "overdue": amount_text(row.overdue.amount, row.currency),
            "overdue_count": f"{row.overdue.count:,}",
            "paused": amount_text(row.paused.amount, row.currency),
            "paused_count": f"{row.paused.count:,}",
        }
        for row in overdue
    ]


def reminded_rows(overdue: list[CurrencyOverdue]) -> list[dict[str, Any]]:
    """``currency_totals`` of the overdue list: the overdue figure less its paused part."""
    return [
        {
            "currency": row.currency,
            "balance": amount_text(row.reminded.amount, row.currency),
            "count": f"{row.reminded.count:,}",
        }
        for row in overdue
        if row.reminded.count
    ]
