"""What the fault tests check about runs: the work a run committed, and the reminders a trial created,
against the oracle of docs/SPEC.md §3 (``tests.scheduler.oracle``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

import pytest

from reminders.models import Notification
from scheduler.models import JobExecutionLog
from tests.processes import needs_postgresql

# Tests that run real processes against the test database, which they must therefore commit to.
PROCESS_TEST = [
    pytest.mark.reliability,
    pytest.mark.processes,
    needs_postgresql,
    pytest.mark.django_db(transaction=True),
]
START = date(2026, 3, 1)
THRESHOLDS = (1, 7, 30)
RUN_ENV = {"OVERDUE_INVOICE_REMINDER_DAYS": ",".join(map(str, THRESHOLDS))}


def run_args(as_of: date, batch_size: int) -> tuple[str, ...]:
    return ("run_overdue_check", "--as-of", as_of.isoformat(), "--batch-size", str(batch_size))


@dataclass(frozen=True)
class Outcome:
    """The reminders some runs created, compared with what the oracle says was owed."""

    created: int
    duplicates: int  # invoices given more than one reminder by these runs
    lost: int  # owed invoices that got none
    unexpected: int  # reminders nobody owed, or at the wrong level or day count

    @property
    def exact(self) -> bool:
        return self.duplicates == self.lost == self.unexpected == 0


def outcome(runs: list[JobExecutionLog], owed: dict[int, tuple[int, int]]) -> Outcome:
    rows = list(
        Notification.objects.filter(run_id__in=[run.pk for run in runs]).values_list(
            "invoice_id", "level", "days_overdue"
        )
    )
    per_invoice = Counter(invoice for invoice, _, _ in rows)
    given = {invoice: (level, days) for invoice, level, days in rows}
    return Outcome(
        created=len(rows),
        duplicates=sum(1 for count in per_invoice.values() if count > 1),
        lost=len(owed.keys() - given.keys()),
        unexpected=sum(1 for invoice, reminder in given.items() if owed.get(invoice) != reminder),
    )


def committed_prefix_problems(
    run: JobExecutionLog, *, order: list[int], owed: dict[int, tuple[int, int]], batch_size: int
) -> list[str]:
    """What is wrong with the work a cut-short run committed. It must be whole batches: the first
    ``invoices_processed`` invoices of the keyset walk, each owed one reminded, the counters equal to
    the rows, and nothing else."""
    problems = []
    processed = run.invoices_processed
    if processed % batch_size and processed != len(order):
        problems.append(f"{processed} invoices counted: not whole batches of {batch_size}")
    rows = dict(
        (invoice, (level, days))
        for invoice, level, days in Notification.objects.filter(run_id=run.pk).values_list(
            "invoice_id", "level", "days_overdue"
        )
    )
    if run.notifications_created != len(rows):
        problems.append(f"log counts {run.notifications_created} reminders, the table has {len(rows)}")
    if run.already_notified + run.notifications_created + run.error_count != processed:
        problems.append("counters do not add up to the invoices processed")
    wanted = {invoice: owed[invoice] for invoice in order[:processed] if invoice in owed}
    if rows != wanted:
        problems.append(
            f"committed {len(rows)} reminders; the first {processed} invoices owed {len(wanted)} "
            f"({len(rows.keys() - wanted.keys())} extra, {len(wanted.keys() - rows.keys())} missing)"
        )
    return problems
