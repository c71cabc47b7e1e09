from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils import timezone

from common.exit_codes import REFUSED_EXIT_CODE
from scheduler.config import OverdueConfig
from scheduler.management.base import ConfiguredCommand
from scheduler.schedules import (
    DELIVERY_SCHEDULE_NAME,
    SCHEDULE_NAME,
    WEBHOOK_SCHEDULE_NAME,
    SyncAction,
    SyncResult,
    delivery_schedule_sync,
    schedule_sync,
    webhook_schedule_sync,
)


def describe(result: SyncResult, config: OverdueConfig) -> str:
    if config.schedule_type == "interval":
        every = f"every {config.interval_hours} h"
    else:
        every = f"cron '{config.schedule_value}' in {config.timezone.key}"
    next_run = timezone.localtime(result.schedule.next_run, config.timezone).isoformat()
    moved = "" if result.next_run_moved or result.action == SyncAction.UNCHANGED else " (kept)"
    return f"Schedule '{SCHEDULE_NAME}' {result.action}: {every}; next run {next_run}{moved}."


def describe_delivery(result: SyncResult) -> str:
    next_run = timezone.localtime(result.schedule.next_run).isoformat()
    every = f"every {result.schedule.minutes} min"
    name, action = DELIVERY_SCHEDULE_NAME, result.action
    return f"Schedule '{name}' {action}: sends due reminders {every}; next run {next_run}."


def describe_webhooks(result: SyncResult) -> str:
    next_run = timezone.localtime(result.schedule.next_run).isoformat()
    every = f"every {result.schedule.minutes} min"
    name, action = WEBHOOK_SCHEDULE_NAME, result.action
    return f"Schedule '{name}' {action}: delivers due webhooks {every}; next run {next_run}."


class Command(ConfiguredCommand):
    help = (
        "Create or update the django-q2 schedules of the overdue check, of the reminder senders and of "
        "the webhook senders from the configuration (see README)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = schedule_sync(config=self.config)
            delivery = delivery_schedule_sync(minutes=settings.REMINDER_SEND_SCHEDULE_MINUTES)
            webhooks = webhook_schedule_sync(minutes=settings.WEBHOOK_SEND_SCHEDULE_MINUTES)
        except ValidationError as exc:
            raise CommandError(
                f"django-q2 refused the schedule: {exc}", returncode=REFUSED_EXIT_CODE
            ) from exc
        self.stdout.write(describe(result, self.config))
        self.stdout.write(describe_delivery(delivery))
        self.stdout.write(describe_webhooks(webhooks))
        if result.duplicates_removed:
            removed = result.duplicates_removed
            self.stdout.write(f"Removed {removed} duplicate schedule(s) named '{SCHEDULE_NAME}'.")
