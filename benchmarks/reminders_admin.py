"""The reminders' admin list with 1,000,000 reminders on PostgreSQL (issue 13, docs/SPEC.md §7, §9).

    .venv/bin/python benchmarks/reminders_admin.py [--reminders 1000000] [--database-url URL] [--repeat 7]
    .venv/bin/python benchmarks/reminders_admin.py --run-index brin   # the same pages over a BRIN run_id

Loads N reminders into its own database once (reused while the count matches), as a year of nightly runs
leaves them: run after run, each run's reminders inserted `pending` and then updated to `sent` with the
mail that went out (so rows move in the heap, as a sender's updates move them), a first run with a
backlog of 10% of all, the newest run's reminders still pending. Then requests each page through
Django's test client as a logged-in superuser and prints the median time and the number of queries.
``--run-index`` measures with the run id index of that kind in place of the migration's (swapped in
the benchmark's own database, put back at the end). Results are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any

# Run as a script, its own folder is on sys.path.
import harness
from harness import fetch_one as execute

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/overdue_bench_reminders"
RUNS = 300
# Run N made its reminders at 02:00 UTC N nights after this one: the newest run was last night, so the
# desk's "last 30 days" hold a month of runs. A data set of another day is loaded afresh.
FIRST_NIGHT = datetime.combine(date.today() - timedelta(days=RUNS + 2), dt_time(2), tzinfo=UTC)
RUN_INDEX = "notification_run_idx"

LOAD_CUSTOMERS = """
INSERT INTO invoicing_customer (id, reference, name, email, reminders_paused)
SELECT g, 'C-' || g, 'Customer ' || g, format('billing%%s@customer.example', g), false
FROM generate_series(1, %(customers)s) AS g
"""
LOAD_INVOICES = """
INSERT INTO invoicing_invoice
    (id, customer_id, number, issue_date, due_date, currency, total, amount_paid, status)
SELECT g, 1 + g %% %(customers)s, 'INV-' || lpad(g::text, 9, '0'), DATE '2025-01-01', DATE '2025-01-31',
       'EUR', 100, 0, 'sent'
FROM generate_series(1, %(reminders)s) AS g
"""

# One run's reminders: invoices (first, last], created pending, then sent with what the mail said.
RUN_INSERT = """
INSERT INTO reminders_notification
    (invoice_id, threshold_days, level, days_overdue, recipient, message, run_id, created_at)
SELECT i.id, 1, 1, 30, c.email, 'Dear ' || c.name || ', invoice ' || i.number || ' is 30 days overdue.',
       %(run)s, %(first_night)s::timestamptz + %(run)s * interval '1 day'
