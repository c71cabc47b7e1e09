"""The overdue check against its floor on PostgreSQL (docs/SPEC.md §9). How to run it: docs/benchmarks.md.

One run loads N invoices (or reuses them), then, in interleaved rounds, times

- the floor: one ``INSERT … SELECT … ON CONFLICT DO NOTHING`` that inserts the notifications the check owes;
- the service, ``overdue_check_run``, at the default batch size and at larger ones;

resetting the notifications to the same seeded state before every measurement. Each measurement runs in a
fresh worker process, so its peak RSS is its own; after each one the notifications are compared with the
floor's, and any difference fails the benchmark.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import harness
from harness import (
    create_database_if_missing,
    database_url,
    execute,
    load_average,
    peak_rss,
    refuse_unless_postgres,
    scalar,
    setup_django,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/overdue_bench"
AS_OF = date(2025, 6, 30)
# Bump when the generated data changes, so a stale data set is reloaded rather than reused.
DATASET_VERSION = 2
NOTIFICATION_COLUMNS = "invoice_id, threshold_days, level, days_overdue, recipient, message"
DEFAULT_BATCH_SIZES = "100,1000,5000"
DEFAULT_BATCH_SIZE = 100
OWN_TABLE = "reminders_notification"
LEAN_TABLE = "bench_lean_notification"
MIB = harness.MIB


# --- The data set ---------------------------------------------------------------------------------------

# Invoice g falls in bucket (g * 761) mod 1000, a permutation within every 1000 ids, so each kind is
# spread over the id range the way real data is. Per mille: 100 overdue; 10 sent with nothing left to
# pay; 10 due on as_of (not overdue); 150 not yet due; 580 paid; 50 draft; 100 void. About 1% of the
# customers are paused, so a few overdue-looking invoices get nothing.
LOAD_CUSTOMERS = """
INSERT INTO invoicing_customer (id, reference, name, email, reminders_paused)
SELECT g, 'C-' || g,
       (ARRAY['Müller & Söhne GmbH', 'O''Brien Ltd', 'Dupont, SA', 'Acme Inc.'])[1 + g %% 4] || ' ' || g,
       format('billing+%%s@customer%%s.example', g, g),
       g %% 97 = 0
FROM generate_series(1::bigint, %(customers)s) AS g
"""

LOAD_INVOICES = """
INSERT INTO invoicing_invoice
    (id, customer_id, number, issue_date, due_date, currency, total, amount_paid, status)
SELECT g, 1 + (g * 7919) %% %(customers)s, 'INV-' || lpad(g::text, 9, '0'), due_date - 30, due_date,
       (ARRAY['EUR', 'USD', 'GBP', 'CHF', 'JPY'])[1 + g %% 5], total,
       CASE WHEN kind = 'overdue' AND g %% 3 = 0 THEN round(total / 3, 2)
            WHEN kind IN ('overdue', 'due today', 'not yet due', 'draft', 'void') THEN 0
            ELSE total END,
       CASE WHEN kind IN ('paid', 'draft', 'void') THEN kind ELSE 'sent' END
FROM (
    SELECT g, kind,
           round(10 + ((g * 7907) %% 500000) / 100.0, 2) AS total,
           %(as_of)s::date + (CASE kind
               WHEN 'due today' THEN 0
               WHEN 'not yet due' THEN 1 + g %% 60
               WHEN 'paid' THEN -(1 + g %% 720)
               ELSE -(1 + g %% 120) END)::int AS due_date
    FROM (
        SELECT g, CASE
            WHEN b < 100 THEN 'overdue'
            WHEN b < 110 THEN 'settled'
            WHEN b < 120 THEN 'due today'
            WHEN b < 270 THEN 'not yet due'
            WHEN b < 850 THEN 'paid'
            WHEN b < 900 THEN 'draft'
            ELSE 'void' END AS kind
        FROM (SELECT g, (g * 761) %% 1000 AS b FROM generate_series(1::bigint, %(invoices)s) AS g) AS numbered
    ) AS kinds
) AS invoices
"""

OVERDUE_WHERE = """
    i.status = 'sent' AND i.balance_due > 0 AND i.due_date <= %(as_of)s::date - %(min_days)s
    AND NOT c.reminders_paused
