from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.utils import timezone

from common.commands import CheckedCommand, positive_int
from common.display import moment
from common.exit_codes import FAILED_EXIT_CODE, REFUSED_EXIT_CODE
from common.interrupts import Interrupted, stopping_signals_raise
from reminders.checks import sending_problems
from reminders.mail import mail_destination
from reminders.models import OutboxSwitch
from reminders.outbox import SendReport, reminders_send
from reminders.selectors import sending_paused
from reminders.window import send_window


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


def paused(switch: OutboxSwitch) -> str:
    who = switch.paused_by.get_username() if switch.paused_by else "someone"
    why = f": {switch.reason}" if switch.reason else ""
    return (
        f"Sending is paused (by {who} since {moment(switch.paused_at)}{why}); nothing was "
        "sent. Resume it in the admin: Reminders → Outbox switch."
    )


class Command(CheckedCommand):
    help = "Send the reminders that are due by email, then exit (see docs/delivery.md)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--limit", type=positive_int, help="claim about N messages at most, then exit")

    def configured(self) -> None:
        if problems := sending_problems():
            raise CommandError(
                "Sending refused:\n" + "\n".join(f"  - {p}" for p in problems), returncode=REFUSED_EXIT_CODE
            )

    def handle(self, *args: Any, limit: int | None, **options: Any) -> None:
        if switch := sending_paused():
            self.stdout.write(paused(switch))
            return
        window, now = send_window(), timezone.now()
        if not window.is_open(now):
            self.stdout.write(window.closed_note(now))
            return
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
