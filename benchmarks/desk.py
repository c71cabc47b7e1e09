"""The finance desk's pages over 1,000,000 invoices and 1,000,000 reminders on PostgreSQL (issue 18).

    .venv/bin/python benchmarks/desk.py [--reminders 1000000] [--database-url URL] [--repeat 5]

Loads the data of benchmarks/reminders_admin.py into its own database (an invoice per reminder, a year
of nightly runs, each reminder but the newest run's sent in a message of its own; reused while the count
matches), adds the run log of those runs, pauses every 25th customer and lets one nightly run's
deliveries fail. Then requests each page of the desk a clerk opens (the dashboard, the overdue list, the
reminders, the runs, an invoice, a customer, a run) and a clerk's searches (reminders by a customer's
name, an invoice number or an email; invoices by number, a customer's name or email; messages by
Message-ID) through Django's test client as a logged-in superuser, and prints the median time, the
number of queries and the overdue figure the dashboard shows; then times the aging alone. The dashboard,
the aging and each search are headlines with their SPEC §9 targets. Results are in docs/benchmarks.md
("A clerk's searches, the dashboard and the API at scale").
"""

from __future__ import annotations

import argparse
import re
import statistics
from typing import Any

# Run as a script, its own folder is on sys.path: the data are the reminders' benchmark's.
import harness
from harness import execute
from reminders_admin import FIRST_NIGHT, RUNS, load, run_sizes

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/overdue_bench_desk"
FAILED_RUN = RUNS - 1

# The run log of the loaded reminders: run N created run_sizes()[N - 1] of them, the night after N days.
RUN_LOG = """
INSERT INTO scheduler_jobexecutionlog
    (id, status, triggered_by, dry_run, as_of, batch_size, reminder_days, started_at, finished_at,
     invoices_processed, notifications_created, already_notified, error_count, errors, traceback, host, pid)
SELECT n, 'completed', 'schedule', false, %(first_night)s::date + n::int, 100, '1',
       %(first_night)s::timestamptz + n * interval '1 day',
       %(first_night)s::timestamptz + interval '5 seconds' + n * interval '1 day',
       created, created, 0, 0, '[]', '', 'bench', 1
FROM unnest(%(sizes)s::int[]) WITH ORDINALITY AS runs(created, n)
ON CONFLICT (id) DO NOTHING
"""
PAUSE_CUSTOMERS = "UPDATE invoicing_customer SET reminders_paused = (id % 25 = 0)"
# The messages carrying the run's reminders fail (the load sends every reminder in a message).
FAIL_RUN = """
UPDATE reminders_message
SET state = 'failed', sent_at = NULL, attempts = 5, last_error = '550 mailbox unavailable'
WHERE id IN (SELECT delivery_id FROM reminders_notification WHERE run_id = %(run)s) AND state <> 'failed'
"""


def parse_args() -> argparse.Namespace:
    parser = harness.argument_parser(__doc__)
    parser.add_argument("--reminders", type=int, default=1_000_000, help="reminders (default 1,000,000)")
    harness.add_database_url(parser, default=DEFAULT_DATABASE_URL)
    harness.add_repeat(parser, default=5)
    args = parser.parse_args()
    harness.at_least(parser, args, reminders=25_000, repeat=1)  # customer 250's page
    return args


def prepare(reminders: int) -> None:
    load(reminders)
    execute(RUN_LOG, {"sizes": run_sizes(reminders), "first_night": FIRST_NIGHT})
    execute(
        "SELECT setval('scheduler_jobexecutionlog_id_seq', (SELECT max(id) FROM scheduler_jobexecutionlog))"
    )
    execute(PAUSE_CUSTOMERS)
    execute(FAIL_RUN, {"run": FAILED_RUN})
    # As autovacuum would have by then (the server here runs without it): the messages' visibility map
    # lets the desk's counts read their indexes alone.
    execute("VACUUM ANALYZE reminders_message")
    execute("ANALYZE")


