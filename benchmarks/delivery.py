"""Reminder delivery against a bare smtplib loop, on PostgreSQL (SPEC §9). How to run it: docs/benchmarks.md.

One run loads N pending reminders (or reuses them), starts an SMTP sink (aiosmtpd, its own process,
counting messages by Message-ID) and, in interleaved rounds, times

- the bare loop: ``smtplib`` sending the same messages, built beforehand and held in memory, over one
  connection;
- the sender: ``reminders_send`` in 1, 2 and 4 worker processes sharing the outbox;
both for each ``REMINDER_GROUPING`` (a statement per customer, then a message per reminder; the bare loop
sends the same statements);

resetting the outbox to all-pending before each measurement. The sink's count is then checked: every
message received exactly once, and for the sender every reminder in a message ``sent`` in the database.
Peak RSS of a sender is measured at N/10 and at N pending reminders.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import select
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
from harness import MIB, RESULT_MARK, database_url, execute, peak_rss, scalar

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/overdue_bench_delivery"
FROM_EMAIL = "Billing <billing@bench.example>"
READY_MARK = "BENCH_READY"
# Bump when the generated data changes, so a stale data set is reloaded rather than reused.
DATASET_VERSION = 2
HOST = "127.0.0.1"
# The connections of one sender against the far server that SPEC §9 states its target for (3x).
FAR_CONNECTIONS = 4
# The share of the bare loop's speed SPEC §9 asks of one sender against the local sink.
TARGET_RATIO = 0.8


# --- The sink: aiosmtpd in its own process --------------------------------------------------------------

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


class CountingHandler:
    def __init__(self, delay: float) -> None:
        self.ids: list[bytes] = []
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        found = _MESSAGE_ID.search(envelope.original_content)
        self.ids.append(found.group(1) if found else b"")
        return "250 OK"


async def _serve_sink(port: int, out: Path, delay: float, reply_delay: float) -> None:
    from aiosmtpd.smtp import SMTP

    class FarSMTP(SMTP):  # type: ignore[misc]  # aiosmtpd has no type information
        """Every reply (the greeting, EHLO, MAIL, RCPT, DATA, the end of data) ``reply_delay`` late, as
        from a server that far away."""

        async def push(self, status: Any) -> None:
            await asyncio.sleep(reply_delay)
            await super().push(status)

    handler = CountingHandler(delay)
    loop = asyncio.get_running_loop()
    protocol = FarSMTP if reply_delay else SMTP
    server = await loop.create_server(lambda: protocol(handler, hostname="sink.bench"), HOST, port)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print(READY_MARK, flush=True)
    await stop.wait()
    server.close()
    out.write_bytes(b"\n".join(handler.ids))


class Sink:
    """The sink process: started fresh for every measurement, its Message-IDs read once it stopped."""

    def __init__(self, out: Path, delay_ms: float = 0, reply_delay_ms: float = 0) -> None:
        self.out = out
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            self.port = probe.getsockname()[1]
        self.out.unlink(missing_ok=True)
        command = [sys.executable, str(Path(__file__).resolve()), "--sink", str(self.port), str(out)]
        command += ["--sink-delay-ms", str(delay_ms), "--reply-delay-ms", str(reply_delay_ms)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        wait_ready(self.process, "sink")

    def stop(self) -> Counter[str]:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        data = self.out.read_bytes().decode() if self.out.exists() else ""
        return Counter(line for line in data.split("\n") if line)


def wait_ready(process: subprocess.Popen[str], name: str, timeout: float = 60) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            line = process.stdout.readline()
            if line.strip() == READY_MARK:
                return
            if not line and process.poll() is not None:
                break
    sys.exit(f"The {name} process did not start (exit {process.poll()}).")


# --- Django and the database ----------------------------------------------------------------------------


def use_sink(port: int = 0) -> None:
    """Mail goes to the sink on ``port`` (none: nowhere), from one sender, with no copy to anyone."""
    os.environ["DEFAULT_FROM_EMAIL"] = FROM_EMAIL
    os.environ["EMAIL_URL"] = f"smtp://{HOST}:{port}" if port else "dummymail://"
    os.environ.pop("REMINDER_BCC", None)


# --- The data set: N overdue invoices, one pending reminder each ----------------------------------------

LOAD_CUSTOMERS = """
INSERT INTO invoicing_customer (id, reference, name, email, reminders_paused)
SELECT g, 'C-' || g,
       (ARRAY['Müller & Söhne GmbH', 'O''Brien Ltd', 'Dupont, SA', 'Acme Inc.'])[1 + g %% 4] || ' ' || g,
       format('billing+%%s@customer%%s.example', g, g), false
