"""SIGKILL at random points of real ``run_overdue_check`` processes, each followed by a recovery run
(docs/SPEC.md §4, P9): the killed run committed whole batches only and is marked ``abandoned``; after the
recovery the reminders equal the oracle's set exactly."""

from __future__ import annotations

import math
import signal
import time
from datetime import timedelta

from scheduler.models import JobExecutionLog, RunStatus
from tests.processes import run_manage
from tests.reliability.conftest import (
    load_invoices,
    report,
    run_log,
    wait_for_progress,
    wait_until_backend_gone,
)
from tests.reliability.runs import (
    PROCESS_TEST,
    RUN_ENV,
    START,
    THRESHOLDS,
    committed_prefix_problems,
    outcome,
    run_args,
)
from tests.scheduler.oracle import examined, owed

pytestmark = PROCESS_TEST


def kill_after_batches(process, *, batches: int, batch_size: int, jitter: float) -> JobExecutionLog:
    """SIGKILL the run once its log counts ``batches`` committed batches, plus a random moment."""
    victim = run_log(process)
    wait_for_progress(process, victim.pk, batches * batch_size)
    time.sleep(jitter)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    wait_until_backend_gone(victim.pk)
    victim.refresh_from_db()
    return victim


def test_sigkilled_runs_leave_whole_batches_and_each_recovery_run_completes_exactly(
    size, rng, slow_batches, run_process
):
    load_invoices(rng, count=size.invoices, around=START)
    as_of = START
    killed_mid_run = finished_first = expected_total = 0
    committed_batches: list[int] = []
    totals = {"duplicates": 0, "lost": 0, "unexpected": 0}
    for trial in range(size.kill_trials):
        # Runs on later dates: new invoices fall due, others reach levels 2 and 3.
        as_of += timedelta(days=rng.randint(1, 12))
        batch_size = rng.choice(size.kill_batch_sizes)
        expected = owed(as_of, THRESHOLDS)
        order = sorted(examined(as_of, THRESHOLDS))
        batches = rng.randrange(math.ceil(len(order) / batch_size))
        process = run_process(*run_args(as_of, batch_size), **RUN_ENV)

        victim = kill_after_batches(
            process, batches=batches, batch_size=batch_size, jitter=rng.uniform(0, 2 * size.batch_delay)
        )

        where = f"trial {trial}: as_of {as_of}, batch size {batch_size}, kill after {batches} batches"
        if victim.status == RunStatus.RUNNING:
            killed_mid_run += 1
            committed_batches.append(math.ceil(victim.invoices_processed / batch_size))
        else:
            finished_first += 1
            assert victim.status == RunStatus.COMPLETED, where
        problems = committed_prefix_problems(victim, order=order, owed=expected, batch_size=batch_size)
        assert not problems, f"{where}: {problems}"

        recovery = run_manage(*run_args(as_of, batch_size), timeout=600, **RUN_ENV)

        assert recovery.returncode == 0, f"{where}\n{recovery.stdout}{recovery.stderr}"
        victim.refresh_from_db()
        finisher = JobExecutionLog.objects.filter(pk__gt=victim.pk).get()
        if victim.status != RunStatus.COMPLETED:
            assert victim.status == RunStatus.ABANDONED, where
            assert victim.finished_at is not None, where
            assert f"pid {process.pid}" in victim.traceback, where
        assert finisher.status == RunStatus.COMPLETED, where
        assert finisher.invoices_processed == len(order), where
        assert finisher.notifications_created == len(expected) - victim.notifications_created, where
        result = outcome([victim, finisher], expected)
        expected_total += len(expected)
        for name in totals:
            totals[name] += getattr(result, name)
        assert result.exact, f"{where}: {result}"

    report(
        "SIGKILL mid-run, then a recovery run",
        invoices=size.invoices,
        trials=size.kill_trials,
        killed_mid_run=killed_mid_run,
        finished_before_the_kill=finished_first,
        batches_committed_before_the_kill=f"{min(committed_batches)} to {max(committed_batches)}"
        if committed_batches
        else "none",
        reminders_owed=expected_total,
        abandoned=JobExecutionLog.objects.filter(status=RunStatus.ABANDONED).count(),
        **totals,
        left_running=JobExecutionLog.objects.filter(status=RunStatus.RUNNING).count(),
    )
