"""Many ``run_overdue_check`` processes started at once, round after round (P14): in each round one
works and the others end ``skipped``; no reminder is ever given twice, and the worker's reminders equal
the oracle's set."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from functools import partial

from django.db import connection, transaction

from invoicing.models import Invoice
from reminders.models import Notification
from scheduler.models import JobExecutionLog, RunStatus
from tests.processes import wait_until
from tests.reliability.conftest import load_invoices, report
from tests.reliability.runs import PROCESS_TEST, RUN_ENV, START, THRESHOLDS, outcome, run_args
from tests.scheduler.oracle import owed

pytestmark = PROCESS_TEST

WITHIN = 300


def statuses(logs) -> Counter[str]:
    return Counter(logs.values_list("status", flat=True))


def skipped_are(logs, count: int) -> bool:
    return statuses(logs)[RunStatus.SKIPPED] == count


def test_concurrent_runs_round_after_round_one_works_the_others_skip_and_nothing_is_duplicated(
    size, rng, run_process
):
    load_invoices(rng, count=size.invoices, around=START)
    as_of = START
    others = size.concurrent_processes - 1
    totals = Counter()
    for round_number in range(size.concurrent_rounds):
        as_of += timedelta(days=rng.randint(1, 12))
        batch_size = rng.choice([100, 500, 1000])
        expected = owed(as_of, THRESHOLDS)
        first_new = (JobExecutionLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        logs = JobExecutionLog.objects.filter(pk__gte=first_new)
        # Process start-up takes longer than a run, so without a gate the runs could follow one another
        # instead of overlapping. The worker's first read of the invoices waits behind this lock while it
        # holds the run lock, until every other process has tried the run lock.
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {Invoice._meta.db_table} IN ACCESS EXCLUSIVE MODE")
            processes = [
                run_process(*run_args(as_of, batch_size), **RUN_ENV) for _ in range(size.concurrent_processes)
            ]
            all_tried = wait_until(partial(skipped_are, logs, others), timeout=WITHIN)
        returncodes = [process.wait(timeout=WITHIN) for process in processes]

        outputs = "\n".join(process.output_path.read_text() for process in processes)
        where = f"round {round_number}: {statuses(logs)}\n{outputs}"
        assert all_tried, where
        assert returncodes == [0] * size.concurrent_processes, where
        assert statuses(logs) == {RunStatus.COMPLETED: 1, RunStatus.SKIPPED: others}, where
        worker = logs.get(status=RunStatus.COMPLETED)
        assert not Notification.objects.filter(run_id__in=logs.exclude(pk=worker.pk).values("id")).exists(), (
            where
        )
        result = outcome(list(logs), expected)
        assert result.exact, f"{where}\n{result}"
        assert worker.notifications_created == result.created == len(expected), where
        totals.update(
            runs=size.concurrent_processes,
            workers=1,
            skipped=others,
            reminders=result.created,
            duplicates=result.duplicates,
            lost=result.lost,
            unexpected=result.unexpected,
        )

    pairs = Notification.objects.values_list("invoice_id", "level")
    report(
        "concurrent runs",
        invoices=size.invoices,
        processes_per_round=size.concurrent_processes,
        rounds=size.concurrent_rounds,
        **totals,
        duplicate_invoice_level_pairs=pairs.count() - pairs.distinct().count(),
    )
