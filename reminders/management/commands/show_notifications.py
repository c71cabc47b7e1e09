from argparse import ArgumentParser
from typing import Any

from django.conf import settings
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
        """The sent statement with the most reminders, and the same in each other language (SPEC §13); of
        equal ones, the first customer's: the same whatever order the connections sent them in."""
        sent = Message.objects.filter(state=MessageState.SENT).annotate(carried=Count("reminders"))
        largest = sent.order_by("-carried", "customer_id", "-id")
        first = largest.filter(customer__language=settings.LANGUAGE_CODE).first() or largest.first()
        if first is None:
            self.stdout.write("No reminder has been sent yet (python manage.py send_reminders sends them).")
            return
        self.show_message(first, "")
        for code, name in settings.LANGUAGES:
            if code != settings.LANGUAGE_CODE and (other := largest.filter(customer__language=code).first()):
                self.show_message(other, f" in {name}")

    def show_message(self, sent: Message, language: str) -> None:
        carried = getattr(sent, "carried", 0)
        self.stdout.write(
            f"\nA statement sent{language}, {sent.message_id} to {sent.recipient} "
            f"({carried} reminder{'' if carried == 1 else 's'}):"
        )
        self.stdout.write(f"Subject: {sent.subject}\n")
        self.stdout.write(sent.text_body)
