from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from common.commands import CheckedCommand, positive_int
from common.exit_codes import FAILED_EXIT_CODE
from reminders.webhooks import webhooks_send


class Command(CheckedCommand):
    help = "Deliver the webhook events that are due to their endpoints, then exit (see docs/webhooks.md)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--limit", type=positive_int, help="try about N deliveries at most, then exit")

    def handle(self, *args: Any, limit: int | None, **options: Any) -> None:
        report = webhooks_send(limit=limit)
        self.stdout.write(f"Webhooks: {report.summary()}.")
        for error in report.errors:
            self.stdout.write(f"  {error}")
        if report.failed or report.endpoints_disabled:
            raise CommandError(
                f"{report.failed} deliveries failed for good, {len(report.endpoints_disabled)} endpoints "
                "disabled; see the admin (Reminders → Webhook deliveries, Webhook endpoints).",
                returncode=FAILED_EXIT_CODE,
            )
