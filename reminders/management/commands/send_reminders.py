from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from common.commands import CheckedCommand
from common.interrupts import Interrupted, stopping_signals_raise
from reminders.mail import mail_destination
from reminders.outbox import SendReport, reminders_send

FAILED_EXIT_CODE = 1


def positive(value: str) -> int:
    if value.isascii() and value.isdigit() and int(value) >= 1:
        return int(value)
    raise ArgumentTypeError(f"{value!r} is not allowed; expected a whole number of at least 1")


def summary(report: SendReport) -> str:
    return f"Messages: {report.summary()} ({report.chunks} chunks)."


def interrupted(exc: Interrupted, report: SendReport) -> str:
    text = (
        f"Sending was {exc}; what the mail server accepted is recorded above, and the "
        f"{report.released} messages claimed but not sent are pending again."
    )
    if report.awaiting_lease:
        text += (
            f" {report.awaiting_lease} messages claimed and not recorded wait for their lease to expire "
            f"(REMINDER_LEASE_SECONDS={settings.REMINDER_LEASE_SECONDS}); the next sending takes them."
        )
    return text


class Command(CheckedCommand):
    help = "Send the reminders that are due by email, then exit (see docs/delivery.md)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--limit", type=positive, help="claim about N messages at most, then exit")

    def handle(self, *args: Any, limit: int | None, **options: Any) -> None:
        progress = self.progress(desc="Sending reminders", unit="message", verb="process")
        report = SendReport()
        stopped: Interrupted | None = None
        try:
            # SIGTERM (docker stop, systemd) and Ctrl-C: each connection stops after the message in
            # progress, what was sent is recorded and the rest is given back, so nothing is sent twice.
            with stopping_signals_raise():
                reminders_send(limit=limit, progress=progress, report=report)
        except Interrupted as exc:
            stopped = exc
        finally:
            progress.close()
        self.stdout.write(summary(report))
        if stopped is not None:
            raise CommandError(interrupted(stopped, report), returncode=stopped.exit_code)
        if report.sent:
            self.stdout.write(f"Mail {mail_destination()}.")
        for error in report.errors:
            self.stdout.write(f"  {error}")
        if report.failed:
            raise CommandError(
                f"{report.failed} messages failed for good; they are listed with their error in the admin "
                "(Reminders → Messages, state: failed).",
                returncode=FAILED_EXIT_CODE,
            )