def pages(reminders: int) -> list[tuple[str, str, dict[str, Any]]]:
    from django.urls import reverse

    middle = reminders // 2
    return [
        ("dashboard", reverse("admin:index"), {}),
        ("overdue invoices, first page", reverse("admin:invoicing_invoice_changelist"), {"overdue": "yes"}),
        ("all invoices, first page", reverse("admin:invoicing_invoice_changelist"), {}),
        ("an invoice's page", reverse("admin:invoicing_invoice_change", args=[middle]), {}),
        ("a customer's page (100 open invoices)", reverse("admin:invoicing_customer_change", args=[250]), {}),
        ("reminders, first page", reverse("admin:reminders_notification_changelist"), {}),
        *searches(reminders),
        ("a reminder's page", reverse("admin:reminders_notification_change", args=[middle]), {}),
        ("runs, first page", reverse("admin:scheduler_jobexecutionlog_changelist"), {}),
        (
            "the backlog run's page (100,000 reminders)",
            reverse("admin:scheduler_jobexecutionlog_change", args=[1]),
            {},
        ),
        (
            "a run whose deliveries failed",
            reverse("admin:scheduler_jobexecutionlog_change", args=[FAILED_RUN]),
            {},
        ),
    ]


def searches(reminders: int) -> list[tuple[str, str, dict[str, Any]]]:
    """A clerk's searches (SPEC §9: each under 150 ms): one customer, one invoice, one message."""
    from django.urls import reverse

    customer = max(100, reminders // 100) * 43 // 100  # "Customer 4300" of 10,000: no other name holds it
    number = f"INV-{reminders // 2:09d}"
    email = f"billing{customer}@customer.example"
    reminders_url = reverse("admin:reminders_notification_changelist")
    invoices_url = reverse("admin:invoicing_invoice_changelist")
    return [
        ("search reminders: a customer's name", reminders_url, {"q": f"Customer {customer}"}),
        ("search reminders: an invoice number", reminders_url, {"q": number}),
        ("search reminders: an email", reminders_url, {"q": email}),
        ("search invoices: a number", invoices_url, {"q": number}),
        ("search invoices: a customer's name", invoices_url, {"q": f"Customer {customer}"}),
        ("search invoices: a customer's email", invoices_url, {"q": email}),
        (
            "search messages: a Message-ID",
            reverse("admin:reminders_message_changelist"),
            {"q": f"<{reminders // 2}@reminders.example>"},
        ),
    ]


def overdue_figure(client: Any) -> str:
    """The dashboard's overdue figure and its paused part, as the page shows them."""
    html = client.get("/admin/").content.decode()
    figures = re.findall(r'data-field="(overdue|overdue-paused)"[^>]*>(?:<strong>)?([^<]*)<', html)
    return ", ".join(f"{field} {value}" for field, value in figures)


def aging_milliseconds(repeat: int) -> float:
    """The median of ``receivables_aging`` alone (the dashboard's largest query), as the dashboard asks."""
    from django.utils import timezone

    from invoicing.selectors import receivables_aging

    today = timezone.localdate()
    return statistics.median(harness.timings(lambda: receivables_aging(as_of=today), repeat)) * 1000


def main() -> None:
    args = parse_args()
    harness.bench_database(harness.database_url(args), cache_table=True)
    prepare(args.reminders)
    client = harness.superuser_client()
    messages = harness.scalar("SELECT count(*) FROM reminders_message")
    print(
        f"{args.reminders:,} invoices and reminders, {messages:,} messages; the dashboard shows EUR "
        f"{overdue_figure(client)}; load average {harness.load_average()}"
    )
    rows = [
        (name, *harness.measure_page(client, url, params, args.repeat))
        for name, url, params in pages(args.reminders)
    ]
    slowest = harness.page_table(rows, width=46)
    aging = aging_milliseconds(args.repeat)
    print(f"the aging (receivables_aging) alone: {aging:.0f} ms; load average {harness.load_average()}")
    size = f"{args.reminders:,} reminders"
    harness.headline(f"desk, {size}, dashboard", f"{rows[0][1]:.0f} ms", "< 500 ms")
    harness.headline(f"desk, {size}, the aging", f"{aging:.0f} ms", "< 300 ms")
    for name, milliseconds, _ in rows:
        if name.startswith("search"):
            harness.headline(f"desk, {size}, {name}", f"{milliseconds:.0f} ms", "< 150 ms")
    harness.headline(f"desk, {size}, slowest page", f"{slowest:.0f} ms")


if __name__ == "__main__":
    main()
