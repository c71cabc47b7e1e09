from __future__ import annotations

from django.db import models
from django.db.models import Q

from common.display import duration


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors", "Completed with errors"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (another run held the lock)"
    ABANDONED = "abandoned", "Abandoned (its process died)"


class JobExecutionLog(models.Model):
    """One run of the overdue check: what it was asked, what it did, how it ended."""

    Status = RunStatus

    class Trigger(models.TextChoices):
        COMMAND = "command", "Command"
        SCHEDULE = "schedule", "Schedule"
        ADMIN = "admin", "Admin"
        API = "api", "API"

    status = models.CharField(max_length=24, choices=RunStatus.choices, default=RunStatus.RUNNING)
    triggered_by = models.CharField(max_length=10, choices=Trigger.choices)
    as_of = models.DateField(help_text="The date invoices were judged overdue on.")
    dry_run = models.BooleanField(default=False)
    batch_size = models.PositiveIntegerField()
    reminder_days = models.CharField(max_length=200, help_text="Reminder level thresholds, in days.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    invoices_processed = models.PositiveIntegerField(default=0)
    notifications_created = models.PositiveIntegerField(default=0)
    already_notified = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    traceback = models.TextField(blank=True)
    scheduled_for = models.DateTimeField(
        null=True, blank=True, help_text="The schedule slot this run was started for."
    )
    slot_key = models.CharField(  # noqa: DJ001  (NULL: no slot, so the unique constraint skips it)
        max_length=40,
        null=True,
        blank=True,
        editable=False,
        help_text="The slot's wall-clock time in the schedule's zone; one real run per slot.",
    )
    request_id = models.CharField(  # noqa: DJ001  (NULL: not queued by the API, so its index skips it)
        max_length=32,
        null=True,
        blank=True,
        editable=False,
        help_text="The request id that POST /api/v1/scheduler/run returned when it queued this run.",
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        # The admin's word for it, as everywhere else in the product.
        verbose_name = "run"
        verbose_name_plural = "runs"
        constraints = [
            # A slot delivered twice, or a local hour repeated by a DST fall-back, runs once.
            models.UniqueConstraint(
                fields=["slot_key"],
                condition=Q(slot_key__isnull=False),
                name="execution_one_run_per_slot",
            ),
            models.CheckConstraint(
                condition=Q(status="running") | Q(finished_at__isnull=False),
                name="execution_finished_unless_running",
            ),
            models.CheckConstraint(
                condition=Q(status__in=RunStatus.values),
                name="execution_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["-started_at", "-id"], name="execution_started_idx"),
            models.Index(fields=["status", "-started_at"], name="execution_status_idx"),
            models.Index(fields=["triggered_by", "-started_at"], name="execution_trigger_idx"),
            models.Index(
                fields=["-started_at"],
                condition=Q(error_count__gt=0),
                name="execution_with_errors_idx",
            ),
            models.Index(fields=["-started_at"], condition=Q(dry_run=True), name="execution_dry_run_idx"),
            models.Index(
                fields=["request_id"],
                condition=Q(request_id__isnull=False),
                name="execution_request_idx",
            ),
        ]

    def __str__(self) -> str:
        kind = "Dry run" if self.dry_run else "Run"
        return f"{kind} #{self.pk} ({self.get_status_display().lower()})"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)

    @property
    def duration_display(self) -> str:
        return duration(self.duration_seconds)

    @property
    def has_errors(self) -> bool:
        return self.error_count > 0
