from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from common.admin import ReadOnlyModelAdmin
from reminders.models import Notification

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
        "created_at",
        "invoice",
        "threshold_days",
        "level",
        "days_overdue",
        "recipient",
        "delivery_state",
    ]
    # No date hierarchy: at every page view it reads the whole (filtered) table twice, for the first and
    # last date and for the distinct years; the created_at filter below offers dates without a query.
    list_filter = ["delivery_state", ThresholdFilter, ("created_at", admin.DateFieldListFilter)]
    search_fields = ["invoice__number", "recipient", "invoice__customer__name"]
    list_select_related = ["invoice"]
    show_full_result_count = False
