from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import transaction

from common.commands import CheckedCommand
from common.exit_codes import REFUSED_EXIT_CODE
from reminders.models import EventType, WebhookEndpoint


class Command(CheckedCommand):
    help = (
        "Add a webhook endpoint and print its signing secret, shown this once here (the admin shows it to "
        "staff too). The same as adding it in the admin; see docs/webhooks.md."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("url", help="http:// or https:// URL that receives the events")
        parser.add_argument(
            "--event",
            action="append",
            dest="events",
            default=[],
            choices=EventType.values,
            help="an event it receives (repeat for several); none: every event",
        )
        parser.add_argument("--description", default="", help="whose receiver it is, for staff")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="delete the endpoints with this URL first (and what waits for them): a new secret",
        )

    def handle(
        self, *args: Any, url: str, events: list[str], description: str, replace: bool, **options: Any
    ) -> None:
        endpoint = WebhookEndpoint(url=url, event_types=events, description=description)
        try:
            endpoint.full_clean()
        except ValidationError as exc:
            problems = "; ".join(f"{name}: {' '.join(texts)}" for name, texts in exc.message_dict.items())
            raise CommandError(f"Endpoint refused: {problems}", returncode=REFUSED_EXIT_CODE) from exc
        with transaction.atomic():
            if replace:
                WebhookEndpoint.objects.filter(url=url).delete()
            endpoint.save()
        receives = ", ".join(events) if events else "every event"
        self.stdout.write(f"Webhook endpoint {endpoint.pk} added: {url} receives {receives}.")
        self.stdout.write(f"Signing secret: {endpoint.secret}")
