"""The API under load, served as the Dockerfile serves it, on PostgreSQL (issue 24, SPEC §9).

    .venv/bin/python benchmarks/api_load.py [--clients 50] [--seconds 60] [--tokens 50]
        [--runs 100000] [--invoices 100000] [--database-url URL] [--server "gunicorn … (default: CMD)"]

Loads the runs of benchmarks/monitoring.py and the invoices of benchmarks/aging.py into its own database
(reused while the counts match), issues one token to each of ``--tokens`` staff users, starts the web
server with the Dockerfile's CMD (its bind address swapped for a local port, the throttle's rate raised
so that it never refuses: its cache reads and writes stay in every request), and lets ``--clients``
threads, each on its own keep-alive connection with its own token, request for ``--seconds`` a mix of
the scheduler status, the run list, one run, the aging and one invoice. Prints requests per second,
the median and 99th percentile latency, errors, the same per endpoint, and the load average before and
after. Results are in docs/benchmarks.md ("The API under load").
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as a script, its own folder is on sys.path: the data are the monitoring's and the aging's benchmarks'.
import aging
import harness
import monitoring
from harness import ROOT

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/overdue_bench_api"
PORT = 8765
# What a monitoring client and a finance tool ask most: the run list and the status, then the rest.
MIX = {"status": 25, "executions": 25, "execution": 20, "aging": 10, "invoice": 20}


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    first_error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float, error: str = "") -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if error:
                self.errors[kind] += 1
                self.first_error = self.first_error or f"{kind}: {error}"


def parse_args() -> argparse.Namespace:
    parser = harness.argument_parser(__doc__)
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--seconds", type=float, default=60, help="how long they request (default 60)")
    parser.add_argument("--tokens", type=int, default=50, help="API tokens they share (default 50)")
    parser.add_argument("--runs", type=int, default=100_000, help="run logs (default 100,000)")
    parser.add_argument("--invoices", type=int, default=100_000, help="invoices (default 100,000)")
    harness.add_database_url(parser, default=DEFAULT_DATABASE_URL, env="BENCH_API_DATABASE_URL")
    parser.add_argument("--server", help="the server command instead of the Dockerfile's CMD")
    args = parser.parse_args()
    harness.at_least(parser, args, clients=1, seconds=1, tokens=1, runs=5000, invoices=100)
    return args


def dockerfile_command() -> list[str]:
    """The Dockerfile's CMD (its exec form), as the image runs it."""
    found = re.search(r"^CMD\s+(\[.*\])\s*$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    if found is None:
        raise SystemExit("No CMD [...] line in the Dockerfile: pass --server.")
    return json.loads(found.group(1))


def local_command(command: list[str]) -> list[str]:
    """``command`` with its program from this virtualenv and its bind address on a local port."""
    program = Path(sys.executable).parent / command[0]
    local = [str(program) if program.exists() else command[0], *command[1:]]
    return [re.sub(r"^0\.0\.0\.0:\d+$", f"127.0.0.1:{PORT}", part) for part in local]


def issue_tokens(count: int) -> list[str]:
    from django.contrib.auth import get_user_model

    from api.models import ApiToken
    from api.tokens import api_token_create

    ApiToken.objects.filter(user__username__startswith="bench-api-").delete()
    keys = []
    for n in range(count):
        get_user_model().objects.get_or_create(
            username=f"bench-api-{n}", defaults={"is_staff": True, "is_superuser": True}
        )
        keys.append(api_token_create(username=f"bench-api-{n}", name="load benchmark").key)
    return keys


def paths(runs: int, invoices: int, rng: random.Random) -> dict[str, Any]:
    from scheduler.models import JobExecutionLog

    first_run = JobExecutionLog.objects.order_by("id").values_list("id", flat=True).first() or 1
    return {
        "status": lambda: "/api/v1/scheduler/status",
        "executions": lambda: f"/api/v1/scheduler/executions?page={rng.randint(1, 50)}",
        "execution": lambda: f"/api/v1/scheduler/executions/{first_run + rng.randrange(runs)}",
        "aging": lambda: f"/api/v1/receivables/aging?as_of={aging.AS_OF.isoformat()}",
        "invoice": lambda: f"/api/v1/invoices/INV-{1 + rng.randrange(invoices):09d}",
    }


def client(key: str, seed: int, args: argparse.Namespace, deadline: float, tally: Tally) -> None:
    rng = random.Random(seed)
    requests = paths(args.runs, args.invoices, rng)
    kinds, weights = list(MIX), list(MIX.values())
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    headers = {"Authorization": f"Bearer {key}"}
    while time.perf_counter() < deadline:
        kind = rng.choices(kinds, weights)[0]
        started = time.perf_counter()
        try:
            connection.request("GET", requests[kind](), headers=headers)
            response = connection.getresponse()
            body = response.read()
            error = "" if response.status == 200 else f"{response.status} {body[:200]!r}"
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
            connection.close()
        tally.add(kind, time.perf_counter() - started, error)


def wait_until_serving(server: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if server.poll() is not None:
            raise SystemExit(f"The server exited with {server.returncode} before serving.")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
            connection.request("GET", "/api/v1/scheduler/health")
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("The server did not answer within 30 s.")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(tally: Tally, seconds: float, load_before: tuple[float, ...]) -> None:
    every = [value for values in tally.latencies.values() for value in values]
    errors = sum(tally.errors.values())
    print(f"{'endpoint':<12} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for kind in MIX:
        values = tally.latencies.get(kind, [])
        if values:
            print(
                f"{kind:<12} {len(values):>9,} {statistics.median(values) * 1000:>8.0f} "
                f"{percentile(values, 0.99) * 1000:>8.0f} {tally.errors.get(kind, 0):>7}"
            )
    if not every:
        raise SystemExit("No request was answered.")
    print(
        f"{'all':<12} {len(every):>9,} {statistics.median(every) * 1000:>8.0f} "
        f"{percentile(every, 0.99) * 1000:>8.0f} {errors:>7}"
    )
    print(f"{len(every) / seconds:.1f} requests/s over {seconds:.0f} s")
    harness.headline("API under load, requests/s", f"{len(every) / seconds:.1f}", "≥ 150")
    harness.headline("API under load, p99", f"{percentile(every, 0.99) * 1000:.0f} ms", "< 1000 ms")
    before, after = load_before, os.getloadavg()
    print(f"load average before {before[0]:.2f} {before[1]:.2f}, after {after[0]:.2f} {after[1]:.2f}")
    if tally.first_error:
        print(f"first error: {tally.first_error}")


def main() -> None:
    args = parse_args()
    url = harness.database_url(args)
    throttle = "1000000/minute"
    os.environ["API_THROTTLE_RATE"] = throttle
    harness.bench_database(url, cache_table=True)
    monitoring.load_runs(args.runs)
    aging.load(args.invoices)
    keys = issue_tokens(args.tokens)
    # As autovacuum keeps them in service (this database server may run without it): the run list's
    # count reads the primary key alone, and the cache table is not bloated by earlier runs' throttle
    # writes, one per request.
    harness.execute("VACUUM ANALYZE")
    command = local_command(shlex.split(args.server) if args.server else dockerfile_command())
    print("server:", shlex.join(command))
    environment = {**os.environ, "DATABASE_URL": url, "API_THROTTLE_RATE": throttle}
    server = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL)
    try:
        wait_until_serving(server)
        tally, load_before = Tally(), os.getloadavg()
        deadline = time.perf_counter() + args.seconds
        threads = [
            threading.Thread(target=client, args=(keys[n % len(keys)], n, args, deadline, tally))
            for n in range(args.clients)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        report(tally, time.perf_counter() - started, load_before)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
