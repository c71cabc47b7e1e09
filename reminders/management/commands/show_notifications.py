from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from reminders.models import Notification


class Command(BaseCommand):
    help = "Print the most recent reminders."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--limit", type=int, default=10)

    def handle(self, *args: Any, limit: int, **options: Any) -> None:
        latest = Notification.objects.select_related("invoice").order_by("-id")[:limit]
        total = Notification.objects.count()
        self.stdout.write(f"{total} reminders in all; the latest {min(limit, total)}:")
        for notification in latest:
            self.stdout.write(
                f"  {notification.threshold_days} days (level {notification.level}) "
                f"to {notification.recipient}: {notification.message}"
            )
