from __future__ import annotations

from rest_framework import serializers

from scheduler.dispatch import REQUEST_ID
from scheduler.models import JobExecutionLog

SUMMARY_FIELDS = [
    "id",
    "status",
    "triggered_by",
    "as_of",
    "dry_run",
    "start_time",
    "end_time",
    "duration_seconds",
    "invoices_processed",
    "notifications_created",
    "already_notified",
    "error_count",
    "has_errors",
]


class ExecutionSummarySerializer(serializers.ModelSerializer):
    start_time = serializers.DateTimeField(source="started_at", read_only=True)
    end_time = serializers.DateTimeField(source="finished_at", read_only=True, allow_null=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    has_errors = serializers.BooleanField(read_only=True)

    class Meta:
        model = JobExecutionLog
        fields = SUMMARY_FIELDS
        read_only_fields = SUMMARY_FIELDS


class RunErrorSerializer(serializers.Serializer):
    """One invoice the run could not process."""

    invoice_id = serializers.IntegerField(required=False, allow_null=True)
    number = serializers.CharField(required=False, allow_null=True)
    error = serializers.CharField(required=False)


class ExecutionDetailSerializer(ExecutionSummarySerializer):
    errors = RunErrorSerializer(many=True, read_only=True)  # type: ignore[assignment]  # a field named errors

    class Meta(ExecutionSummarySerializer.Meta):
        fields = [
            *SUMMARY_FIELDS,
            "scheduled_for",
            "batch_size",
            "reminder_days",
            "host",
            "pid",
            "request_id",
            "errors",
            "traceback",
        ]
        read_only_fields = fields


class DeliveriesSerializer(serializers.Serializer):
    """Messages (not reminders) by state: a statement carrying several reminders counts once."""

    pending = serializers.IntegerField(source="counts.pending")
    sending = serializers.IntegerField(source="counts.sending")
    sent = serializers.IntegerField(source="counts.sent")
    failed = serializers.IntegerField(source="counts.failed")
    cancelled = serializers.IntegerField(source="counts.cancelled")
    bounced = serializers.IntegerField(source="counts.bounced")
    complained = serializers.IntegerField(source="counts.complained")
    health = serializers.ChoiceField(
        choices=["ok", "unavailable"],
        help_text="unavailable when a pending message (or a reminder not yet in one) has waited over an "
        "hour (while the send window is open: waiting for it is not counted), or the newest chunk a sender "
        "claimed sent nothing.",
    )
    oldest_waiting_since = serializers.DateTimeField(
        allow_null=True, help_text="When the longest-waiting pending message (or reminder) became due."
    )
    last_chunk_at = serializers.DateTimeField(
        allow_null=True, help_text="When a sender last claimed a chunk."
    )
    last_chunk_failed = serializers.BooleanField()


WEBHOOK_HEALTH_STATES = ["ok", "degraded"]


class DisabledEndpointSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    disabled_at = serializers.DateTimeField()
    reason = serializers.CharField()


class WebhooksSerializer(serializers.Serializer):
    """Webhook deliveries by state, and the endpoints disabled after failing again and again."""

    pending = serializers.IntegerField(source="counts.pending")
    sending = serializers.IntegerField(source="counts.sending")
    delivered = serializers.IntegerField(source="counts.delivered")
    failed = serializers.IntegerField(source="counts.failed")
    health = serializers.ChoiceField(
        choices=WEBHOOK_HEALTH_STATES,
        help_text="degraded while an endpoint is disabled (its events are not sent); it does not make the "
        "health endpoint answer 503.",
    )
    oldest_waiting_since = serializers.DateTimeField(allow_null=True)
    disabled_endpoints = DisabledEndpointSerializer(many=True)


class SchedulerStatusSerializer(serializers.Serializer):
    scheduler_running = serializers.BooleanField(
        help_text="A cluster heartbeat is fresh and no schedule is late by more than two minutes."
    )
    next_run_time = serializers.DateTimeField(allow_null=True)
    last_execution = ExecutionSummarySerializer(allow_null=True)
    last_successful_execution = ExecutionSummarySerializer(
        allow_null=True, help_text="The newest real (not dry) run that completed, with or without errors."
    )
    cluster_alive = serializers.BooleanField()
    schedule_found = serializers.BooleanField()
    schedule_late = serializers.BooleanField()
    late_schedules = serializers.ListField(child=serializers.CharField())
    checked_at = serializers.DateTimeField()
    deliveries = DeliveriesSerializer(help_text="The outbox: reminders by delivery state, and its health.")
    webhooks = WebhooksSerializer(help_text="Webhook deliveries by state, and disabled endpoints.")


HEALTH_STATES = ["ok", "unavailable"]


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=HEALTH_STATES, source="health", help_text="ok, or unavailable (then the response is a 503)."
    )


class HealthDetailSerializer(HealthSerializer):
    """What staff callers see; anonymous callers get ``status`` only."""

    scheduler_running = serializers.BooleanField()
    cluster_alive = serializers.BooleanField()
    schedule_found = serializers.BooleanField()
    late_schedules = serializers.ListField(child=serializers.CharField())
    last_success_recent = serializers.BooleanField(
        help_text="The last successful run started at or after the newest slot that must be done by now."
    )
    success_due_since = serializers.DateTimeField(allow_null=True)
    last_successful_run_time = serializers.DateTimeField(
        source="last_successful_execution.started_at", allow_null=True, default=None
    )
    deliveries_health = serializers.ChoiceField(choices=HEALTH_STATES, source="deliveries.health")
    webhooks_health = serializers.ChoiceField(choices=WEBHOOK_HEALTH_STATES, source="webhooks.health")


class EnqueuedSerializer(serializers.Serializer):
    task_id = serializers.CharField(help_text="django-q2's id of the queued task (its admin lists it).")
    request_id = serializers.RegexField(
        f"^{REQUEST_ID.pattern}$",
        help_text="Stored on the run's log once it starts: the executions list finds it.",
    )
    executions_url = serializers.URLField(
        help_text="The run list filtered to this request: empty until the run starts, then that one run."
    )
    detail = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What is wrong: for a parameter, its name, value and rule.")
