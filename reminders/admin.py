from django.contrib import admin

from common.admin import ReadOnlyModelAdmin
from reminders.models import Notification


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
    list_filter = ["delivery_state", "threshold_days", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["invoice__number", "recipient", "invoice__customer__name"]
    list_select_related = ["invoice"]
    date_hierarchy = "created_at"
    show_full_result_count = False
