"""The run's database connection terminated mid-run (``pg_terminate_backend``): the run ends ``failed``
with the error in its log, or in the process output when not even a new connection can write the log;
only whole batches were committed, and the next run completes exactly (docs/SPEC.md §4)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import psycopg
from django.db import connection

from scheduler.models import JobExecutionLog, RunStatus
from tests.processes import run_manage
from tests.reliability.conftest import (
    backend_holding_liveness,
    load_invoices,
    report,
    run_log,
    wait_for,
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

TERMINATED = "terminating connection due to administrator command"


def terminate_after_batches(process, *, batches: int, batch_size: int) -> tuple[JobExecutionLog, int]:
    """Terminate the run's database session once its log counts ``batches`` committed batches; return
    its log and the process's exit code."""
    victim = run_log(process)
    backend = wait_for(lambda: backend_holding_liveness(victim.pk))
    wait_for_progress(process, victim.pk, batches * batch_size)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
        assert cursor.fetchone()[0], "the run's backend was already gone"
    returncode = process.wait(timeout=120)
    wait_until_backend_gone(victim.pk)
    victim.refresh_from_db()
    return victim, returncode


@contextmanager
def database_refusing_connections() -> Iterator[None]:
    """New sessions on the test database are refused (this one stays), as during a failover."""
    settings = connection.settings_dict
    name = connection.ops.quote_name(settings["NAME"])
    # PostgreSQL takes this only from a session on another database.
    with psycopg.connect(
        dbname="postgres",
        user=settings["USER"] or "postgres",
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        autocommit=True,
    ) as admin:
        admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        try:
            yield
        finally:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")


def recover_exactly(
    as_of: date, batch_size: int, victim: JobExecutionLog, expected, order
) -> JobExecutionLog:
    recovery = run_manage(*run_args(as_of, batch_size), timeout=600, **RUN_ENV)
    assert recovery.returncode == 0, recovery.stdout + recovery.stderr
    finisher = JobExecutionLog.objects.filter(pk__gt=victim.pk).get()
    assert finisher.status == RunStatus.COMPLETED
    assert finisher.invoices_processed == len(order)
    result = outcome([victim, finisher], expected)
    assert result.exact, result
    return finisher


def test_a_run_whose_connection_is_terminated_ends_failed_and_the_next_run_completes_exactly(
    size, rng, slow_batches, run_process
):
    load_invoices(rng, count=size.invoices, around=START)
    as_of = START
    failed = half_written = 0
    for trial in range(size.terminate_trials):
        as_of += timedelta(days=rng.randint(1, 12))
        batch_size = rng.choice(size.kill_batch_sizes)
        expected = owed(as_of, THRESHOLDS)
        order = sorted(examined(as_of, THRESHOLDS))
        batches = rng.randrange(1, max(2, math.ceil(len(order) / batch_size) - 1))
        process = run_process(*run_args(as_of, batch_size), **RUN_ENV)

        victim, returncode = terminate_after_batches(process, batches=batches, batch_size=batch_size)

        output = process.output_path.read_text()
        where = f"trial {trial}: as_of {as_of}, batch size {batch_size}, after {batches} batches\n{output}"
        assert returncode == 1, where
        assert victim.status == RunStatus.FAILED, where
        assert victim.finished_at is not None, where
        assert "OperationalError" in victim.traceback, where
        assert TERMINATED in victim.traceback, where
        assert f"Run #{victim.pk} failed" in output, where
        problems = committed_prefix_problems(victim, order=order, owed=expected, batch_size=batch_size)
        half_written += bool(problems)
        assert not problems, f"{where}\n{problems}"
        failed += 1

        recover_exactly(as_of, batch_size, victim, expected, order)

    report(
        "run's connection terminated mid-run",
        invoices=size.invoices,
        trials=size.terminate_trials,
        ended_failed_with_the_error_in_the_log=failed,
        half_written_batches=half_written,
        next_run_exact=size.terminate_trials,
    )


def test_a_run_that_cannot_reconnect_says_why_in_its_output_and_the_next_run_abandons_its_log(
    size, rng, slow_batches, run_process
):
    load_invoices(rng, count=size.invoices, around=START)
    as_of = START + timedelta(days=10)
    batch_size = rng.choice(size.kill_batch_sizes)
    expected = owed(as_of, THRESHOLDS)
    order = sorted(examined(as_of, THRESHOLDS))
    batches = rng.randrange(1, max(2, math.ceil(len(order) / batch_size) - 1))
    process = run_process(*run_args(as_of, batch_size), **RUN_ENV)
    wait_for(lambda: backend_holding_liveness(run_log(process).pk))

    with database_refusing_connections():
        victim, returncode = terminate_after_batches(process, batches=batches, batch_size=batch_size)

    output = process.output_path.read_text()
    assert returncode == 1, output
    assert f"Run #{victim.pk} failed and its log could not be written" in output
    assert TERMINATED in output
    assert victim.status == RunStatus.RUNNING, "the log could not be written, so it must still say running"
    assert not committed_prefix_problems(victim, order=order, owed=expected, batch_size=batch_size)

    recover_exactly(as_of, batch_size, victim, expected, order)

    victim.refresh_from_db()
    assert victim.status == RunStatus.ABANDONED
    report(
        "run's connection terminated and the database refusing new connections",
        trials=1,
        failure_in_the_process_output=1,
        log_marked_abandoned_by_the_next_run=1,
        next_run_exact=1,
    )
