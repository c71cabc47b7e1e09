"""Reminders in the admin (SPEC §11): a list a clerk can search, and the reminders of an invoice and of a
customer on their pages. The invoicing app knows nothing of reminders, so the invoice and customer pages
get theirs from here: this module re-registers those two admins with a reminders section."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from common.admin import ReadOnlyModelAdmin
from common.display import moment
from invoicing.admin import CustomerAdmin, InvoiceAdmin
from invoicing.models import Customer, Invoice
from reminders.models import Notification
from reminders.services import deliveries_cancel, deliveries_resend

CUSTOMER_PAGE_REMINDERS = 20
# The threshold filter lists the thresholds of the newest reminders only: listing every value ever used
# would read all reminders (SELECT DISTINCT over a million rows) on every page of the list.
RECENT_FOR_THRESHOLDS = 10_000


class ThresholdFilter(admin.SimpleListFilter):
    title = "threshold days"
    parameter_name = "threshold_days"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        newest = Notification.objects.order_by("-id").values("threshold_days")[:RECENT_FOR_THRESHOLDS]
        thresholds = sorted({row["threshold_days"] for row in newest})
        return [(str(days), f"{days} days") for days in thresholds]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Notification]) -> QuerySet[Notification]:
        value = self.value()
        return queryset.filter(threshold_days=int(value)) if value and value.isdigit() else queryset


@admin.register(Notification)
class NotificationAdmin(ReadOnlyModelAdmin):
    list_display = [
        "created",
        "invoice",
        "customer",
        "reminder",
        "days_overdue",
        "recipient",
        "delivery",
    ]
    # No date hierarchy: at every page view it reads the whole (filtered) table twice, for the first and
    # last date and for the distinct years; the created_at filter below offers dates without a query.
    list_filter = ["delivery_state", ThresholdFilter, ("created_at", admin.DateFieldListFilter)]
    search_fields = ["invoice__number", "invoice__customer__name", "recipient", "invoice__customer__email"]
    search_help_text = (
        "A customer's name, an invoice number, or an email address (the recipient's or the customer's)."
    )
    list_select_related = ["invoice__customer"]
    show_full_result_count = False
    actions = ["resend", "cancel"]
    readonly_fields = ["run"]
    fieldsets = [
        (
            "Reminder",
            {
                "fields": [
                    "invoice",
                    "threshold_days",
                    "level",
                    "days_overdue",
                    "recipient",
                    "message",
                    "created_at",
                    "run",
                ]
            },
        ),
        (
            "Delivery",
            {
                "fields": [
                    "delivery_state",
                    "attempts",
                    "last_error",
                    "cancel_reason",
                    "next_attempt_at",
                    "last_attempt_at",
                    "leased_until",
                    "sent_at",
                    "message_id",
                ]
            },
        ),
        ("What was sent", {"fields": ["sent_subject", "sent_body", "sent_html"]}),
    ]

    def has_deliver_permission(self, request: HttpRequest) -> bool:
        """Resending and cancelling change a reminder's delivery, never the reminder itself."""
        return request.user.has_perm("reminders.change_notification")

    @admin.action(
        description="Send the selected reminders again (failed or cancelled ones)", permissions=["deliver"]
    )
    def resend(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        self._change_deliveries(
            request,
            queryset,
            deliveries_resend,
            "{done} of {selected} reminders are back in the outbox; the others were not failed or "
            "cancelled, so they were left as they are.",
        )

    @admin.action(
        description="Cancel the selected reminders (pending or failed ones)", permissions=["deliver"]
    )
    def cancel(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        self._change_deliveries(
            request,
            queryset,
            deliveries_cancel,
            "{done} of {selected} reminders cancelled; the others were sent, being sent or already "
            "cancelled, so they were left as they are.",
        )

    def _change_deliveries(
        self,
        request: HttpRequest,
        queryset: QuerySet[Notification],
        service: Callable[..., int],
        report: str,
    ) -> None:
        selected = list(queryset.values_list("pk", flat=True))
        done = service(ids=selected)
        level = messages.SUCCESS if done else messages.WARNING
        self.message_user(request, report.format(done=done, selected=len(selected)), level)

    def lookup_allowed(self, lookup: str, value: str, request: Any = None) -> bool:
        # The customer page links to "this customer's reminders".
        return lookup == "invoice__customer__id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="created", ordering="created_at")
    def created(self, notification: Notification) -> str:
        return moment(notification.created_at)

    @admin.display(description="delivery", ordering="delivery_state")
    def delivery(self, notification: Notification) -> str:
        """``Sent 2026-02-03 09:30 UTC``, ``Failed``: the state and, once sent, when (one column, so
        that the list fits a laptop's screen)."""
        return delivery_label(notification)

    @admin.display(description="run")
    def run(self, notification: Notification) -> str:
        return run_link(notification.run_id)

    @admin.display(description="customer", ordering="invoice__customer__name")
    def customer(self, notification: Notification) -> str:
        return notification.invoice.customer.name

    @admin.display(description="reminder", ordering="threshold_days")
    def reminder(self, notification: Notification) -> str:
        return reminder_label(notification)


def run_link(run_id: int) -> str:
    """The run of the overdue check that created a reminder (the runs are the scheduler's: linked by URL)."""
    url = reverse("admin:scheduler_jobexecutionlog_change", args=[run_id])
    return format_html('<a href="{}" class="run-link">#{}</a>', url, run_id)


def delivery_label(notification: Notification) -> str:
    state = notification.get_delivery_state_display()
    if not notification.sent_at:
        return state
    return format_html('{} <span class="nowrap">{}</span>', state, moment(notification.sent_at))


def reminder_label(notification: Notification) -> str:
    days = notification.threshold_days
    return f"level {notification.level} ({days} day{'' if days == 1 else 's'})"


REMINDER_COLUMNS = ("created", "invoice", "reminder", "days overdue", "recipient", "delivery", "run")


def reminders_table(notifications: list[Notification]) -> str:
    rows = format_html_join(
        "",
        '<tr><td class="nowrap"><a href="{}">{}</a></td><td>{}</td><td>{}</td><td class="num">{}</td>'
        "<td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                reverse("admin:reminders_notification_change", args=[n.pk]),
                moment(n.created_at),
                n.invoice.number,
                reminder_label(n),
                f"{n.days_overdue:,}",
                n.recipient,
                delivery_label(n),
                run_link(n.run_id),
            )
            for n in notifications
        ),
    )
    head = format_html_join("", "<th>{}</th>", ((column,) for column in REMINDER_COLUMNS))
    return format_html(
        '<table class="reminders"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, rows
    )


