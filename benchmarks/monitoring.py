"""The admin run list and the monitoring API with 100,000 runs on PostgreSQL (docs/SPEC.md §9).

    .venv/bin/python benchmarks/monitoring.py [--runs 100000] [--database-url URL] [--repeat 7]

Loads N runs into its own database (once; reused while the count matches), then requests each page
through Django's test client, as a logged-in superuser or with a bearer token, and prints the median time
and the number of queries of each. Results are in docs/monitoring.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

# Run as a script, its own folder is on sys.path.
import harness

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/overdue_bench_monitoring"
NEWEST = datetime(2026, 2, 1, tzinfo=UTC)
EVERY = timedelta(minutes=15)
CHUNK = 5_000
STATUS_WEIGHTS = {
    "completed": 86,
    "completed_with_errors": 5,
    "failed": 2,
    "skipped": 6,
    "abandoned": 1,
}
TRIGGER_WEIGHTS = {"schedule": 90, "command": 5, "admin": 3, "api": 2}
DRY_RUN_SHARE = 0.02


def parse_args() -> argparse.Namespace:
    parser = harness.argument_parser(__doc__)
    parser.add_argument("--runs", type=int, default=100_000, help="run logs (default 100,000)")
    harness.add_database_url(parser, default=DEFAULT_DATABASE_URL, env="BENCH_MONITORING_DATABASE_URL")
    harness.add_repeat(parser, default=7)
    args = parser.parse_args()
    harness.at_least(parser, args, runs=50_000, repeat=1)  # page 1000 of 50 runs a page
    return args


# --- data ------------------------------------------------------------------------------------------------


def generated_runs(count: int) -> Iterator[Any]:
    from scheduler.models import JobExecutionLog

    rng = random.Random(16)
    # Its own generator: the other columns stay those the earlier figures were measured on.
    dry_rng = random.Random(17)
    statuses = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()), k=count)
    triggers = rng.choices(list(TRIGGER_WEIGHTS), weights=list(TRIGGER_WEIGHTS.values()), k=count)
    for index, (status, trigger) in enumerate(zip(statuses, triggers, strict=True)):
        started_at = NEWEST - index * EVERY
        errors = run_errors(rng) if status == "completed_with_errors" else []
        yield JobExecutionLog(
            status=status,
            triggered_by=trigger,
            dry_run=dry_rng.random() < DRY_RUN_SHARE,
            request_id=f"{index:032x}" if trigger == "api" else None,
            as_of=started_at.date(),
            batch_size=100,
            reminder_days="1",
            started_at=started_at,
            finished_at=started_at + timedelta(seconds=rng.uniform(0.5, 90)),
            host="bench",
            pid=1,
            invoices_processed=rng.randint(0, 5_000),
            notifications_created=rng.randint(0, 500),
            error_count=len(errors),
            errors=errors,
            traceback="Traceback (most recent call last):\n  OperationalError" if status == "failed" else "",
        )


def run_errors(rng: random.Random) -> list[dict[str, Any]]:
    ids = rng.sample(range(1, 1_000_000), rng.randint(1, 3))
    return [{"invoice_id": i, "number": f"INV-{i:07d}", "error": "DataError: value too long"} for i in ids]


def load_runs(count: int) -> None:
    from django.db import connection

    from scheduler.models import JobExecutionLog

    runs = JobExecutionLog.objects
    if runs.count() == count and runs.exclude(request_id=None).exists() and runs.filter(pk=1).exists():
        print(f"Reusing {count:,} runs.")
        return
    # Afresh from id 1: the pages name run 4242.
    harness.execute("TRUNCATE scheduler_jobexecutionlog RESTART IDENTITY CASCADE")
    started = time.perf_counter()
    batch: list[Any] = []
    for run in generated_runs(count):
        batch.append(run)
        if len(batch) == CHUNK:
            JobExecutionLog.objects.bulk_create(batch)
            batch = []
    JobExecutionLog.objects.bulk_create(batch)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scheduler_jobexecutionlog")
    print(f"Loaded {count:,} runs in {time.perf_counter() - started:.1f} s.")


# --- measurements ------------------------------------------------------------------------------------------


def pages(newest_day: date, request_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    runs = "/admin/scheduler/jobexecutionlog/"
    api = "/api/v1/scheduler/executions"
    week = {"from": (newest_day - timedelta(days=7)).isoformat(), "to": newest_day.isoformat()}
    return [
        ("admin: run list, first page", runs, {}),
        ("admin: run list, page 1000", runs, {"p": 1000}),
        ("admin: status = failed", runs, {"status__exact": "failed"}),
        ("admin: with errors", runs, {"has_errors": "yes"}),
        ("admin: trigger = admin", runs, {"triggered_by__exact": "admin"}),
        (
            "admin: started in the last week",
            runs,
            {"started_at__range__gte": week["from"], "started_at__range__lte": week["to"]},
        ),
        ("admin: date hierarchy, one month", runs, {"started_at__year": 2026, "started_at__month": 1}),
        ("admin: search by id", runs, {"q": "4242"}),
        ("admin: search error text", runs, {"q": "INV-0001"}),
        ("admin: one run", f"{runs}4242/change/", {}),
        ("api: executions, first page", api, {}),
        ("api: executions, 100 per page, page 500", api, {"per_page": 100, "page": 500}),
        ("api: status = failed", api, {"status": "failed"}),
        ("api: started in the last week", api, {"started_after": week["from"], "started_before": week["to"]}),
        ("api: triggered_by = admin", api, {"triggered_by": "admin"}),
        ("api: has_errors = true", api, {"has_errors": "true"}),
        ("api: has_errors = false, page 100", api, {"has_errors": "false", "page": 100}),
        ("api: dry_run = true", api, {"dry_run": "true"}),
        ("api: request_id of one run", api, {"request_id": request_id}),
        ("api: one run", f"{api}/4242", {}),
        ("api: status", "/api/v1/scheduler/status", {}),
        ("api: health", "/api/v1/scheduler/health", {}),
    ]


def logged_in_clients() -> tuple[Any, Any]:
    from django.test import Client

    from api.tokens import api_token_create

    admin_client = harness.superuser_client("bench")
    key = api_token_create(username="bench", name="benchmark").key
    return admin_client, Client(SERVER_NAME="localhost", headers={"Authorization": f"Bearer {key}"})


def oldest_request_id() -> str:
    from scheduler.models import JobExecutionLog

    oldest = JobExecutionLog.objects.exclude(request_id=None).order_by("started_at").first()
    return oldest.request_id


def main() -> None:
    args = parse_args()
    # The throttle stays on (its cache queries are part of every API request) but must not refuse us.
    os.environ["API_THROTTLE_RATE"] = "1000000/minute"
    harness.bench_database(harness.database_url(args), cache_table=True)
    logging.getLogger("django.request").setLevel(logging.CRITICAL)  # the health page answers 503 here

    load_runs(args.runs)
    admin_client, api_client = logged_in_clients()
    rows = []
    for name, path, params in pages(NEWEST.date(), oldest_request_id()):
        client = api_client if name.startswith("api") else admin_client
        # The health page answers 503: the benchmark's database has no recent run.
        rows.append((name, *harness.measure_page(client, path, params, args.repeat, answers=(200, 503))))
    slowest = harness.page_table(rows, width=48)
    harness.headline(f"monitoring, {args.runs:,} runs, slowest page", f"{slowest:.0f} ms")


if __name__ == "__main__":
    main()