FROM generate_series(1::bigint, %(customers)s) AS g
"""

# Due 30 to 119 days before today: every level reached, and the re-check (as of today) finds it overdue.
LOAD_INVOICES = """
INSERT INTO invoicing_invoice
    (id, customer_id, number, issue_date, due_date, currency, total, amount_paid, status)
SELECT g, 1 + (g * 7919) %% %(customers)s, 'INV-' || lpad(g::text, 9, '0'),
       current_date - (60 + g %% 90)::int, current_date - (30 + g %% 90)::int,
       (ARRAY['EUR', 'USD', 'GBP', 'CHF', 'JPY'])[1 + g %% 5], round(10 + ((g * 7907) %% 500000) / 100.0, 2),
       0, 'sent'
FROM generate_series(1::bigint, %(reminders)s) AS g
"""

LOAD_REMINDERS = """
INSERT INTO reminders_notification
    (invoice_id, threshold_days, level, days_overdue, recipient, message, run_id)
SELECT i.id, (ARRAY[1, 7, 30])[1 + i.id %% 3], 1 + i.id %% 3, current_date - i.due_date, c.email,
       'Dear ' || c.name || ', invoice ' || i.number || ' is overdue.', 0
FROM invoicing_invoice AS i JOIN invoicing_customer AS c ON c.id = i.customer_id
"""

RESET_OUTBOX = "UPDATE reminders_notification SET delivery_id = NULL, cancel_reason = ''"
# A reminder left out of a measurement: out of the outbox, as a cancelled one is.
LEFT_OUT = "bench: left out"


def prepare_dataset(reminders: int, reload: bool) -> None:
    execute(
        "CREATE TABLE IF NOT EXISTS bench_delivery_dataset (reminders bigint NOT NULL, "
        "loaded_on date NOT NULL, version int NOT NULL)"
    )
    found = scalar(
        "SELECT count(*) FROM bench_delivery_dataset WHERE reminders = %s AND loaded_on = current_date "
        "AND version = %s",
        [reminders, DATASET_VERSION],
    )
    if found and not reload and scalar("SELECT count(*) FROM reminders_notification") == reminders:
        print(f"Reusing the {reminders:,} reminders already loaded (--reload loads them afresh).")
        return
    from django.db import transaction

    print(f"Loading {reminders:,} invoices with one pending reminder each ...", flush=True)
    started = time.perf_counter()
    execute(
        "TRUNCATE bench_delivery_dataset, reminders_notification, invoicing_invoice, invoicing_customer "
        "RESTART IDENTITY CASCADE"
    )
    with transaction.atomic():
        params = {"customers": max(100, reminders // 10), "reminders": reminders}
        execute(LOAD_CUSTOMERS, params)
        execute(LOAD_INVOICES, params)
        execute(LOAD_REMINDERS, {})
        for table in ("invoicing_customer", "invoicing_invoice"):
            execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        execute(
            "INSERT INTO bench_delivery_dataset VALUES (%s, current_date, %s)", [reminders, DATASET_VERSION]
        )
    # What autovacuum does after a load (it is off on some machines, this one among them): without
    # statistics the planner takes every invoice for open and every customer for one.
    for table in ("invoicing_customer", "invoicing_invoice"):
        execute(f"ANALYZE {table}")
    print(f"Loaded in {time.perf_counter() - started:.1f} s.")


def reset_outbox(pending: int) -> None:
    """Every reminder waiting for a message again, no message left; with ``pending`` below the total, the
    others are left out of the outbox."""
    execute(RESET_OUTBOX)
    execute("DELETE FROM reminders_message")
    execute(
        "UPDATE reminders_notification SET cancel_reason = %s WHERE id > "
        "(SELECT min(id) - 1 + %s FROM reminders_notification)",
        [LEFT_OUT[:20], pending],
    )
    execute("VACUUM ANALYZE reminders_notification")
    execute("VACUUM ANALYZE reminders_message")


def sent_ids() -> set[str]:
    """The Message-IDs the database records as sent."""
    from reminders.models import Message

    return set(Message.objects.filter(state="sent").values_list("message_id", flat=True))


# --- Workers: one measurement each, in fresh processes --------------------------------------------------


def wait_for_go() -> float:
    print(READY_MARK, flush=True)
    sys.stdin.readline()
    return time.time()


def process_cpu(pid: int | None) -> float | None:
    """The CPU seconds process ``pid`` of this machine has used (user and system); none when it cannot be
    read (gone, or not here)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, TypeError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_used(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def database_process(connection: Any) -> int | None:
    """The PostgreSQL process serving ``connection``, when it runs on this machine (none otherwise)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if command.startswith(b"postgres") else None


def worker_sender(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection

    from reminders.outbox import reminders_send

    connection.ensure_connection()
    backend = database_process(connection)
    started = wait_for_go()
    cpu = time.process_time()
    database_cpu = process_cpu(backend)
    report = reminders_send(limit=None)
    finished = time.time()
    return {
        "started": started,
        "finished": finished,
        "cpu": time.process_time() - cpu,
        # The sender's one connection does all its database work (its channel threads ask it).
        "database_cpu": cpu_used(database_cpu, process_cpu(backend)),
        "sent": report.sent,
        "other": report.tried - report.sent + report.released,
        "chunks": report.chunks,
        "rss_peak": peak_rss(),
    }


def prebuilt_messages() -> list[tuple[str, list[str], bytes]]:
    """The messages the sender would send for every pending reminder, grouped as ``REMINDER_GROUPING``
    says and built with its own code, in memory: the envelope's addresses made safe for SMTP and the
    bytes, as its SMTP backend sends them."""
    from itertools import groupby

    from django.conf import settings
    from django.db.models import F
    from django.utils import timezone

    from reminders.mail import PreparedEmail
    from reminders.models import Notification
    from reminders.outbox import (
        REMINDER_ROW_FIELDS,
        SendConfig,
        current_templates,
        message_id_for,
        other_invoices,
        overdue_invoices_by_customer,
        reminder_row_expressions,
    )
    from reminders.rendering import render_context, statement_context

    config = SendConfig.from_settings()
    templates = current_templates()
    overdue = overdue_invoices_by_customer(
        Notification.objects.filter(delivery__isnull=True, cancel_reason="").values("invoice__customer_id"),
        timezone.localdate(),
    )
    rows = (
        Notification.objects.filter(delivery__isnull=True, cancel_reason="")
        .order_by("invoice__customer_id", "id")
        .values(*REMINDER_ROW_FIELDS, customer_id=F("invoice__customer_id"), **reminder_row_expressions())
    )
    by_customer = settings.REMINDER_GROUPING == "customer"
    key = (lambda row: row["customer_id"]) if by_customer else (lambda row: row["id"])
    messages = []
    for number, (_, group) in enumerate(groupby(rows.iterator(chunk_size=2000), key=key), start=1):
        reminders = list(group)
        context = statement_context(
            customer_name=reminders[0]["customer_name"],
            customer_email=reminders[0]["customer_email"],
            rows=reminders,
            others=other_invoices(
                overdue.get(reminders[0]["customer_id"], []), [r["invoice_id"] for r in reminders]
            ),
        )
        rendered = render_context(templates.for_level(max(r["level"] for r in reminders)), context)
        email = PreparedEmail(
            subject=rendered.subject,
            body=rendered.text,
            from_email=config.from_email,
            to=[reminders[0]["customer_email"]],
            headers={
                "Message-ID": message_id_for(number, config.message_id_domain),
                "Auto-Submitted": "auto-generated",
            },
        )
        if rendered.html:
            email.attach_alternative(rendered.html, "text/html")
        email.prepare()
        messages.append((email.smtp_from, list(email.smtp_recipients), email.smtp_bytes))
    return messages


def worker_bare(args: argparse.Namespace) -> dict[str, Any]:
    from django.conf import settings

    messages = prebuilt_messages()
    started = wait_for_go()
    cpu = time.process_time()
    with smtplib.SMTP(settings.EMAIL_HOST, settings.EMAIL_PORT) as client:
        for sender, recipients, data in messages:
            client.sendmail(sender, recipients, data)
    finished = time.time()
    return {
        "started": started,
        "finished": finished,
        "cpu": time.process_time() - cpu,
        "database_cpu": 0.0,
        "sent": len(messages),
        "other": 0,
        "chunks": 1,
        "rss_peak": peak_rss(),
    }


def run_worker(args: argparse.Namespace) -> None:
    use_sink(args.port)
    harness.setup_django(database_url(args))
    result = worker_bare(args) if args.worker == "bare" else worker_sender(args)
    harness.print_result(result)


def measure(
    args: argparse.Namespace,
    variant: str,
    workers: int,
    sink: Sink,
    connections: int = 1,
    grouping: str = "customer",
) -> dict[str, Any]:
    """Start ``workers`` processes, let them set up, then start them together; wall time is the first
    start to the last finish. The sink's CPU is counted from the start to the last finish."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        variant,
        "--port",
        str(sink.port),
        "--database-url",
        database_url(args),
    ]
    env = {**os.environ, "REMINDER_SEND_CONNECTIONS": str(connections), "REMINDER_GROUPING": grouping}
    processes = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(workers)
    ]
    for process in processes:
        wait_ready(process, f"{variant} worker", timeout=600)
    server_cpu = process_cpu(sink.process.pid)
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=3600)
        lines = [line for line in out.splitlines() if line.startswith(RESULT_MARK)]
        if process.returncode or not lines:
            sys.exit(f"A {variant} worker failed (exit {process.returncode}):\n{out}")
        results.append(json.loads(lines[-1][len(RESULT_MARK) :]))
    server_cpu = cpu_used(server_cpu, process_cpu(sink.process.pid))
    database_cpus = [r["database_cpu"] for r in results]
    return {
        "seconds": max(r["finished"] for r in results) - min(r["started"] for r in results),
        "sent": sum(r["sent"] for r in results),
        "cpu": sum(r["cpu"] for r in results),
        "database_cpu": None if None in database_cpus else sum(database_cpus),
        "server_cpu": server_cpu,
        "per_worker": [r["sent"] for r in results],
        "other": sum(r["other"] for r in results),
        "rss_peak": max(r["rss_peak"] for r in results),
    }


