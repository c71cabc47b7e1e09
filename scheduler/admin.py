"""The run history of the overdue check, read-only in the admin (docs/SPEC.md §7)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST
from rangefilter.filters import DateRangeFilter

from common.admin import ReadOnlyModelAdmin
from common.display import day, grouped, moment
from reminders.models import MessageState
from reminders.monitoring import delivery_counts, failed_deliveries_note, failed_deliveries_of_run
from scheduler.dispatch import overdue_check_enqueue, queued_overdue_checks
from scheduler.models import JobExecutionLog, RunStatus
from scheduler.status import scheduler_status

STATUS_COLOURS = {
    RunStatus.RUNNING: "#1f6feb",
    RunStatus.COMPLETED: "#1a7f37",
    RunStatus.COMPLETED_WITH_ERRORS: "#b35900",
    RunStatus.FAILED: "#cf222e",
    RunStatus.SKIPPED: "#6e7781",
    RunStatus.ABANDONED: "#8250df",
}


AUTO_REFRESH_SECONDS = 5
DRY_RUN_HELP = "A dry run writes no reminders: it counts what a real run would have created."


class HasErrorsFilter(admin.SimpleListFilter):
    title = "errors"
    parameter_name = "has_errors"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "With errors"), ("no", "Without errors")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[JobExecutionLog]
    ) -> QuerySet[JobExecutionLog]:
        if self.value() == "yes":
            return queryset.filter(error_count__gt=0)
        if self.value() == "no":
            return queryset.filter(error_count=0)
        return queryset


def titled(filter_class: type[admin.FieldListFilter], title: str) -> type[admin.FieldListFilter]:
    """``filter_class`` headed "By {title}" instead of "By {the field's verbose name}"."""

    class Titled(filter_class):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.title = title

    return Titled


@admin.register(JobExecutionLog)
class JobExecutionLogAdmin(ReadOnlyModelAdmin):
    list_display = [
        "id",
        "started",
        "duration",
        "coloured_status",
        "trigger",
        "as_of_date",
        "processed",
        "created_count",
        "error_total",
    ]
    list_display_links = ["id", "started"]
    list_filter = [
        "status",
        HasErrorsFilter,
        ("triggered_by", titled(admin.ChoicesFieldListFilter, "trigger")),
        "dry_run",
        ("started_at", DateRangeFilter),
    ]
    date_hierarchy = "started_at"
    search_help_text = (
        "A run's id, or text from its errors (an invoice number, an error) or from a failed run's traceback."
    )
    search_fields = ["id"]  # shows the search box; the search itself is get_search_results below
    ordering = ["-started_at", "-id"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    fieldsets = [
        (None, {"fields": ["coloured_status", "triggered_by", "dry_run", "as_of", "scheduled_for"]}),
        ("Timing", {"fields": ["started", "finished", "duration", "host", "pid"]}),
        (
            "Counters",
            {"fields": ["processed", "created_count", "already_notified_count", "error_total"]},
        ),
        ("Reminders", {"fields": ["notifications_link", "deliveries"]}),
        ("Errors", {"fields": ["errors_table", "traceback"]}),
        ("Settings of the run", {"fields": ["batch_size", "reminder_days"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[JobExecutionLog]:
        return super().get_queryset(request).annotate(failed_deliveries=failed_deliveries_of_run())

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[JobExecutionLog], search_term: str
    ) -> tuple[QuerySet[JobExecutionLog], bool]:
        return search_runs(queryset, search_term), False

    def get_rangefilter_started_at_title(self, request: HttpRequest, field_path: str) -> str:
        return "start date"

    @admin.display(description="status", ordering="status")
    def coloured_status(self, run: JobExecutionLog) -> str:
        colour = STATUS_COLOURS.get(RunStatus(run.status), "#000")
        status = format_html(
            '<strong class="run-status run-status-{}" style="color: {}">{}</strong>',
            run.status,
            colour,
            run.get_status_display(),
        )
        if run.dry_run:
            return format_html(
                '{} <span class="dry-run-badge" title="{}">dry run</span>', status, DRY_RUN_HELP
            )
        note = failed_deliveries_note(
            failed=getattr(run, "failed_deliveries", 0), created=run.notifications_created
        )
        if not note:
            return status
        url = (
            reverse("admin:reminders_message_changelist") + f"?reminders__run_id={run.pk}&state__exact=failed"
        )
        return format_html('{} <a href="{}"><span class="deliveries-failed">{}</span></a>', status, url, note)

    @admin.display(description="started", ordering="started_at")
    def started(self, run: JobExecutionLog) -> str:
        return moment(run.started_at)

    @admin.display(description="finished", ordering="finished_at")
    def finished(self, run: JobExecutionLog) -> str:
        return moment(run.finished_at)

    @admin.display(description="trigger", ordering="triggered_by")
    def trigger(self, run: JobExecutionLog) -> str:
        return run.get_triggered_by_display()

    @admin.display(description="as of", ordering="as_of")
    def as_of_date(self, run: JobExecutionLog) -> str:
        return day(run.as_of)

    @admin.display(description="processed", ordering="invoices_processed")
    def processed(self, run: JobExecutionLog) -> str:
        return grouped(run.invoices_processed)

    @admin.display(description="created", ordering="notifications_created")
    def created_count(self, run: JobExecutionLog) -> str:
        return grouped(run.notifications_created)

    @admin.display(description="already notified", ordering="already_notified")
    def already_notified_count(self, run: JobExecutionLog) -> str:
        return grouped(run.already_notified)

    @admin.display(description="errors", ordering="error_count")
    def error_total(self, run: JobExecutionLog) -> str:
        return grouped(run.error_count)

    @admin.display(description="duration")
    def duration(self, run: JobExecutionLog) -> str:
        return run.duration_display

    @admin.display(description="reminders")
    def notifications_link(self, run: JobExecutionLog) -> str:
        url = reverse("admin:reminders_notification_changelist") + f"?run_id={run.pk}"
        if run.dry_run:
            return "None: a dry run writes no reminders."
        return format_html(
            '<a href="{}">{} reminders created by this run</a>', url, grouped(run.notifications_created)
        )

    @admin.display(description="messages")
    def deliveries(self, run: JobExecutionLog) -> str:
        if run.dry_run:
            return "None: a dry run writes no reminders."
        counts = delivery_counts(run_id=run.pk)
        base = reverse("admin:reminders_message_changelist") + f"?reminders__run_id={run.pk}&state__exact="
        return format_html_join(
            " · ",
            '<a href="{}{}">{} {}</a>',
            ((base, state, grouped(counts[state]), label.lower()) for state, label in MessageState.choices),
        )

    @admin.display(description="errors")
    def errors_table(self, run: JobExecutionLog) -> str:
        if not run.errors:
            return "No invoice failed."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((error.get("invoice_id"), error.get("number"), error.get("error")) for error in run.errors),
        )
        return format_html(
            '<table class="run-errors"><thead><tr><th>invoice id</th><th>number</th><th>error</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            rows,
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        queued = queued_overdue_checks()
        active = queued or JobExecutionLog.objects.filter(status=RunStatus.RUNNING).exists()
        context = {
            "scheduler_status": scheduler_status(),
            "queued_runs": queued,
            "auto_refresh": AUTO_REFRESH_SECONDS if active else None,
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    def get_urls(self) -> list[URLPattern]:
        run_now = self.admin_site.admin_view(require_POST(self.run_now_view))
        return [path("run-now/", run_now, name="scheduler_jobexecutionlog_run_now"), *super().get_urls()]

    def run_now_view(self, request: HttpRequest) -> HttpResponseRedirect:
        if not self.has_view_permission(request):
            raise PermissionDenied
        cluster_alive = scheduler_status().cluster_alive
        if queued := queued_overdue_checks():
            self.message_user(request, already_queued_message(queued, cluster_alive), level=messages.WARNING)
            return redirect("admin:scheduler_jobexecutionlog_changelist")
        overdue_check_enqueue(triggered_by=JobExecutionLog.Trigger.ADMIN)
        self.message_user(
            request,
            "The overdue check was queued: its run appears at the top of this list when a cluster starts "
            f"it (the list refreshes every {AUTO_REFRESH_SECONDS} seconds until then).",
        )
        if not cluster_alive:
            self.message_user(
                request,
                "No cluster is running: the run starts when one does (manage.py qcluster).",
                level=messages.WARNING,
            )
        return redirect("admin:scheduler_jobexecutionlog_changelist")


def already_queued_message(queued: list[datetime], cluster_alive: bool) -> str:
    waiting = "" if cluster_alive else ": no cluster is running, start one with manage.py qcluster"
    return (
        f"Nothing was queued: a run queued at {moment(queued[0])} is still waiting for a cluster{waiting}. "
        "A second one would add nothing: the first reminds every overdue invoice."
    )


def search_runs(queryset: QuerySet[JobExecutionLog], term: str) -> QuerySet[JobExecutionLog]:
    """A number (``42`` or ``#42``) finds that run; any text finds runs whose errors, or whose traceback
    if they failed, contain it."""
    term = term.strip()
    if not term:
        return queryset
    # Only runs with errors have error texts, only failed runs a traceback: both narrowed by an index.
    matches = Q(error_count__gt=0, errors__icontains=term) | Q(
        status=RunStatus.FAILED, traceback__icontains=term
    )
    number = term.removeprefix("#")
    if number.isascii() and number.isdigit():
        matches |= Q(pk=int(number))
    return queryset.filter(matches)
