"""Receivables aging over 1,000,000 invoices on PostgreSQL (SPEC §9: under 0.3 s).

    .venv/bin/python benchmarks/aging.py [--invoices 1000000] [--database-url URL] [--repeat 7] [--explain]

Loads N invoices into its own database (once; reused while the count matches), then times
``receivables_aging`` (one aggregate query over ``OpenBalance`` on PostgreSQL) and, alternating with it,
the same aggregate over the open invoices themselves; prints the best, median and worst of ``--repeat``
runs of each, checks its totals against a plain ``GROUP BY currency`` and, with ``--explain``, the plan
of its query.
Results are in docs/benchmarks.md ("Receivables aging").
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date
from decimal import Decimal

# Run as a script, its own folder is on sys.path.
import harness

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/overdue_bench_aging"
AS_OF = date(2026, 3, 31)

LOAD_CUSTOMERS = """
INSERT INTO invoicing_customer (id, reference, name, email, reminders_paused)
SELECT g, 'C-' || g, 'Customer ' || g, format('billing+%%s@customer%%s.example', g, g), g %% 25 = 0
FROM generate_series(1::bigint, %(customers)s) AS g
"""

# Due dates from 60 days ahead to 400 days back; about 60 % sent, 5 currencies, a third partly paid. Amounts
# in each currency's minor units (JPY has none), as the books hold them.
LOAD_INVOICES = """
INSERT INTO invoicing_invoice
    (id, customer_id, number, issue_date, due_date, currency, total, amount_paid, status)
SELECT g, 1 + (g * 7919) %% %(customers)s, 'INV-' || lpad(g::text, 9, '0'), due - 30, due,
       (ARRAY['EUR', 'USD', 'GBP', 'CHF', 'JPY'])[1 + g %% 5], total,
       CASE WHEN g %% 3 = 0 THEN round(total / 3, minor) ELSE 0 END,
       (ARRAY['sent', 'sent', 'sent', 'paid', 'draft'])[1 + (g / 7) %% 5]
FROM (
    SELECT g, minor, round(10 + ((g * 7907) %% 500000) / 100.0, minor) AS total,
           %(as_of)s::date + (60 - (g * 31) %% 461)::int AS due
    FROM generate_series(1::bigint, %(invoices)s) AS g,
         LATERAL (SELECT CASE g %% 5 WHEN 4 THEN 0 ELSE 2 END) AS m(minor)
) AS spread
"""

CHECK_TOTALS = """
SELECT currency, sum(total - amount_paid), count(*)
FROM invoicing_invoice WHERE status = 'sent' AND total - amount_paid > 0
GROUP BY currency ORDER BY currency
"""


def parse_args() -> argparse.Namespace:
    parser = harness.argument_parser(__doc__)
    parser.add_argument("--invoices", type=int, default=1_000_000, help="invoices (default 1,000,000)")
    harness.add_database_url(parser, default=DEFAULT_DATABASE_URL, env="BENCH_AGING_DATABASE_URL")
    harness.add_repeat(parser, default=7, what="runs of the query")
    parser.add_argument(
        "--explain", action="store_true", help="print EXPLAIN (ANALYZE, BUFFERS) of the query"
    )
    args = parser.parse_args()
    harness.at_least(parser, args, invoices=100, repeat=1)
    return args


def load(invoices: int) -> None:
    from django.db import connection, transaction

    from invoicing.models import Invoice

    if Invoice.objects.count() == invoices:
        print(f"Reusing the {invoices:,} invoices already loaded.")
        return
    print(f"Loading {invoices:,} invoices ...", flush=True)
    started = time.perf_counter()
    customers = max(100, invoices // 100)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE reminders_notification, invoicing_invoice, invoicing_customer RESTART IDENTITY CASCADE"
        )
        cursor.execute(LOAD_CUSTOMERS, {"customers": customers})
        cursor.execute(LOAD_INVOICES, {"customers": customers, "invoices": invoices, "as_of": AS_OF})
    with connection.cursor() as cursor:
        for table in ("invoicing_customer", "invoicing_invoice"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"Loaded in {time.perf_counter() - started:.1f} s.")


def timed(repeat: int) -> tuple[dict[str, list[float]], list]:
    """Seconds of each run of ``receivables_aging`` and, alternating with it, of the same aggregate over
    the open invoices themselves (what it read before ``OpenBalance``); and its result."""
    from invoicing.selectors import aging_queryset, receivables_aging

    times: dict[str, list[float]] = {"open balance": [], "open invoices": []}
    for _ in range(repeat):
        times["open balance"] += harness.timings(lambda: receivables_aging(as_of=AS_OF), 1)
        times["open invoices"] += harness.timings(
            lambda: list(aging_queryset(as_of=AS_OF, from_open_balance=False)), 1
        )
    return times, receivables_aging(as_of=AS_OF)


def check(result: list) -> None:
    from django.db import connection

    from invoicing.currency import in_minor_units

    with connection.cursor() as cursor:
        cursor.execute(CHECK_TOTALS)
        expected = [(c, in_minor_units(Decimal(s), c), n) for c, s, n in cursor.fetchall()]
    got = [(row.currency, row.total, row.count) for row in result]
    if got != expected:
        raise SystemExit(f"aging differs from a plain GROUP BY: {got} != {expected}")
    print("Totals equal a plain GROUP BY currency:", ", ".join(f"{c} {t} ({n:,})" for c, t, n in got))


def explain() -> None:
    from django.db import connection

    from invoicing.selectors import aging_queryset

    sql, params = aging_queryset(as_of=AS_OF).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        print("\n".join(line for (line,) in cursor.fetchall()))


def main() -> None:
    args = parse_args()
    harness.bench_database(harness.database_url(args))
    load(args.invoices)
    times, result = timed(args.repeat)
    check(result)
    for name, seconds in times.items():
        print(
            f"aging from the {name} over {args.invoices:,} invoices: best {min(seconds) * 1000:.0f} ms, "
            f"median {statistics.median(seconds) * 1000:.0f} ms, worst {max(seconds) * 1000:.0f} ms "
            f"({args.repeat} runs, load average {harness.load_average()})"
        )
    median = statistics.median(times["open balance"]) * 1000
    harness.headline(f"aging, {args.invoices:,} invoices, median", f"{median:.0f} ms", "< 300 ms")
    if args.explain:
        explain()


if __name__ == "__main__":
    main()