"""

DAYS = "(%(as_of)s::date - i.due_date)"

# The message of reminders.rules.reminder_message: the balance in the currency's minor units (JPY has
# none; the data set's other currencies have two), rounded half up as ``money`` does.
MESSAGE = f"""
    'Dear ' || c.name || ', invoice ' || i.number || ' is ' || {DAYS}
    || CASE WHEN {DAYS} = 1 THEN ' day' ELSE ' days' END
    || ' overdue. Balance due: ' || i.currency || ' '
    || round(i.balance_due, CASE i.currency WHEN 'JPY' THEN 0 ELSE 2 END)::text || '.'
"""

# About 5% of the overdue invoices were reminded by an earlier run (threshold 1, level 1).
SEED_NOTIFICATIONS = f"""
INSERT INTO reminders_notification ({NOTIFICATION_COLUMNS}, run_id)
SELECT i.id, 1, 1, {DAYS}, c.email, {MESSAGE}, %(run)s
FROM invoicing_invoice AS i JOIN invoicing_customer AS c ON c.id = i.customer_id
WHERE {OVERDUE_WHERE} AND i.id %% 20 = 0
"""

# docs/SPEC.md §9's lean floor: only the notification's own columns (§2), its primary key, the unique key
# and the invoice foreign key, made as Django makes it (deferrable, checked at commit). Nothing for delivery.
LEAN_TABLE_DDL = f"""
CREATE TABLE IF NOT EXISTS {LEAN_TABLE} (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    invoice_id bigint NOT NULL REFERENCES invoicing_invoice (id) DEFERRABLE INITIALLY DEFERRED,
    threshold_days integer NOT NULL,
    level smallint NOT NULL,
    days_overdue integer NOT NULL,
    recipient varchar(254) NOT NULL,
    message text NOT NULL,
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    run_id bigint NOT NULL,
    UNIQUE (invoice_id, threshold_days)
)
"""


@dataclass(frozen=True)
class Dataset:
    invoices: int
    customers: int
    overdue: int
    seeded: int
    owed: int
    seed_execution: int


def prepare_dataset(invoices: int, reload: bool, thresholds: tuple[int, ...]) -> Dataset:
    execute(
        "CREATE TABLE IF NOT EXISTS bench_dataset (invoices bigint NOT NULL, as_of date NOT NULL, "
        "version int NOT NULL, seed_execution bigint NOT NULL)"
    )
    found = dataset_found(invoices)
    if reload or found is None:
        load_dataset(invoices)
    else:
        print(f"Reusing the {invoices:,} invoices already loaded (--reload loads them afresh).")
    seed_execution = scalar("SELECT seed_execution FROM bench_dataset")
    reset_notifications(seed_execution)
    params = {"as_of": AS_OF, "min_days": thresholds[0]}
    overdue = scalar(
        f"SELECT count(*) FROM invoicing_invoice AS i JOIN invoicing_customer AS c ON c.id = i.customer_id "
        f"WHERE {OVERDUE_WHERE}",
        params,
    )
    return Dataset(
        invoices=invoices,
        customers=scalar("SELECT count(*) FROM invoicing_customer"),
        overdue=overdue,
        seeded=scalar("SELECT count(*) FROM bench_seeded_notification"),
        owed=owed_count(thresholds),
        seed_execution=seed_execution,
    )


def dataset_found(invoices: int) -> int | None:
    row = scalar(
        "SELECT seed_execution FROM bench_dataset WHERE invoices = %s AND as_of = %s AND version = %s",
        [invoices, AS_OF, DATASET_VERSION],
    )
    if row is None or scalar("SELECT count(*) FROM invoicing_invoice") != invoices:
        return None
    if scalar("SELECT to_regclass('bench_seeded_notification') IS NULL"):
        return None
    return row


def load_dataset(invoices: int) -> None:
    from django.db import transaction

    print(f"Loading {invoices:,} invoices ...", flush=True)
    started = time.perf_counter()
    customers = max(100, invoices // 100)
    execute("DROP TABLE IF EXISTS bench_seeded_notification")
    execute(f"DROP TABLE IF EXISTS {LEAN_TABLE}")
    execute(
        "TRUNCATE bench_dataset, reminders_notification, invoicing_invoice, invoicing_customer, "
        "scheduler_jobexecutionlog RESTART IDENTITY CASCADE"
    )
    with transaction.atomic():
        execute(LOAD_CUSTOMERS, {"customers": customers})
        execute(LOAD_INVOICES, {"customers": customers, "invoices": invoices, "as_of": AS_OF})
        for table in ("invoicing_customer", "invoicing_invoice"):
            execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        seed = seed_execution()
        execute(SEED_NOTIFICATIONS, {"as_of": AS_OF, "min_days": 1, "run": seed.pk})
        execute(
            f"CREATE TABLE bench_seeded_notification AS "
            f"SELECT id, {NOTIFICATION_COLUMNS}, created_at, run_id FROM {OWN_TABLE}"
        )
        execute(
            "INSERT INTO bench_dataset VALUES (%s, %s, %s, %s)", [invoices, AS_OF, DATASET_VERSION, seed.pk]
        )
    # What autovacuum would have done by the time a nightly run starts.
    for table in ("invoicing_customer", "invoicing_invoice", "reminders_notification"):
        execute(f"VACUUM ANALYZE {table}")
    print(f"Loaded in {time.perf_counter() - started:.1f} s.")


def seed_execution() -> Any:
    from django.utils import timezone

    from scheduler.models import JobExecutionLog, RunStatus

    started = timezone.now() - timedelta(days=1)
    return JobExecutionLog.objects.create(
        status=RunStatus.COMPLETED,
        triggered_by=JobExecutionLog.Trigger.SCHEDULE,
        as_of=AS_OF - timedelta(days=1),
        batch_size=100,
        reminder_days="1",
        started_at=started,
        finished_at=started + timedelta(minutes=1),
        host="benchmark-seed",
        pid=0,
    )


def reset_notifications(seed_execution: int) -> None:
    """Back to the seeded state in both tables: only the earlier run's reminders, fresh indexes and
    statistics."""
    execute(LEAN_TABLE_DDL)
    execute(f"TRUNCATE {OWN_TABLE}, {LEAN_TABLE}, reminders_webhookdelivery")
    seeded = f"id, {NOTIFICATION_COLUMNS}, created_at, run_id"
    # Yesterday's reminders have been mailed by the time the nightly run starts: not in the outbox (marked
    # out of it here rather than each given a message, which the check never reads).
    execute(
        f"INSERT INTO {OWN_TABLE} ({seeded}, cancel_reason) "
        f"SELECT {seeded}, 'bench: mailed' FROM bench_seeded_notification"
    )
    lean = f"{NOTIFICATION_COLUMNS}, created_at, run_id"
    execute(f"INSERT INTO {LEAN_TABLE} ({lean}) SELECT {lean} FROM bench_seeded_notification")
    execute("DELETE FROM scheduler_jobexecutionlog WHERE id <> %s", [seed_execution])
    for table in (OWN_TABLE, LEAN_TABLE, "scheduler_jobexecutionlog"):
        execute(f"VACUUM ANALYZE {table}")
    # Every variant starts right after a checkpoint, so each pays the same full-page images: the first
    # change of each page after one (the invoice pages the foreign key checks lock, most of all) writes
    # the whole page to the WAL, and where the last checkpoint fell would otherwise decide the timing.
    execute("CHECKPOINT")


# --- The floor ------------------------------------------------------------------------------------------


def threshold_sql(thresholds: tuple[int, ...]) -> str:
    """The highest threshold the days overdue have reached (``reached_threshold``)."""
    if len(thresholds) == 1:
        return str(thresholds[0])
    return f"(SELECT max(t) FROM unnest(%(thresholds)s::int[]) AS t WHERE t <= {DAYS})"


def level_sql(thresholds: tuple[int, ...]) -> str:
    """The level: the count of thresholds at or below the days overdue."""
    if len(thresholds) == 1:
        return "1"
    return f"(SELECT count(*) FROM unnest(%(thresholds)s::int[]) AS t WHERE t <= {DAYS})"


def not_reminded_sql(thresholds: tuple[int, ...], table: str = OWN_TABLE) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM {table} AS n "
        f"WHERE n.invoice_id = i.id AND n.threshold_days >= {threshold_sql(thresholds)})"
    )


def floor_sql(thresholds: tuple[int, ...], table: str) -> str:
    """One statement inserting what the check owes into ``table``. With several thresholds, an invoice
    gets its highest one reached unless a reminder for it or a higher one exists (docs/SPEC.md §3); with one,
    the unique key says it all."""
    not_higher = f"AND {not_reminded_sql(thresholds, table)}" if len(thresholds) > 1 else ""
    return f"""
        INSERT INTO {table} ({NOTIFICATION_COLUMNS}, run_id)
        SELECT i.id, {threshold_sql(thresholds)}, {level_sql(thresholds)}, {DAYS}, c.email, {MESSAGE},
               %(run)s
        FROM invoicing_invoice AS i JOIN invoicing_customer AS c ON c.id = i.customer_id
        WHERE {OVERDUE_WHERE} {not_higher}
        ON CONFLICT (invoice_id, threshold_days) DO NOTHING
    """


def owed_count(thresholds: tuple[int, ...]) -> int:
    """How many notifications a run owes, counted apart from the floor's ON CONFLICT."""
    return scalar(
        f"SELECT count(*) FROM invoicing_invoice AS i JOIN invoicing_customer AS c ON c.id = i.customer_id "
        f"WHERE {OVERDUE_WHERE} AND {not_reminded_sql(thresholds)}",
        {"as_of": AS_OF, "min_days": thresholds[0], "thresholds": list(thresholds)},
    )


