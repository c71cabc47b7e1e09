"""Reminders in the admin (SPEC §11): a list a clerk can search, and the reminders of an invoice and of a
customer on their pages. The invoicing app knows nothing of reminders, so the invoice and customer pages
get theirs from here: this module re-registers those two admins with a reminders section."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from common.admin import IndexedSearchAdmin, PlainCheckboxAdmin, ReadOnlyModelAdmin
from common.display import days_overdue_text, moment, threshold_phrase
from invoicing.admin import CustomerAdmin, InvoiceAdmin
from invoicing.models import Customer, Invoice, language_choices
from reminders import webhook_admin  # noqa: F401  (registers the webhook admins)
from reminders.forms import ReminderTemplateForm, ReminderTemplatePreviewForm
from reminders.models import Message, MessageState, Notification, OutboxSwitch, ReminderTemplate
from reminders.monitoring import unsent_reminders
from reminders.rendering import SAMPLE_ROW, TemplateSource, render_unsaved
from reminders.selectors import messages_matching, preview_rows, reminders_matching, sending_paused
from reminders.services import messages_cancel, messages_resend
from reminders.switch import sending_pause, sending_resume

CUSTOMER_PAGE_REMINDERS = 20
TEMPLATE_HELP = (
    "Django template language. A message carries one or more reminders of one customer. Subject and "
    "text: {{ customer.name }}, {{ customer.email }}; the first reminder's {{ invoice.number }}, "
    "{{ invoice.due_date }}, {{ invoice.total }}, {{ invoice.balance }}, {{ balance }}, {{ days_overdue }}, "
    "{{ due }} (12 days overdue, due in 2 days), {{ level }}, {{ threshold_days }}; "
    "{% for r in reminders %} each reminder with the same values "
    "(r.invoice.number, r.balance, …); {{ totals }} (currency, amount), {{ other_invoices }}, "
    "{{ statement }} (more than one reminder), {{ earlier_reminders }}; {{ invoice.due_on }} (the due date "
    "written out in the template's language) and {{ invoice.payment_url }} (the pay link, when set). "
    "Dates and amounts are written for the template's language. In HTML every value is escaped. "
    "The template of the highest level serves every level above it; a customer whose language has no "
    "template gets the default language's."
)
# The threshold filter lists the thresholds of the newest reminders only: listing every value ever used
# would read all reminders (SELECT DISTINCT over a million rows) on every page of the list.
RECENT_FOR_THRESHOLDS = 10_000
WHOLE_DAYS = re.compile(r"-?[0-9]+")


class ThresholdFilter(admin.SimpleListFilter):
    title = "threshold days"
    parameter_name = "threshold_days"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # From the oldest of the newest on: one range of the primary key, a few rows returned. Its id is
        # read first so that the planner knows the range is small.
        newest = Notification.objects.order_by("-id").values_list("id", flat=True)
        oldest = list(newest[RECENT_FOR_THRESHOLDS - 1 : RECENT_FOR_THRESHOLDS]) or [0]
        thresholds = (
            Notification.objects.filter(id__gte=oldest[0])
            .order_by("threshold_days")
            .values_list("threshold_days", flat=True)
            .distinct()
        )
        return [(str(days), threshold_phrase(days)) for days in thresholds]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Notification]) -> QuerySet[Notification]:
        value = self.value()
        return (
            queryset.filter(threshold_days=int(value)) if value and WHOLE_DAYS.fullmatch(value) else queryset
        )


@admin.register(Notification)
class NotificationAdmin(IndexedSearchAdmin, ReadOnlyModelAdmin):
    list_display = [
        "created",
        "invoice",
        "customer",
        "reminder",
        "due",
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
    search_fields = ["invoice__number", "invoice__customer__name", "invoice__customer__email"]
    search_help_text = "A customer's name or email address, or an invoice number."
    list_select_related = ["invoice__customer", "delivery"]
    show_full_result_count = False
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
        ("Delivery", {"fields": ["state", "cancel_reason", "message_link"]}),
    ]

    def matching(self, words: list[str]) -> QuerySet[Notification, Any]:
        return reminders_matching(words)

    def lookup_allowed(self, lookup: str, value: str, request: Any = None) -> bool:
        # The customer page links to "this customer's reminders".
        return lookup == "invoice__customer__id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="created", ordering="created_at")
    def created(self, notification: Notification) -> str:
        return moment(notification.created_at)

    @admin.display(description="run")
    def run(self, notification: Notification) -> str:
        return run_link(notification.run_id)

    @admin.display(description="customer", ordering="invoice__customer__name")
    def customer(self, notification: Notification) -> str:
        return notification.invoice.customer.name

    @admin.display(description="days overdue", ordering="days_overdue")
    def due(self, notification: Notification) -> str:
        return days_overdue_text(notification.days_overdue)

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
        return moment(notification.delivery.sent_at if notification.delivery else None)

    @admin.display(description="message")
    def message_link(self, notification: Notification) -> str:
        if notification.delivery_id is None:
            return "Not in a message yet: a sender groups it when it is due."
        url = reverse("admin:reminders_message_change", args=[notification.delivery_id])
        return format_html('<a href="{}">{}</a>', url, notification.delivery)


@admin.register(Message)
class MessageAdmin(PlainCheckboxAdmin, IndexedSearchAdmin, ReadOnlyModelAdmin):
    """The outbox as staff see it (SPEC §10): each message, its reminders and what was sent."""

    list_display = ["id", "created", "customer", "recipient", "state", "attempts", "sent", "message_id"]
    list_filter = [
        "state",
        ("created_at", admin.DateFieldListFilter),
        ("delivered_at", admin.EmptyFieldListFilter),
    ]
    search_fields = [
        "customer__name",
        "customer__email",
        "=message_id",
        "=provider_message_id",
        "reminders__invoice__number",
    ]
    search_help_text = "A customer's name or email, an invoice number, a Message-ID or the provider's id."
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
        (
            "What the provider reported",
            {"fields": ["provider_message_id", "delivered_at", "bounced_at", "bounce_reason"]},
        ),
        ("What was sent", {"fields": ["subject", "text_body", "html_body"]}),
    ]

    def matching(self, words: list[str]) -> QuerySet[Message, Any]:
        return messages_matching(words)

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
        return moment(message.created_at)

    @admin.display(description="sent", ordering="sent_at")
    def sent(self, message: Message) -> str:
        return moment(message.sent_at)

    @admin.display(description="reminders")
    def reminder_list(self, message: Message) -> str:
        reminders = list(message.reminders.select_related("invoice", "delivery").order_by("id"))
        return reminders_table(reminders) if reminders else "No reminder."


def run_link(run_id: int) -> str:
    """The run of the overdue check that created a reminder (the runs are the scheduler's: linked by URL)."""
    url = reverse("admin:scheduler_jobexecutionlog_change", args=[run_id])
    return format_html('<a href="{}" class="run-link">#{}</a>', url, run_id)


def delivery_label(notification: Notification) -> str:
    """``Sent 2026-02-03 09:30 UTC``, ``Failed``: the state of the message carrying the reminder and, once
    sent, when."""
    state = MessageState(notification.state).label
    sent_at = notification.delivery.sent_at if notification.delivery else None
    if notification.cancel_reason or not sent_at:
        return state
    return format_html('{} <span class="nowrap">{}</span>', state, moment(sent_at))


def reminder_label(notification: Notification) -> str:
    return f"level {notification.level} ({threshold_phrase(notification.threshold_days)})"


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
                days_overdue_text(n.days_overdue),
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
        notifications = list(
            invoice.notifications.select_related("invoice", "delivery").order_by("-created_at", "-id")
        )
        shown = reminders_table(notifications) if notifications else "No reminder yet."
        return [*super().summary(invoice), ("Reminders", shown)]


class CustomerWithRemindersAdmin(CustomerAdmin):
    def summary(self, customer: Customer) -> list[tuple[str, str]]:
        return [*super().summary(customer), ("Reminders", self.reminders(customer))]

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


@admin.register(ReminderTemplate)
class ReminderTemplateAdmin(admin.ModelAdmin):
    """Staff word the reminders of each level here (SPEC §10): a template that would not render is refused
    on save, and "Preview" shows it, unsaved, against a customer's open invoices."""

    form = ReminderTemplateForm
    list_display = ["level", "language", "name", "subject", "has_html", "updated"]
    list_display_links = ["level", "name"]
    list_filter = ["language"]
    ordering = ["language", "level"]
    fieldsets = [
        (None, {"fields": ["level", "language", "name"]}),
        (
            "Email",
            {
                "fields": ["subject", "text_body", "html_body"],
                "description": TEMPLATE_HELP,
            },
        ),
        ("Preview", {"fields": ["preview_customer"]}),
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """The preview only for staff who may save what they preview."""
        fieldsets = super().get_fieldsets(request, obj)
        if self._may_preview(request):
            return fieldsets
        return [(name, options) for name, options in fieldsets if name != "Preview"]

    def _may_preview(self, request: HttpRequest) -> bool:
        return self.has_change_permission(request) or self.has_add_permission(request)

    def get_urls(self) -> list[URLPattern]:
        preview = self.admin_site.admin_view(xframe_options_sameorigin(require_POST(self.preview_view)))
        return [path("preview/", preview, name="reminders_remindertemplate_preview"), *super().get_urls()]

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """The emails the posted (unsaved) template gives, as the change form's preview frame shows them."""
        if not self._may_preview(request):
            raise PermissionDenied
        form = ReminderTemplatePreviewForm(request.POST)
        context: dict[str, Any] = {**self.admin_site.each_context(request), "form": form, "opts": self.opts}
        if form.is_valid():
            context.update(self._preview(request, form.cleaned_data))
        return TemplateResponse(request, "admin/reminders/remindertemplate/preview.html", context)

    def _preview(self, request: HttpRequest, data: dict[str, Any]) -> dict[str, Any]:
        source = TemplateSource(
            data["level"], data["subject"], data["text_body"], data["html_body"], data["language"]
        )
        customer, as_of = data["preview_customer"], timezone.localdate()
        may_see_invoices = request.user.has_perm("invoicing.view_invoice")
        rows: list[dict[str, Any]] = []
        total = 0
        if customer is not None and may_see_invoices:
            rows, total = preview_rows(customer_id=customer.pk, level=data["level"], as_of=as_of)
        return {
            "customer": customer,
            "may_see_invoices": may_see_invoices,
            "open_invoices": total,
            "level": data["level"],
            "language": dict(language_choices()).get(data["language"], data["language"]),
            "as_of": as_of,
            "emails": render_unsaved(source, rows or [{**SAMPLE_ROW, "level": data["level"]}]),
        }

    @admin.display(description="HTML", boolean=True)
    def has_html(self, template: ReminderTemplate) -> bool:
        return bool(template.html_body.strip())

    @admin.display(description="changed", ordering="updated_at")
    def updated(self, template: ReminderTemplate) -> str:
        return moment(template.updated_at)


@admin.register(OutboxSwitch)
class OutboxSwitchAdmin(admin.ModelAdmin):
    """One page: whether sending is paused, by whom and since when, and the button to pause or resume it
    (``change_outboxswitch``). Each change is in the admin's history of the switch."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def change_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:reminders_outboxswitch_changelist"))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._switch(request)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Outbox switch",
            "pause": sending_paused(),
            "may_change": self.has_change_permission(request),
            "pending": Message.objects.filter(state=MessageState.PENDING).count(),
            "waiting": unsent_reminders(),
            "has_history": OutboxSwitch.objects.exists(),
        }
        return TemplateResponse(request, "admin/reminders/outboxswitch/switch.html", context)

    def _switch(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        action = request.POST.get("action")
        if action == "pause":
            switch = sending_pause(by=request.user, reason=request.POST.get("reason", "").strip()[:200])
            self.message_user(request, "Sending is paused: no sender claims a message until it is resumed.")
        elif action == "resume":
            switch = sending_resume()
            self.message_user(request, "Sending is on again: the next sending sends what is due.")
        else:
            return HttpResponseBadRequest(f"action={action!r} is not allowed; expected pause or resume.")
        self.log_change(request, switch, f"Sending {'paused' if switch.paused else 'resumed'}.")
        return HttpResponseRedirect(request.path)


for model, model_admin in ((Invoice, InvoiceWithRemindersAdmin), (Customer, CustomerWithRemindersAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