# --- The run --------------------------------------------------------------------------------------------


@dataclass
class Variant(harness.Variant):
    kind: str
    workers: int
    pending: int
    connections: int = 1
    grouping: str = "customer"
    # The sink's delay before each reply: a server that far away.
    reply_delay_ms: float = 0


def received_problems(
    variant: Variant, received: Counter[str], expected: set[str] | None, sent: int
) -> list[str]:
    """Why the sink's count is not "every message exactly once" (empty: it is)."""
    problems = []
    if duplicates := [message_id for message_id, count in received.items() if count > 1]:
        problems.append(f"{len(duplicates)} Message-IDs received more than once, e.g. {duplicates[:3]}")
    if expected is not None:
        if missing := expected - set(received):
            problems.append(f"{len(missing)} never received, e.g. {sorted(missing)[:3]}")
        if extra := set(received) - expected:
            problems.append(f"{len(extra)} unexpected, e.g. {sorted(extra)[:3]}")
    elif sum(received.values()) != sent:
        problems.append(f"received {sum(received.values())} of {sent}")
    if variant.kind == "sender":
        unsent = scalar(
            "SELECT count(*) FROM reminders_notification AS n LEFT JOIN reminders_message AS m "
            "ON m.id = n.delivery_id WHERE n.cancel_reason = '' AND m.state IS DISTINCT FROM 'sent'"
        )
        if unsent:
            problems.append(f"{unsent} reminders not in a message marked sent")
    return problems


