from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from invoicing.models import Customer, Invoice, Notification
from scheduler.config import today


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "reminders_paused"]
    list_filter = ["reminders_paused"]
    search_fields = ["name", "email"]


class OverdueTodayFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Overdue as of today")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
        if self.value() == "yes":
            return queryset.overdue(as_of=today())
        return queryset


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ["number", "customer", "due_date", "status", "currency", "total", "balance_due"]
    list_filter = [OverdueTodayFilter, "status", ("due_date", admin.DateFieldListFilter), "currency"]
    search_fields = ["number", "customer__name", "customer__email"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    readonly_fields = ["balance_due"]
    date_hierarchy = "due_date"
    show_full_result_count = False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "invoice", "level", "days_overdue", "recipient", "execution"]
    list_filter = ["level", ("created_at", admin.DateFieldListFilter), "execution__status"]
    search_fields = ["invoice__number", "recipient"]
    list_select_related = ["invoice", "execution"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