FROM invoicing_invoice AS i JOIN invoicing_customer AS c ON c.id = i.customer_id
WHERE i.id > %(first)s AND i.id <= %(last)s
"""
RUN_SENT = """
WITH sent AS (
    INSERT INTO reminders_message (id, customer_id, recipient, state, attempts, sent_at, message_id, subject,
        text_body, html_body, last_error, claim_token, refused_copies, created_at)
    SELECT n.id, i.customer_id, n.recipient, 'sent', 1, n.created_at + interval '10 minutes',
        '<' || n.id || '@reminders.example>', 'Invoice overdue', n.message || repeat(' Please pay.', 30),
        '', '', '', '', n.created_at
    FROM reminders_notification AS n JOIN invoicing_invoice AS i ON i.id = n.invoice_id
    WHERE n.run_id = %(run)s
    RETURNING id
)
UPDATE reminders_notification SET delivery_id = id WHERE id IN (SELECT id FROM sent)
"""


def parse_args() -> argparse.Namespace:
    parser = harness.argument_parser(__doc__)
    parser.add_argument("--reminders", type=int, default=1_000_000, help="reminders (default 1,000,000)")
    harness.add_database_url(parser, default=DEFAULT_DATABASE_URL)
    harness.add_repeat(parser, default=7)
    parser.add_argument(
        "--run-index", choices=["btree", "brin"], help="measure with this kind of run_id index"
    )
    args = parser.parse_args()
    harness.at_least(parser, args, reminders=1000, repeat=1)
    return args


def run_sizes(reminders: int) -> list[int]:
    """A first run with a backlog of a tenth of all, then ``RUNS`` nightly runs sharing the rest."""
    backlog = reminders // 10
    nightly, extra = divmod(reminders - backlog, RUNS)
    return [backlog] + [nightly + (1 if night < extra else 0) for night in range(RUNS)]


def load(reminders: int) -> None:
    from django.db import transaction

    count, newest = execute("SELECT count(*), max(created_at) FROM reminders_notification")
    if count == reminders and newest == FIRST_NIGHT + timedelta(days=RUNS + 1):
        print(f"Reusing {reminders:,} reminders.")
        return
    started = time.perf_counter()
    execute(
        "TRUNCATE reminders_notification, invoicing_invoice, invoicing_customer, scheduler_jobexecutionlog "
        "RESTART IDENTITY CASCADE"
    )
    sizes = {"customers": max(100, reminders // 100), "reminders": reminders}
    execute(LOAD_CUSTOMERS, sizes)
    execute(LOAD_INVOICES, sizes)
    last = 0
    for run, size in enumerate(run_sizes(reminders), start=1):
        with transaction.atomic():
            execute(RUN_INSERT, {"run": run, "first": last, "last": last + size, "first_night": FIRST_NIGHT})
            if run <= RUNS:  # the newest run's reminders are still in the outbox
                execute(RUN_SENT, {"run": run})
        last += size
    execute("VACUUM ANALYZE reminders_notification")
    execute("VACUUM ANALYZE invoicing_invoice")
    print(f"Loaded {reminders:,} reminders in {time.perf_counter() - started:.1f} s.")


def use_run_index(kind: str | None) -> str:
    """Put a run_id index of ``kind`` in place (``None``: the migration's); returns the kind in place."""
    current = execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [RUN_INDEX])[0]
    in_place = "brin" if "USING brin" in current else "btree"
    if kind and kind != in_place:
        execute(f"DROP INDEX {RUN_INDEX}")
        execute(f"CREATE INDEX {RUN_INDEX} ON reminders_notification USING {kind} (run_id)")
        execute("ANALYZE reminders_notification")
        return kind
    return in_place


def pages(reminders: int) -> list[tuple[str, dict[str, Any]]]:
    middle = RUNS // 2
    return [
        ("reminders list, first page", {}),
        ("reminders list, page 100", {"p": 100}),
        ("notifications created by the backlog run (10%)", {"run_id": 1}),
        (f"notifications created by a nightly run ({run_sizes(reminders)[middle]:,})", {"run_id": middle}),
        ("notifications created by the newest run", {"run_id": RUNS + 1}),
        ("delivery: in no message yet", {"delivery__state__isnull": "True"}),
        ("threshold = 1 day", {"threshold_days__exact": 1}),
        ("created in one month (date hierarchy)", one_month_ago()),
        ("search an invoice number", {"q": "INV-000500000"}),
    ]


def one_month_ago() -> dict[str, int]:
    month = FIRST_NIGHT + timedelta(days=RUNS // 2)
    return {"created_at__year": month.year, "created_at__month": month.month}


def main() -> None:
    args = parse_args()
    harness.bench_database(harness.database_url(args), cache_table=True)
    from django.urls import reverse

    load(args.reminders)
    migration_kind = use_run_index(None)
    kind = use_run_index(args.run_index)
    try:
        client = harness.superuser_client()
        url = reverse("admin:reminders_notification_changelist")
        print(f"{args.reminders:,} reminders, run_id index: {kind}")
        rows = [
            (name, *harness.measure_page(client, url, params, args.repeat))
            for name, params in pages(args.reminders)
        ]
        slowest = harness.page_table(rows, width=52)
        harness.headline(f"reminders admin, {args.reminders:,} reminders, slowest page", f"{slowest:.0f} ms")
    finally:
        use_run_index(migration_kind)


if __name__ == "__main__":
    main()
