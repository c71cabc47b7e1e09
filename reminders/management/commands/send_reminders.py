from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from common.progress import progress_for
from config.environment import CONFIG_EXIT_CODE, configuration_problems, describe_problems
from reminders.delivery import SendReport, reminders_send
from reminders.mail import mail_destination

FAILED_EXIT_CODE = 1


def positive(value: str) -> int:
    if value.isascii() and value.isdigit() and int(value) >= 1:
        return int(value)
    raise ArgumentTypeError(f"{value!r} is not allowed; expected a whole number of at least 1")


def summary(report: SendReport) -> str:
    return f"Reminders: {report.summary()} ({report.chunks} chunks)."


class Command(BaseCommand):
    help = "Send the reminders that are due by email, then exit (see docs/delivery.md)."

    # The configuration checks below give exit 2 and the same message as `manage.py check`.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--limit", type=positive, help="try at most N reminders, then exit")

    def execute(self, *args: Any, **options: Any) -> str | None:
        if problems := configuration_problems():
            raise CommandError(describe_problems(problems), returncode=CONFIG_EXIT_CODE)
        return super().execute(*args, **options)

    def handle(self, *args: Any, limit: int | None, **options: Any) -> None:
        progress = progress_for(
            self.stdout._out,  # type: ignore[arg-type]  # the wrapped stream
            desc="Sending reminders",
            unit="reminder",
            verb="process",
        )
        try:
            report = reminders_send(limit=limit, progress=progress)
        finally:
            progress.close()
        self.stdout.write(summary(report))
        if report.sent:
            self.stdout.write(f"Mail {mail_destination()}.")
        for error in report.errors:
            self.stdout.write(f"  {error}")
        if report.failed:
            raise CommandError(
                f"{report.failed} reminders failed for good; they are listed with their error in the admin "
                "(delivery state: failed).",
                returncode=FAILED_EXIT_CODE,
            )