# --- Workers: one measurement each, in a fresh process --------------------------------------------------


def current_rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class QueryCounter:
    """Counts the queries of a run, and those of each batch: the batch read (a LIMIT on the invoice
    table, alone or as the first part of the batch's one statement) and what follows it inside the
    batch's transaction."""

    def __init__(self) -> None:
        from django.db import connection

        self.connection = connection
        self.total = 0
        self.per_batch: list[int] = []

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        self.total += 1
        starts_batch = sql.startswith("SELECT") or sql.lstrip().startswith("WITH batch AS")
        if starts_batch and 'FROM "invoicing_invoice"' in sql and "LIMIT" in sql:
            self.per_batch.append(0)
        if self.per_batch and self.connection.in_atomic_block:
            self.per_batch[-1] += 1
        return execute(sql, params, many, context)

    def summary(self) -> dict[str, Any]:
        # The last batch is short and may owe nothing (no insert), so it is left out unless it is alone.
        whole = self.per_batch[:-1] or self.per_batch
        return {
            "queries": self.total,
            "batches": len(self.per_batch),
            "per_batch_min": min(whole, default=0),
            "per_batch_max": max(whole, default=0),
        }


FLOOR_TABLES = {"floor-lean": LEAN_TABLE, "floor-own": OWN_TABLE}


