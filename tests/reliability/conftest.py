"""Shared pieces of the fault-injection suite: its size, its seed, a data set loaded in one COPY, a
slow-down trigger, and the figures each test prints (``make reliability`` runs it at full size)."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest
from django.db import connection

from invoicing.models import Customer, InvoiceStatus
from scheduler.models import JobExecutionLog
from tests.processes import running_manage

T = TypeVar("T")


@dataclass(frozen=True)
class Size:
    name: str
    invoices: int
    kill_trials: int
    kill_batch_sizes: tuple[int, ...]
    terminate_trials: int
    concurrent_processes: int
    concurrent_rounds: int
    slots: int
    deliveries_per_slot: int
    paid_rounds: int
    # Seconds added to every update of a run's log (once per batch), so that a run over a small data set
    # lasts long enough to be killed mid-way. Zero at full size: 100,000 invoices take long enough.
    batch_delay: float
    examples: int


SIZES = {
    "small": Size(
        name="small",
        invoices=2_000,
        kill_trials=3,
        kill_batch_sizes=(10, 25, 50),
        terminate_trials=1,
        concurrent_processes=4,
        concurrent_rounds=2,
        slots=1,
        deliveries_per_slot=2,
        paid_rounds=1,
        batch_delay=0.04,
        examples=25,
    ),
    "full": Size(
        name="full",
        invoices=100_000,
        kill_trials=20,
        kill_batch_sizes=(100, 250, 500, 1000),
        terminate_trials=5,
        concurrent_processes=8,
        concurrent_rounds=10,
        slots=5,
        deliveries_per_slot=3,
        paid_rounds=5,
        batch_delay=0.0,
        examples=200,
    ),
}


def reliability_size() -> Size:
    name = os.environ.get("RELIABILITY_SIZE", "small")
    if name not in SIZES:
        raise pytest.UsageError(f"RELIABILITY_SIZE={name!r} is invalid: allowed values are small and full.")
    return SIZES[name]


FIGURES: list[str] = []


def report(fault: str, **figures: object) -> None:
    """Print one line of figures (shown with ``-s``) and keep it for the end-of-session summary."""
    line = f"{fault}: " + ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in figures.items())
    FIGURES.append(f"[{reliability_size().name}] {line}")
    print(f"\n[reliability] {line}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section(f"reliability figures (RELIABILITY_SEED={SEED})")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def size() -> Size:
    return reliability_size()


# One seed per session, printed, so that RELIABILITY_SEED=<it> replays every random choice of a run.
SEED = os.environ.get("RELIABILITY_SEED") or str(random.SystemRandom().randrange(2**32))


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """A generator seeded from the session's seed and the test's name."""
    seed = int(hashlib.sha256(f"{SEED}:{request.node.name}".encode()).hexdigest()[:8], 16)
    print(f"\n[reliability] {request.node.name}: RELIABILITY_SEED={SEED}")
    return random.Random(seed)


@pytest.fixture
def slow_batches(size: Size) -> Iterator[float]:
    """Every update of a run log sleeps ``size.batch_delay`` seconds in the database (a batch updates its
    log once, in its transaction), so a run is long enough to be killed at a chosen batch."""
    if size.batch_delay:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE FUNCTION reliability_slow_batch() RETURNS trigger AS $$ "
                f"BEGIN PERFORM pg_sleep({size.batch_delay}); RETURN NULL; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER reliability_slow_batch AFTER UPDATE ON scheduler_jobexecutionlog "
                "FOR EACH STATEMENT EXECUTE FUNCTION reliability_slow_batch()"
            )
    yield size.batch_delay
    # A transactional test database is flushed, not rolled back: the trigger must go by hand.
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS reliability_slow_batch ON scheduler_jobexecutionlog")
        cursor.execute("DROP FUNCTION IF EXISTS reliability_slow_batch()")


# (weight, status, share of the total paid)
SPREAD = (
    (62, InvoiceStatus.SENT, Decimal("0")),
    (8, InvoiceStatus.SENT, Decimal("0.4")),  # partly paid: still owes
    (5, InvoiceStatus.SENT, Decimal("1")),  # paid in full but not yet marked paid: owes nothing
    (13, InvoiceStatus.PAID, Decimal("1")),
    (6, InvoiceStatus.VOID, Decimal("0")),
    (6, InvoiceStatus.DRAFT, Decimal("0")),
)
INVOICE_COLUMNS = "customer_id, number, issue_date, due_date, currency, total, amount_paid, status"


def load_invoices(
    rng: random.Random, *, count: int, around: date, days_before: int = 120, days_after: int = 240
) -> None:
    """``count`` invoices due from ``days_before`` days before ``around`` to ``days_after`` after it, of
    every status, for customers of whom one in ten is paused; written in one COPY (100,000 in seconds)."""
    customers = Customer.objects.bulk_create(
        Customer(name=f"Customer {n}", email=f"billing{n}@customer.example", reminders_paused=n % 10 == 0)
        for n in range(max(count // 100, 10))
    )
    customer_ids = [customer.pk for customer in customers]
    weights = [row[0] for row in SPREAD]
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY invoicing_invoice ({INVOICE_COLUMNS}) FROM STDIN") as copy:
            for n in range(count):
                _, status, paid_share = rng.choices(SPREAD, weights=weights)[0]
                due = around + timedelta(days=rng.randint(-days_before, days_after))
                total = Decimal(rng.randint(1_000, 500_000)) / 100
                paid = (total * paid_share).quantize(Decimal("0.01"))
                customer = rng.choice(customer_ids)
                copy.write_row(
                    (customer, f"R-{n:07d}", due - timedelta(days=30), due, "EUR", total, paid, status)
                )
        # Fresh statistics, as autovacuum would give a table this size, so the run's plans are realistic.
        cursor.execute("ANALYZE invoicing_invoice, invoicing_customer")


def wait_for(probe: Callable[[], T | None], *, timeout: float = 120, interval: float = 0.01) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (found := probe()) is not None:
            return found
        time.sleep(interval)
    raise AssertionError(f"nothing after {timeout} s")


def log_of_process(pid: int) -> JobExecutionLog | None:
    return JobExecutionLog.objects.filter(pid=pid).order_by("-pk").first()


def run_log(process: subprocess.Popen[str]) -> JobExecutionLog:
    """The log of the run ``process`` is doing, once it has written it."""
    return wait_for(lambda: log_of_process(process.pid))


def invoices_counted(log_id: int) -> int:
    return JobExecutionLog.objects.values_list("invoices_processed", flat=True).get(pk=log_id)


def wait_for_progress(process: subprocess.Popen[str], log_id: int, invoices: int) -> None:
    """Until the run's log counts ``invoices`` examined in committed batches, or its process ended."""
    wait_for(lambda: True if process.poll() is not None or invoices_counted(log_id) >= invoices else None)


def backend_holding_liveness(log_id: int) -> int | None:
    """The PostgreSQL backend of the run whose log is ``log_id``: it holds the advisory lock on that id."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 0 "
            "AND objid = %s AND objsubid = 1 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [log_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def wait_until_backend_gone(log_id: int, timeout: float = 60) -> None:
    """After a kill the server ends the dead client's session (rolling back its open batch) only once
    it notices; judge what was committed after that."""
    wait_for(lambda: True if backend_holding_liveness(log_id) is None else None, timeout=timeout)


@pytest.fixture
def run_process(tmp_path: Path):
    """Start ``manage.py <args>`` in its own process group with its output in a file; killed on teardown."""
    stack: list = []

    def start(*args: str, **env: str):
        output = (tmp_path / f"process-{len(stack)}.log").open("w")
        context = running_manage(*args, output=output, **env)
        process = context.__enter__()
        process.output_path = Path(output.name)
        stack.append((context, output))
        return process

    yield start
    for context, output in reversed(stack):
        context.__exit__(None, None, None)
        output.close()