def run_variant(args: argparse.Namespace, variant: Variant, work: Path, round_number: int) -> None:
    reset_outbox(variant.pending)
    sink = Sink(work / "sink-ids.txt", args.sink_delay_ms, variant.reply_delay_ms)
    try:
        result = measure(args, variant.kind, variant.workers, sink, variant.connections, variant.grouping)
    finally:
        received = sink.stop()
    expected = sent_ids() if variant.kind == "sender" else None
    variant.problems += received_problems(variant, received, expected, result["sent"])
    variant.results.append(result)
    print(
        f"  round {round_number}/{args.repeat}: {variant.name:<42} {result['seconds']:7.2f} s "
        f"{variant.pending / result['seconds']:8.0f} msg/s  per worker {result['per_worker']}",
        flush=True,
    )


def run_benchmark(args: argparse.Namespace) -> int:
    use_sink()
    harness.bench_database(database_url(args))
    prepare_dataset(args.reminders, args.reload)
    n = args.reminders
    first = args.connections[0]
    variants: list[Variant] = []
    for grouping in args.grouping:
        variants.append(Variant(f"bare smtplib loop, by {grouping}", "bare", 1, n, grouping=grouping))
        variants += [
            Variant(
                f"reminders_send by {grouping}, {w} worker{'s' * (w > 1)}, {c} conn.",
                "sender",
                w,
                n,
                c,
                grouping,
            )
            for w in args.workers
            for c in (args.connections if w == 1 else [first])
        ]
    for grouping in args.grouping if args.remote else []:
        far = {"grouping": grouping, "reply_delay_ms": args.reply_delay_ms}
        variants.append(Variant(f"bare smtplib loop, by {grouping}, far", "bare", 1, args.remote, **far))
        variants += [
            Variant(
                f"reminders_send by {grouping}, 1 worker, {c} conn., far", "sender", 1, args.remote, c, **far
            )
            for c in args.remote_connections
        ]
    memory = [
        Variant(f"reminders_send, 1 worker, {p:,} pending", "sender", 1, p, first, args.grouping[0])
        for p in sorted({max(100, n // 10), n})
    ]
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-delivery-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    for round_number in range(1, args.repeat + 1):
        for variant in variants:
            run_variant(args, variant, work, round_number)
    for variant in memory:
        run_variant(args, variant, work, 1)
    print_table(args, variants, memory)
    failed = [variant for variant in (*variants, *memory) if variant.problems]
    for variant in failed:
        print(f"\nNOT exactly once: {variant.name}:", file=sys.stderr)
        for problem in variant.problems[:10]:
            print(f"  {problem}", file=sys.stderr)
    return 1 if failed else 0


def print_table(args: argparse.Namespace, variants: list[Variant], memory: list[Variant]) -> None:
    bares = {(v.grouping, v.reply_delay_ms): v for v in variants if v.kind == "bare"}
    header = (
        f"{'variant':<42} {'best s':>8} {'median s':>9} {'msg/s':>8} {'x bare':>7} {'CPU/msg':>8} "
        f"{'peak RSS':>9}  exactly once"
    )
    delay = f", which waits {args.sink_delay_ms:g} ms per message" if args.sink_delay_ms else ""
    print(
        f"\n{args.reminders:,} reminders to an aiosmtpd sink{delay}; best and median of {args.repeat} rounds"
    )
    print(header)
    print("-" * len(header))
    for variant in variants:
        bare = bares[variant.grouping, variant.reply_delay_ms]
        rate = variant.pending / variant.best
        cpu = min(r["cpu"] / max(r["sent"], 1) for r in variant.results) * 1000
        print(
            f"{variant.name:<42} {variant.best:8.2f} {variant.median:9.2f} {rate:8.0f} "
            f"{bare.best / variant.best:7.2f} {cpu:6.2f}ms "
            f"{max(r['rss_peak'] for r in variant.results) / MIB:9.1f}  {'no' if variant.problems else 'yes'}"
        )
    for variant in variants:
        bare = bares[variant.grouping, variant.reply_delay_ms]
        if variant.kind == "sender" and variant.workers == 1:
            far = ", far" if variant.reply_delay_ms else ""
            target = (
                ("≥ 3.0x" if variant.connections == FAR_CONNECTIONS else "-") if far else f"≥ {TARGET_RATIO}x"
            )
            figure = f"delivery by {variant.grouping}, 1 sender, {variant.connections} conn.{far} / bare loop"
            harness.headline(figure, f"{bare.best / variant.best:.2f}x", target)
    print_machine_budget(variants, bares)
    print("\nMemory of one sender by outbox size (peak RSS of the worker process, Django included):")
    for variant in memory:
        print(f"  {variant.pending:>9,} pending: {variant.results[0]['rss_peak'] / MIB:6.1f} MiB")
    print(
        "\nx bare: the bare loop's best time over the variant's, the bare loop of the same grouping sending "
        "the same messages (1.00 = as fast; the target for one worker is 0.80 or more).\nmsg/s counts "
        "reminders. CPU/msg: the CPU time of the sending processes (all their threads) per message sent, "
        "the least over the rounds; the bare loop's is its client's alone, its messages built beforehand.\n"
        "The bare loop's peak RSS holds every prebuilt message in memory."
    )
    if args.remote:
        print(
            f"far: {args.remote:,} reminders to a sink that waits {args.reply_delay_ms:g} ms before every "
            f"reply, as a server that far away; the target for {FAR_CONNECTIONS} connections is 3.00 or more "
            "(with one, the sender and the bare loop each send over one connection)."
        )


@dataclass(frozen=True)
class MachineBudget:
    """What one local sender's messages cost this machine's CPU, and the ratio to the bare loop that caps.

    ``sender``, ``database`` and ``server`` are CPU milliseconds per message sent: the sender's process,
    the PostgreSQL process of its connection and the SMTP server's process, all on this machine."""

    cores: int
    bare_ms: float
    sender: float
    database: float
    server: float

    @property
    def floor(self) -> float:
        """The least wall time per message any schedule of that much CPU over the cores could take."""
        return (self.sender + self.database + self.server) / self.cores

    @property
    def ceiling(self) -> float:
        """The bare loop's time per message over the floor: the best ratio the sender could reach here."""
        return self.bare_ms / self.floor

    @property
    def allowed(self) -> float:
        """What the sender and its database together could spend per message for a ceiling at the target,
        the server spending what it spends."""
        return self.cores * self.bare_ms / TARGET_RATIO - self.server

    @classmethod
    def of(cls, variant: Variant, bare: Variant, cores: int) -> MachineBudget | None:
        """From the round of ``variant`` that spent the least CPU; none when a process's CPU was not read."""
        keys = ("cpu", "database_cpu", "server_cpu")
        measured = [r for r in variant.results if all(r.get(key) is not None for key in keys)]
        if not measured:
            return None
        result = min(measured, key=lambda r: sum(r[key] for key in keys))
        sender, database, server = (result[key] / max(result["sent"], 1) * 1000 for key in keys)
        bare_ms = bare.best / max(bare.results[0]["sent"], 1) * 1000
        return cls(cores, bare_ms, sender, database, server)


def print_machine_budget(variants: list[Variant], bares: dict[tuple[str, float], Variant]) -> None:
    """For each local run of one sender: the CPU of its messages, the floor it sets on this machine and
    the ratio to the bare loop that caps (a headline each)."""
    cores = len(os.sched_getaffinity(0))
    rows = [
        (variant, budget)
        for variant in variants
        if variant.kind == "sender" and variant.workers == 1 and not variant.reply_delay_ms
        if (budget := MachineBudget.of(variant, bares[variant.grouping, 0], cores)) is not None
    ]
    if not rows:
        return
    header = (
        f"{'variant':<46} {'sender':>8} {'database':>9} {'server':>8} {'total':>8} {'floor':>8} "
        f"{'ceiling':>8}  sender+db for {TARGET_RATIO:.2f}x"
    )
    print(f"\nWhat {cores} cores allow: CPU per message sent, of the round that spent the least")
    print(header)
    print("-" * len(header))
    for variant, budget in rows:
        spent = budget.sender + budget.database
        print(
            f"{variant.name:<46} {budget.sender:6.2f}ms {budget.database:7.2f}ms {budget.server:6.2f}ms "
            f"{spent + budget.server:6.2f}ms {budget.floor:6.2f}ms {budget.ceiling:7.2f}x  "
            f"≤ {budget.allowed:.2f}ms (spent {spent:.2f})"
        )
    for variant, budget in rows:
        figure = (
            f"delivery by {variant.grouping}, 1 sender, {variant.connections} conn.: ceiling on {cores} cores"
        )
        harness.headline(figure, f"{budget.ceiling:.2f}x")
    print(
        "database: the PostgreSQL process of the sender's connection; server: the sink's process, on this "
        f"machine too.\nfloor: that CPU spread over {cores} cores, the least time per message any schedule "
        "could take; ceiling: the bare loop's time per message over that floor, the best ratio the sender "
        f"could reach here spending what it spends.\nsender+db for {TARGET_RATIO:.2f}x: what the sender "
        f"and its database together could spend per message for a ceiling of {TARGET_RATIO:.2f}x, the "
        "server spending what it spends."
    )


def counts_up_to(highest: int) -> Callable[[str], list[int]]:
    def parse(value: str) -> list[int]:
        try:
            counts = [int(part) for part in value.split(",") if part.strip()]
        except ValueError:
            counts = []
        if not counts or any(not 1 <= count <= highest for count in counts):
            raise argparse.ArgumentTypeError(f"expected numbers from 1 to {highest} separated by commas")
        return counts

    return parse


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = harness.argument_parser(__doc__)
    parser.add_argument("--reminders", type=int, default=100_000, help="pending reminders (default 100,000)")
    parser.add_argument(
        "--workers", type=counts_up_to(32), default=[1, 2, 4], help="sender processes (default 1,2,4)"
    )
    parser.add_argument(
        "--connections",
        type=counts_up_to(16),
        default=[2, 1],
        help="REMINDER_SEND_CONNECTIONS of a sender: the first for every worker count and the memory "
        "measurement, each other one for one worker too (default 2,1)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds of measurements (default 1)")
    parser.add_argument(
        "--grouping",
        type=lambda value: [part for part in value.split(",") if part in ("customer", "invoice")] or None,
        default=["customer", "invoice"],
        help="REMINDER_GROUPING values to measure, each against its own bare loop (default customer,invoice)",
    )
    parser.add_argument("--reload", action="store_true", help="load the reminders afresh even if present")
    harness.add_database_url(parser, default=DEFAULT_DATABASE_URL, env="BENCH_DELIVERY_DATABASE_URL")
    parser.add_argument(
        "--sink-delay-ms",
        type=float,
        default=0,
        help="the sink waits this long before accepting each message, as a remote server would (default 0)",
    )
    parser.add_argument(
        "--remote",
        type=int,
        default=2000,
        help="reminders sent to a far server (see --reply-delay-ms) by the bare loop and by one sender "
        "with --remote-connections connections, in each grouping; 0 leaves it out (default 2,000)",
    )
    parser.add_argument(
        "--reply-delay-ms",
        type=float,
        default=5,
        help="the far server's delay before every reply (default 5)",
    )
    parser.add_argument(
        "--remote-connections",
        type=counts_up_to(16),
        default=[FAR_CONNECTIONS, 1],
        help="REMINDER_SEND_CONNECTIONS of the senders against the far server, one sender each "
        f"(default {FAR_CONNECTIONS},1)",
    )
    parser.add_argument("--worker", choices=["bare", "sender"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--sink", nargs=2, metavar=("PORT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reminders < 100 or args.repeat < 1:
        parser.error("--reminders must be at least 100 and --repeat at least 1")
    if not 0 <= args.remote <= args.reminders:
        parser.error(f"--remote must be from 0 to --reminders ({args.reminders}), not {args.remote}")
    return args


def main() -> int:
    args = parse_args()
    if args.sink:
        asyncio.run(
            _serve_sink(
                int(args.sink[0]), Path(args.sink[1]), args.sink_delay_ms / 1000, args.reply_delay_ms / 1000
            )
        )
        return 0
    if args.worker:
        run_worker(args)
        return 0
    return run_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
