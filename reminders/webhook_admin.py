"""Webhook endpoints and their deliveries in the admin (SPEC §14)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from common.admin import ReadOnlyModelAdmin
from common.display import moment
from reminders.models import EventType, WebhookDelivery, WebhookEndpoint, WebhookState
from reminders.webhooks import endpoint_enable


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        max_length=2000,
        assume_scheme="https",
        help_text="http:// or https://; loopback, private, link-local and metadata addresses are refused "
        "unless WEBHOOK_ALLOW_PRIVATE is on.",
    )
    event_types = forms.MultipleChoiceField(
        choices=EventType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None chosen: it receives every event.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "event_types", "is_active"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # Switched on again by staff: its past failures are forgotten and what waits for it is sent.
        if cleaned.get("is_active") and self.instance.disabled_at is not None:
            endpoint_enable(endpoint=self.instance)
        return cleaned


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "description", "receives", "is_active", "status", "waiting"]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    actions = ["enable"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEndpoint]:
        waiting = Count("deliveries", filter=Q(deliveries__state=WebhookState.PENDING))
        return super().get_queryset(request).annotate(waiting=waiting)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        main = ("Endpoint", {"fields": ["url", "description", "event_types", "is_active"]})
        if obj is None:
            return [main]
        kept = ["secret", "consecutive_failures", "disabled_at", "disabled_reason", "created_at"]
        return [main, ("Signing and status", {"fields": kept})]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["secret", "consecutive_failures", "disabled_at", "disabled_reason", "created_at"]

    @admin.display(description="events")
    def receives(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.event_types) if endpoint.event_types else "all"

    @admin.display(description="status")
    def status(self, endpoint: WebhookEndpoint) -> str:
        if endpoint.disabled_at is not None:
            return format_html(
                '<span class="webhook-disabled" title="{}">Disabled {}</span>',
                endpoint.disabled_reason,
                moment(endpoint.disabled_at),
            )
        if not endpoint.is_active:
            return "Off"
        if endpoint.consecutive_failures:
            return f"{endpoint.consecutive_failures} failed attempts in a row"
        return "OK"

    @admin.display(description="waiting", ordering="waiting")
    def waiting(self, endpoint: WebhookEndpoint) -> int:
        return endpoint.waiting  # type: ignore[attr-defined]

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            messages.warning(
                request,
                f"Signing secret of {obj.url}: {obj.secret} — give it to the receiver; it verifies every "
                "event with it (docs/webhooks.md). It stays on this endpoint's page.",
            )

    @admin.action(description="Switch the selected endpoints on again (failures forgotten)")
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            endpoint_enable(endpoint=endpoint)
            endpoint.save()
        self.message_user(request, f"{queryset.count()} endpoints are on: what waits for them is sent.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyModelAdmin):
    list_display = [
        "id",
        "event_type",
        "event_id",
        "endpoint",
        "state",
        "attempts",
        "last_status",
        "created_at",
    ]
    list_filter = ["state", "event_type", "endpoint"]
    search_fields = ["event_id"]
    search_help_text = "A webhook-id (msg_…)."
    list_select_related = ["endpoint"]
    show_full_result_count = False
    fields = [
        "event_id",
        "event_type",
        "endpoint",
        "state",
        "attempts",
        "last_status",
        "last_error",
        "next_attempt_at",
        "last_attempt_at",
        "leased_until",
        "delivered_at",
        "created_at",
        "payload",
    ]