def worker_floor(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection, transaction
    from django.utils import timezone

    from scheduler.models import JobExecutionLog, RunStatus

    thresholds = parse_thresholds(args.reminder_days)
    connection.ensure_connection()
    log = JobExecutionLog.objects.create(
        triggered_by=JobExecutionLog.Trigger.COMMAND,
        as_of=AS_OF,
        batch_size=0,
        reminder_days=args.reminder_days,
        started_at=timezone.now(),
        host="benchmark-floor",
        pid=os.getpid(),
    )
    table = FLOOR_TABLES[args.worker]
    params = {"as_of": AS_OF, "min_days": thresholds[0], "thresholds": list(thresholds), "run": log.pk}
    statement = floor_sql(thresholds, table)
    bounds = [(0, sys.maxsize)]
    if args.batch_size:
        statement = statement.replace("ON CONFLICT", "AND i.id > %(low)s AND i.id <= %(high)s ON CONFLICT")
        bounds = batch_bounds(thresholds, args.batch_size)
    rss_before = current_rss()
    started = time.perf_counter()
    created = 0
    # Committed like a batch of the check: synchronously, the WAL flushed before it returns.
    for low, high in bounds:
        with transaction.atomic():
            created += execute(statement, {**params, "low": low, "high": high})
    seconds = time.perf_counter() - started
    JobExecutionLog.objects.filter(pk=log.pk).update(
        status=RunStatus.COMPLETED, finished_at=timezone.now(), notifications_created=created
    )
    return {
        "seconds": seconds,
        "created": created,
        "log": log.pk,
        "table": table,
        "queries": len(bounds),
        "batches": len(bounds),
        "per_batch_min": 1,
        "per_batch_max": 1,
        "rss_peak": peak_rss(),
        "rss_growth": peak_rss() - rss_before,
    }


def batch_bounds(thresholds: tuple[int, ...], size: int) -> list[tuple[int, int]]:
    """``(after, last)`` id pairs cutting the overdue invoices into keyset batches of ``size``, found
    before the clock starts: the batched floor measures the statements and their commits only."""
    ids = [
        row[0]
        for row in fetch_rows(
            "SELECT i.id FROM invoicing_invoice AS i JOIN invoicing_customer AS c ON c.id = i.customer_id "
            f"WHERE {OVERDUE_WHERE} ORDER BY i.id",
            {"as_of": AS_OF, "min_days": thresholds[0]},
        )
    ]
    lasts = [ids[min(start + size, len(ids)) - 1] for start in range(0, len(ids), size)]
    return list(zip([0, *lasts[:-1]], lasts, strict=True))


def worker_service(args: argparse.Namespace) -> dict[str, Any]:
    import tracemalloc

    from django.db import connection

    from scheduler.config import parse_overdue_config
    from scheduler.services import overdue_check_run

    config = parse_overdue_config(
        {
            "OVERDUE_INVOICE_SCHEDULE_TYPE": "cron",
            "OVERDUE_INVOICE_SCHEDULE_VALUE": "0 0 * * *",
            "OVERDUE_INVOICE_BATCH_SIZE": "100",
            "OVERDUE_INVOICE_TIMEZONE": "UTC",
            "OVERDUE_INVOICE_REMINDER_DAYS": args.reminder_days,
            "REMINDER_ESCALATION": "highest",
        }
    )
    connection.ensure_connection()
    counter = QueryCounter()
    rss_before = current_rss()
    if args.tracemalloc:
        tracemalloc.start()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        log = overdue_check_run(
            triggered_by="command", as_of=AS_OF, batch_size=args.batch_size, config=config
        )
        seconds = time.perf_counter() - started
    heap_peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
    return {
        "seconds": seconds,
        "created": log.notifications_created,
        "log": log.pk,
        "table": OWN_TABLE,
        "status": log.status,
        "invoices_processed": log.invoices_processed,
        "already_notified": log.already_notified,
        "error_count": log.error_count,
        **counter.summary(),
        "rss_peak": peak_rss(),
        "rss_growth": peak_rss() - rss_before,
        "heap_peak": heap_peak,
    }


def run_worker(args: argparse.Namespace) -> None:
    setup_django(database_url(args))
    result = worker_service(args) if args.worker == "service" else worker_floor(args)
    harness.print_result(result)


def measure(args: argparse.Namespace, variant: str, batch_size: int = 0) -> dict[str, Any]:
    command = [
        "--worker",
        variant,
        "--batch-size",
        str(batch_size),
        "--database-url",
        database_url(args),
        "--reminder-days",
        args.reminder_days,
    ]
    if args.tracemalloc:
        command.append("--tracemalloc")
    return harness.worker_result(str(Path(__file__).resolve()), command, variant)


# --- Checks ---------------------------------------------------------------------------------------------


def snapshot_expected(table: str) -> None:
    execute("DROP TABLE IF EXISTS bench_expected")
    execute(f"CREATE UNLOGGED TABLE bench_expected AS SELECT {NOTIFICATION_COLUMNS} FROM {table}")


def differences(result: dict[str, Any], dataset: Dataset, expected_created: int) -> list[str]:
    """Why this run's notifications or counters differ from the lean floor's (empty: they are the same)."""
    problems = []
    table = result["table"]
    for label, left, right in (("extra", table, "bench_expected"), ("missing", "bench_expected", table)):
        rows = fetch_rows(
            f"SELECT {NOTIFICATION_COLUMNS} FROM {left} EXCEPT SELECT {NOTIFICATION_COLUMNS} FROM {right} "
            "ORDER BY 1, 2 LIMIT 3"
        )
        problems += [f"{label}: {row}" for row in rows]
    in_table = scalar(f"SELECT count(*) FROM {table} WHERE run_id = %s", [result["log"]])
    if not result["created"] == in_table == expected_created:
        problems.append(
            f"counted {result['created']}, the run's rows {in_table}, the floor created {expected_created}"
        )
    if "invoices_processed" in result:
        problems += service_counter_problems(result, dataset)
    return problems


def service_counter_problems(result: dict[str, Any], dataset: Dataset) -> list[str]:
    problems = []
    if result["status"] != "completed" or result["error_count"]:
        problems.append(f"status {result['status']} with {result['error_count']} errors")
    if result["invoices_processed"] != dataset.overdue:
        problems.append(f"examined {result['invoices_processed']} invoices, {dataset.overdue} are overdue")
    if result["already_notified"] != result["invoices_processed"] - result["created"]:
        problems.append(f"already_notified {result['already_notified']} does not add up")
    return problems


def fetch_rows(sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# --- The run --------------------------------------------------------------------------------------------


@dataclass
class Variant(harness.Variant):
    worker: str
    batch_size: int = 0


def parse_thresholds(value: str) -> tuple[int, ...]:
    from scheduler.config import parse_reminder_days

    return parse_reminder_days(value)


def run_benchmark(args: argparse.Namespace) -> int:
    url = database_url(args)
    create_database_if_missing(refuse_unless_postgres(url))
    setup_django(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    final_webhooks(subscribed=args.final_webhook)
    thresholds = parse_thresholds(args.reminder_days)
    dataset = prepare_dataset(args.invoices, args.reload, thresholds)
    print(
        f"{dataset.invoices:,} invoices, {dataset.customers:,} customers, as_of {AS_OF}, "
        f"reminder days {args.reminder_days}: {dataset.overdue:,} overdue, "
        f"{dataset.seeded:,} already notified at level 1, {dataset.owed:,} notifications owed."
    )
    lean = Variant("lean floor (INSERT … SELECT)", "floor-lean")
    own = Variant("own-table floor", "floor-own")
    batched = [Variant("committed floor (lean, batched)", "floor-lean", size) for size in args.batch_sizes]
    services = [Variant("overdue_check_run", "service", size) for size in args.batch_sizes]
    for round_number in range(1, args.repeat + 1):
        run_round(args, dataset, [lean, own, *batched, *services], round_number)
    print_table(args, dataset, lean, own, batched, services)
    failed = [variant for variant in (lean, own, *batched, *services) if variant.problems]
    for variant in failed:
        print(f"\nDIFFERENT from the floor: {variant.name} batch {variant.batch_size}:", file=sys.stderr)
        for problem in variant.problems[:10]:
            print(f"  {problem}", file=sys.stderr)
    return 1 if failed else 0


def final_webhooks(*, subscribed: bool) -> None:
    """With ``--final-webhook``, one active endpoint receives ``reminder.final``: each batch then writes
    the events of its final reminders. Without it, no endpoint: what the check pays when nobody listens."""
    from reminders.models import EventType, WebhookEndpoint

    WebhookEndpoint.objects.all().delete()
    if subscribed:
        WebhookEndpoint.objects.create(
            url="https://hooks.example.com/bench", event_types=[EventType.REMINDER_FINAL]
        )


def run_round(args: argparse.Namespace, dataset: Dataset, variants: list[Variant], round_number: int) -> None:
    # Rounds interleave the variants, so noise from other work on the machine falls on all of them.
    lean = variants[0]
    for variant in variants:
        reset_notifications(dataset.seed_execution)
        result = measure(args, variant.worker, variant.batch_size)
        if variant is lean and round_number == 1:
            snapshot_expected(result["table"])
        expected_created = lean.results[0]["created"] if lean.results else result["created"]
        variant.problems += differences(result, dataset, expected_created)
        variant.results.append(result)
        print(
            f"  round {round_number}/{args.repeat}: {variant.name:<28} batch {variant.batch_size or '-':>6}: "
            f"{result['seconds']:7.2f} s",
            flush=True,
        )
    if lean.results[0]["created"] != dataset.owed:
        lean.problems.append(f"the floor created {lean.results[0]['created']}, {dataset.owed} are owed")


def mib(value: float | None) -> str:
    return "-" if value is None else f"{value / MIB:.1f}"


def print_table(
    args: argparse.Namespace,
    dataset: Dataset,
    lean: Variant,
    own: Variant,
    batched: list[Variant],
    services: list[Variant],
) -> None:
    best_service = min(services, key=lambda variant: variant.best)
    header = (
        f"{'variant':<30} {'batch':>6} {'best s':>7} {'median s':>9} {'x lean':>7} {'x own':>6} "
        f"{'x commit':>8} {'peak RSS':>9} {'RSS +run':>9} {'py heap':>8} {'q/batch':>8} {'created':>9}"
        "  same as floor"
    )
    print(
        f"\n{dataset.invoices:,} invoices, {dataset.overdue:,} overdue; best and median of {args.repeat} "
        f"runs; load average before/after: {LOAD_AT_START} / {load_average()}"
    )
    print(header)
    print("-" * len(header))
    committed = {variant.batch_size: variant for variant in batched}
    for variant in (lean, own, *batched, *services):
        floor = committed.get(variant.batch_size)
        x_commit = f"{variant.best / floor.best:8.2f}" if floor else f"{'-':>8}"
        per_batch_min, per_batch_max = variant.worst("per_batch_min"), variant.worst("per_batch_max")
        per_batch = (
            str(per_batch_max) if per_batch_min == per_batch_max else f"{per_batch_min}-{per_batch_max}"
        )
        heap = [result.get("heap_peak") for result in variant.results if result.get("heap_peak") is not None]
        name = variant.name + (" (best)" if variant is best_service else "")
        print(
            f"{name:<30} {variant.batch_size or '-':>6} {variant.best:7.2f} {variant.median:9.2f} "
            f"{variant.best / lean.best:7.2f} {variant.best / own.best:6.2f} {x_commit} "
            f"{mib(variant.worst('rss_peak')):>9} {mib(variant.worst('rss_growth')):>9} "
            f"{mib(max(heap) if heap else None):>8} {per_batch:>8} "
            f"{variant.results[0]['created']:>9,}  {'no' if variant.problems else 'yes'}"
        )
    print_targets(lean, own, committed, services)
    print(LEGEND)


LEGEND = """
lean floor: one INSERT … SELECT … ON CONFLICT into a table with only the notification's columns, its
primary key, the unique key and the invoice foreign key (docs/SPEC.md §9). own-table floor: the same statement
into the project's reminders_notification. committed floor: the lean statement cut into
the service's keyset batches, one transaction each: what committing every batch costs by itself.
peak RSS: the worker process's maximum resident set (ru_maxrss), Django included; each measurement runs
in a fresh process. RSS +run: how far that peak rose above the resident set just before the run.
py heap: tracemalloc's peak during the run (with --tracemalloc; it slows the run). q/batch: queries in
a batch's transaction (the last, short batch left out). x lean, x own: best over that floor's best.
x commit: best over the best of the committed floor (the lean floor, a commit per batch) of the same
batch size."""


def print_targets(
    lean: Variant, own: Variant, committed: dict[int, Variant], services: list[Variant]
) -> None:
    """docs/SPEC.md §9: within 1.6x the lean floor at the best batch size, and at the default batch size
    within 1.25x the committed floor (the lean statement in batches of that size, a commit each)."""
    best = min(services, key=lambda variant: variant.best)
    print(
        f"\nbest batch size ({best.batch_size}): {best.best / lean.best:.2f}x the lean floor (target ≤ 1.6), "
        f"{best.best / own.best:.2f}x the own-table floor"
    )
    default = next((variant for variant in services if variant.batch_size == DEFAULT_BATCH_SIZE), None)
    floor = committed.get(DEFAULT_BATCH_SIZE)
    if default and floor:
        print(
            f"default batch size ({DEFAULT_BATCH_SIZE}): {default.best / floor.best:.2f}x the committed "
            f"floor (target ≤ 1.25), {default.best / lean.best:.2f}x the lean floor, "
            f"{default.best / own.best:.2f}x the own-table floor; the committed floor is "
            f"{floor.best / lean.best:.2f}x the lean floor"
        )
    harness.headline(
        f"check, best batch ({best.batch_size}) / lean floor", f"{best.best / lean.best:.2f}x", "≤ 1.6x"
    )
    if default and floor:
        harness.headline(
            "check, default batch / committed floor", f"{default.best / floor.best:.2f}x", "≤ 1.25x"
        )


LOAD_AT_START = load_average()


# --- Arguments ------------------------------------------------------------------------------------------


def batch_sizes(value: str) -> list[int]:
    sizes = [int(part) for part in value.split(",") if part.strip()]
    if not sizes or any(not 1 <= size <= 10_000 for size in sizes):
        raise argparse.ArgumentTypeError("expected batch sizes from 1 to 10000 separated by commas")
    return sizes


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = harness.argument_parser(__doc__)
    parser.add_argument(
        "--invoices", type=int, default=1_000_000, help="invoices to load (default 1,000,000)"
    )
    parser.add_argument(
        "--batch-sizes",
        type=batch_sizes,
        default=batch_sizes(DEFAULT_BATCH_SIZES),
        help=f"service batch sizes to time, the default (100) first (default {DEFAULT_BATCH_SIZES})",
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds of measurements (default 3)")
    parser.add_argument("--reload", action="store_true", help="load the invoices afresh even if present")
    harness.add_database_url(parser, default=DEFAULT_DATABASE_URL, env="BENCH_DATABASE_URL")
    parser.add_argument("--reminder-days", default="1", help="OVERDUE_INVOICE_REMINDER_DAYS (default 1)")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also report the Python heap peak (slows the runs)"
    )
    parser.add_argument("--quick", action="store_true", help="100,000 invoices, one round: a quick try")
    parser.add_argument(
        "--final-webhook",
        action="store_true",
        help="an endpoint receives reminder.final (its events written)",
    )
    parser.add_argument("--worker", choices=[*FLOOR_TABLES, "service"], help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.invoices, args.repeat = 100_000, 1
    if args.invoices < 1000 or args.repeat < 1:
        parser.error("--invoices must be at least 1000 and --repeat at least 1")
    return args


def main() -> int:
    args = parse_args()
    if args.worker:
        run_worker(args)
        return 0
    return run_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
