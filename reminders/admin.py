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
from reminders.models import Message, MessageState, Notification
from reminders.services import messages_cancel, messages_resend

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
        "state",
        "sent",
    ]
    # No date hierarchy: at every page view it reads the whole (filtered) table twice, for the first and
    # last date and for the distinct years; the created_at filter below offers dates without a query.
    list_filter = [
        ("delivery__state", admin.ChoicesFieldListFilter),
        ThresholdFilter,
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = ["invoice__number", "invoice__customer__name", "recipient", "invoice__customer__email"]
    search_help_text = (
        "A customer's name, an invoice number, or an email address (the recipient's or the customer's)."
    )
    list_select_related = ["invoice__customer", "delivery"]
    show_full_result_count = False
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
                    "run_id",
                ]
            },
        ),
        ("Delivery", {"fields": ["state", "cancel_reason", "message_link"]}),
    ]

    def lookup_allowed(self, lookup: str, value: str, request: Any = None) -> bool:
        # The customer page links to "this customer's reminders".
        return lookup == "invoice__customer__id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="created", ordering="created_at")
    def created(self, notification: Notification) -> str:
        return moment(notification.created_at, seconds=False)

    @admin.display(description="customer", ordering="invoice__customer__name")
    def customer(self, notification: Notification) -> str:
        return notification.invoice.customer.name

    @admin.display(description="reminder", ordering="threshold_days")
    def reminder(self, notification: Notification) -> str:
        return reminder_label(notification)

    @admin.display(description="delivery", ordering="delivery__state")
    def state(self, notification: Notification) -> str:
        return MessageState(notification.state).label + (
            f" ({notification.cancel_reason})" if notification.cancel_reason else ""
        )

    @admin.display(description="sent", ordering="delivery__sent_at")
    def sent(self, notification: Notification) -> str:
        sent_at = notification.delivery.sent_at if notification.delivery else None
        return moment(sent_at, seconds=False) if sent_at else "—"

    @admin.display(description="message")
    def message_link(self, notification: Notification) -> str:
        if notification.delivery_id is None:
            return "Not in a message yet: a sender groups it when it is due."
        url = reverse("admin:reminders_message_change", args=[notification.delivery_id])
        return format_html('<a href="{}">{}</a>', url, notification.delivery)


@admin.register(Message)
class MessageAdmin(ReadOnlyModelAdmin):
    """The outbox as staff see it (SPEC §10): each message, its reminders and what was sent."""

    list_display = ["id", "created", "customer", "recipient", "state", "attempts", "sent", "message_id"]
    list_filter = ["state", ("created_at", admin.DateFieldListFilter)]
    search_fields = [
        "customer__name",
        "customer__email",
        "recipient",
        "message_id",
        "reminders__invoice__number",
    ]
    search_help_text = "A customer's name or email, an invoice number, or a Message-ID."
    list_select_related = ["customer"]
    show_full_result_count = False
    actions = ["resend", "cancel"]
    fieldsets = [
        ("Message", {"fields": ["customer", "recipient", "state", "message_id", "reminder_list"]}),
        (
            "Delivery",
            {
                "fields": [
                    "attempts",
                    "last_error",
                    "refused_copies",
                    "next_attempt_at",
                    "last_attempt_at",
                    "leased_until",
                    "sent_at",
                    "created_at",
                ]
            },
        ),
        ("What was sent", {"fields": ["subject", "text_body", "html_body"]}),
    ]

    def has_deliver_permission(self, request: HttpRequest) -> bool:
        """Resending and cancelling change a message's delivery, never the reminders themselves."""
        return request.user.has_perm("reminders.change_message")

    @admin.action(
        description="Send the selected messages again (failed, cancelled or bounced ones)",
        permissions=["deliver"],
    )
    def resend(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        self._change(
            request,
            queryset,
            messages_resend,
            "{done} of {selected} messages are back in the outbox, to the customer's current address; the "
            "others were not failed, cancelled or bounced, so they were left as they are.",
        )

    @admin.action(
        description="Cancel the selected messages (pending or failed ones)", permissions=["deliver"]
    )
    def cancel(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        self._change(
            request,
            queryset,
            messages_cancel,
            "{done} of {selected} messages cancelled; the others were sent, being sent or already "
            "cancelled, so they were left as they are.",
        )

    def _change(
        self, request: HttpRequest, queryset: QuerySet[Message], service: Callable[..., int], report: str
    ) -> None:
        selected = list(queryset.values_list("pk", flat=True))
        done = service(ids=selected)
        level = messages.SUCCESS if done else messages.WARNING
        self.message_user(request, report.format(done=done, selected=len(selected)), level)

    def lookup_allowed(self, lookup: str, value: str, request: Any = None) -> bool:
        # A run's page links to "the messages carrying this run's reminders".
        return lookup == "reminders__run_id" or super().lookup_allowed(lookup, value, request)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Message], search_term: str) -> Any:
        found, _ = super().get_search_results(request, queryset, search_term)
        return found.distinct() if search_term else found, False

    @admin.display(description="created", ordering="created_at")
    def created(self, message: Message) -> str:
        return moment(message.created_at, seconds=False)

    @admin.display(description="sent", ordering="sent_at")
    def sent(self, message: Message) -> str:
        return moment(message.sent_at, seconds=False) if message.sent_at else "—"

    @admin.display(description="reminders")
    def reminder_list(self, message: Message) -> str:
        reminders = list(message.reminders.select_related("invoice", "delivery").order_by("id"))
        return reminders_table(reminders) if reminders else "No reminder."


def reminder_label(notification: Notification) -> str:
    days = notification.threshold_days
    return f"level {notification.level} ({days} day{'' if days == 1 else 's'})"


REMINDER_COLUMNS = ("created", "invoice", "reminder", "days overdue", "recipient", "delivery", "sent")


def reminders_table(notifications: list[Notification]) -> str:
    rows = format_html_join(
        "",
        '<tr><td class="nowrap">{}</td><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td>'
        "<td>{}</td><td>{}</td></tr>",
        (
            (
                moment(n.created_at),
                reverse("admin:reminders_notification_change", args=[n.pk]),
                n.invoice.number,
                reminder_label(n),
                n.days_overdue,
                n.recipient,
                MessageState(n.state).label,
                moment(n.delivery.sent_at) if n.delivery and n.delivery.sent_at else "—",
            )
            for n in notifications
        ),
    )
    head = format_html_join("", "<th>{}</th>", ((column,) for column in REMINDER_COLUMNS))
    return format_html(
        '<table class="reminders"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, rows
    )


class InvoiceWithRemindersAdmin(InvoiceAdmin):
    readonly_fields = [*InvoiceAdmin.readonly_fields, "reminders"]

    @admin.display(description="reminders")
    def reminders(self, invoice: Invoice) -> str:
        notifications = list(
            invoice.notifications.select_related("invoice", "delivery").order_by("-created_at", "-id")
        )
        return reminders_table(notifications) if notifications else "No reminder yet."


class CustomerWithRemindersAdmin(CustomerAdmin):
    readonly_fields = [*CustomerAdmin.readonly_fields, "reminders"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_fields(request, obj))
        return fields if obj else [field for field in fields if field != "reminders"]

    @admin.display(description="reminders")
    def reminders(self, customer: Customer) -> str:
        latest = (
            Notification.objects.filter(invoice__customer=customer)
            .select_related("invoice", "delivery")
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
