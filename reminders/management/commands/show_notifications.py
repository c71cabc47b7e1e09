from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Count

from common.display import threshold_phrase
from reminders.models import Message, MessageState, Notification


class Command(BaseCommand):
    help = "Print the most recent reminders."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--limit", type=int, default=10)
        parser.add_argument(
            "--sample", action="store_true", help="also print a sent statement (the one with most reminders)"
        )

    def handle(self, *args: Any, limit: int, sample: bool, **options: Any) -> None:
        latest = Notification.objects.select_related("invoice", "delivery").order_by("-id")[:limit]
        total = Notification.objects.count()
        self.stdout.write(f"{total} reminders in all; the latest {min(limit, total)}:")
        for notification in latest:
            self.stdout.write(
                f"  {threshold_phrase(notification.threshold_days)} "
                f"(level {notification.level}) "
                f"to {notification.recipient} [{notification.state}]: {notification.message}"
            )
        if sample:
            self.show_sample()

    def show_sample(self) -> None:
        sent = (
            Message.objects.filter(state=MessageState.SENT)
            .annotate(carried=Count("reminders"))
            .order_by("-carried", "-sent_at", "-id")
            .first()
        )
        if sent is None:
            self.stdout.write("No reminder has been sent yet (python manage.py send_reminders sends them).")
            return
        self.stdout.write(
            f"\nA statement sent, {sent.message_id} to {sent.recipient} "
            f"({sent.carried} reminder{'' if sent.carried == 1 else 's'}):"
        )
        self.stdout.write(f"Subject: {sent.subject}\n")
        self.stdout.write(sent.text_body)