class InvoiceWithRemindersAdmin(InvoiceAdmin):
    def summary(self, invoice: Invoice) -> list[tuple[str, str]]:
        notifications = list(invoice.notifications.select_related("invoice").order_by("-created_at", "-id"))
        shown = reminders_table(notifications) if notifications else "No reminder yet."
        return [*super().summary(invoice), ("Reminders", shown)]


class CustomerWithRemindersAdmin(CustomerAdmin):
    def summary(self, customer: Customer) -> list[tuple[str, str]]:
        return [*super().summary(customer), ("Reminders", self.reminders(customer))]

    def reminders(self, customer: Customer) -> str:
        latest = (
            Notification.objects.filter(invoice__customer=customer)
            .select_related("invoice")
            .order_by("-created_at", "-id")
        )
        shown = list(latest[: CUSTOMER_PAGE_REMINDERS + 1])
        if not shown:
            return "No reminder yet."
        url = (
            reverse("admin:reminders_notification_changelist")
            + f"?invoice__customer__id__exact={customer.pk}"
        )
        more = format_html('<p><a href="{}">All reminders of this customer</a></p>', url)
        return format_html("{}{}", reminders_table(shown[:CUSTOMER_PAGE_REMINDERS]), more)


for model, model_admin in ((Invoice, InvoiceWithRemindersAdmin), (Customer, CustomerWithRemindersAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
