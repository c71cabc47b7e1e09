"""POST /api/v1/invoices/bulk with 1,000 invoices on PostgreSQL (docs/SPEC.md §12, target < 1 s). How to
run it: docs/benchmarks.md.

Each request goes through the whole stack a client meets (Django's handler, the bearer token, the model
permissions, JSON parsing, the checks, the upsert, the response) in this process, against a database
that already holds ``--invoices`` invoices. Three kinds of request, ``--rounds`` each, on fresh numbers:
1,000 new invoices (their 100 customers inline and new), the same body again (nothing changes), and the
same invoices with every one changed (paid). Each request's counts are checked; a wrong count fails it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from typing import Any

import harness
from harness import execute

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/overdue_bench_bulk_api"
TARGET_SECONDS = 1.0
BATCH = 1_000
CUSTOMERS_PER_BATCH = 100
URL = "/api/v1/invoices/bulk"


def body(round_number: int, *, paid: bool = False) -> dict[str, Any]:
    invoices = []
    for n in range(BATCH):
        customer = f"BULK-{round_number:03d}-{n % CUSTOMERS_PER_BATCH:03d}"
        total = f"{100 + n % 900}.{n % 100:02d}"
        invoices.append(
            {
                "number": f"BULK-{round_number:03d}-{n:05d}",
                "customer": {
                    "reference": customer,
                    "name": f"Müller & Söhne {customer}",
                    "email": f"ap+{customer.lower()}@books.example",
                },
                "issue_date": "2026-01-02",
                "due_date": "2026-02-01",
                "currency": "EUR",
                "total": total,
                "amount_paid": total if paid else "0.00",
                "status": "paid" if paid else "sent",
            }
        )
    return {"invoices": invoices}


def seed(invoices: int) -> None:
    """``invoices`` invoices over a tenth as many customers, unless the database holds them already."""
    from invoicing.models import Invoice

    if Invoice.objects.exclude(number__startswith="BULK-").count() >= invoices:
        return
    execute(
        "TRUNCATE reminders_notification, invoicing_payment, invoicing_invoice, invoicing_customer CASCADE"
    )
    customers = max(1, invoices // 10)
    execute(
        "INSERT INTO invoicing_customer (name, email, reminders_paused, reference) SELECT 'Customer ' || n, "
        "'c' || n || '@seed.example', false, 'SEED-' || n FROM generate_series(1, %s) n",
        [customers],
    )
    execute(
        "INSERT INTO invoicing_invoice (customer_id, number, issue_date, due_date, currency, total, "
        "amount_paid, status) SELECT (SELECT min(id) FROM invoicing_customer) + n %% %s, 'SEED-' || n, "
        "DATE '2026-01-01', DATE '2026-01-31', 'EUR', 100, 0, 'sent' FROM generate_series(1, %s) n",
        [customers, invoices],
    )
    execute("VACUUM ANALYZE invoicing_customer")
    execute("VACUUM ANALYZE invoicing_invoice")


def remove_earlier_runs() -> None:
    execute("DELETE FROM invoicing_invoice WHERE number LIKE 'BULK-%%'")
    execute("DELETE FROM invoicing_customer WHERE reference LIKE 'BULK-%%'")


def client() -> Any:
    from django.contrib.auth.models import Permission, User
    from django.test import Client

    from api.tokens import api_token_create

    user, _ = User.objects.get_or_create(username="bench-bulk-api", defaults={"is_staff": True})
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="invoicing"))
    key = api_token_create(username=user.username, name="bench").key
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")


def timed_post(browser: Any, payload: bytes, expected: dict[str, int]) -> float:
    started = time.perf_counter()
    response = browser.post(URL, payload, content_type="application/json")
    seconds = time.perf_counter() - started
    counts = {key: response.json().get(key) for key in expected} if response.status_code == 200 else {}
    if counts != expected:
        sys.exit(f"POST {URL}: {response.status_code} {response.content[:500]!r}, expected counts {expected}")
    return seconds


def run(args: argparse.Namespace) -> int:
    # The admin's static files are not collected here; whitenoise says so, and no request needs them.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    harness.bench_database(harness.database_url(args), cache_table=True)  # the throttle counts there
    print(f"Seeding {args.invoices:,} invoices (once) ...", flush=True)
    seed(args.invoices)
    remove_earlier_runs()
    browser = client()
    timed_post(browser, json.dumps(body(999)).encode(), {"created": BATCH})  # warm up: imports, plans
    times: dict[str, list[float]] = {"new": [], "same again": [], "all changed": []}
    for round_number in range(args.rounds):
        first, paid = (
            json.dumps(body(round_number)).encode(),
            json.dumps(body(round_number, paid=True)).encode(),
        )
        times["new"].append(timed_post(browser, first, {"created": BATCH, "updated": 0, "unchanged": 0}))
        times["same again"].append(
            timed_post(browser, first, {"created": 0, "updated": 0, "unchanged": BATCH})
        )
        times["all changed"].append(
            timed_post(browser, paid, {"created": 0, "updated": BATCH, "unchanged": 0})
        )
    remove_earlier_runs()
    print(
        f"\nPOST {URL} with {BATCH:,} invoices ({CUSTOMERS_PER_BATCH} customers inline), "
        f"{args.invoices:,} invoices stored, {args.rounds} rounds, PostgreSQL\n"
    )
    print(f"{'request':<14}{'median s':>10}{'max s':>8}{'target':>9}")
    worst = 0.0
    for name, seconds in times.items():
        worst = max(worst, max(seconds))
        target = f"< {TARGET_SECONDS}"
        print(f"{name:<14}{statistics.median(seconds):>10.3f}{max(seconds):>8.3f}{target:>9}")
    verdict = "met" if worst < TARGET_SECONDS else "MISSED"
    print(f"\nTarget (every request under {TARGET_SECONDS} s): {verdict}")
    harness.headline(
        f"bulk API, {BATCH:,} invoices per request, slowest", f"{worst:.3f} s", f"< {TARGET_SECONDS} s"
    )
    return 0 if worst < TARGET_SECONDS else 1


def main(argv: list[str] | None = None) -> int:
    parser = harness.argument_parser(__doc__)
    parser.add_argument("--invoices", type=int, default=100_000, help="invoices stored beforehand")
    parser.add_argument("--rounds", type=int, default=5, help="requests of each kind (default 5)")
    harness.add_database_url(parser, default=DEFAULT_DATABASE_URL, env="BENCH_DATABASE_URL")
    args = parser.parse_args(argv)
    harness.at_least(parser, args, invoices=1, rounds=1)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
