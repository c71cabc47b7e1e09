from argparse import ArgumentParser, ArgumentTypeError
from datetime import date
from typing import Any

from django.core.management.base import CommandError
from django.db import DatabaseError

from common.dates import parse_iso_date
from common.exit_codes import FAILED_EXIT_CODE, REFUSED_EXIT_CODE
from common.interrupts import Interrupted, stopping_signals_raise
from scheduler.config import MAX_BATCH_SIZE, parse_batch_size
from scheduler.management.base import ConfiguredCommand
from scheduler.models import JobExecutionLog, RunStatus
from scheduler.services import InvalidAsOf, overdue_check_run


def iso_date(value: str) -> date:
    try:
        return parse_iso_date(value)
    except ValueError as exc:
        raise ArgumentTypeError(f"{value!r} is not allowed; {exc}") from None


def batch_size(value: str) -> int:
    """The same rule as OVERDUE_INVOICE_BATCH_SIZE."""
    try:
        return parse_batch_size(value)
    except ValueError as exc:
        raise ArgumentTypeError(f"{value!r} is not allowed; {exc}") from None


def summary(log: JobExecutionLog) -> str:
    verb = "would be created" if log.dry_run else "created"
    return (
        f"{'Dry run' if log.dry_run else 'Run'} #{log.pk} {log.status} (as of {log.as_of}): "
        f"{log.invoices_processed} invoices examined, {log.notifications_created} reminders {verb}, "
        f"{log.already_notified} already notified, {log.error_count} errors in {log.duration_seconds:.2f} s."
    )


def first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def failure(log: JobExecutionLog) -> str:
    try:
        recorded = JobExecutionLog.objects.filter(pk=log.pk, status=RunStatus.FAILED).exists()
    except DatabaseError:
        recorded = False
    if recorded:
        return f"Run #{log.pk} failed; its traceback is in the run's log."
    return f"Run #{log.pk} failed and its log could not be written; the traceback is in this output above."


class Command(ConfiguredCommand):
    help = "Find overdue invoices and record one reminder per reached level (see README)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--as-of", type=iso_date, help="judge overdue as of this date (YYYY-MM-DD)")
        parser.add_argument("--batch-size", type=batch_size, help=f"invoices per batch, 1..{MAX_BATCH_SIZE}")
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be created; write nothing"
        )

    def handle(
        self, *args: Any, as_of: date | None, batch_size: int | None, dry_run: bool, **options: Any
    ) -> None:
        progress = self.progress(desc="Overdue check", unit="invoice", verb="examine")
        try:
            with stopping_signals_raise():
                log = overdue_check_run(
                    triggered_by=JobExecutionLog.Trigger.COMMAND,
                    as_of=as_of,
                    batch_size=batch_size,
                    dry_run=dry_run,
                    config=self.config,
                    progress=progress,
                )
        except InvalidAsOf as exc:
            raise CommandError(str(exc), returncode=REFUSED_EXIT_CODE) from None
        except Interrupted as exc:
            raise CommandError(f"The run was {exc}; its log ends failed.", returncode=exc.exit_code) from None
        except DatabaseError as exc:
            # Before its log row exists, a run has nowhere to record why it could not start.
            raise CommandError(
                f"The run could not start: {first_line(exc)}", returncode=FAILED_EXIT_CODE
            ) from None
        finally:
            progress.close()
        self.stdout.write(summary(log))
        for error in log.errors[:10]:
            self.stdout.write(f"  invoice {error['number']} (id {error['invoice_id']}): {error['error']}")
        if log.status == RunStatus.FAILED:
            raise CommandError(failure(log), returncode=FAILED_EXIT_CODE)
