"""Every benchmark in this folder, one after the other, then one table of their headline figures
(``make bench-all``). How to run it: docs/benchmarks.md ("Every benchmark in one run").

    .venv/bin/python benchmarks/bench_all.py [--size quick|full] [--only NAME ...] [--list]
        [--database-prefix postgres://USER@HOST:PORT/PREFIX]

``standard`` (the default) runs each at the size its SPEC §9 target is stated for where that fits
(1,000,000 invoices for the check, the aging and the desk; the API under load for 60 s), the others
smaller, in about 15 minutes once the data sets are loaded (each benchmark keeps its data set for the
next run); ``quick`` at a small size, to see in a few minutes that all of them work; ``full`` at the
sizes their own ``make`` targets use. Each benchmark keeps its own
database (its default, or its environment variable; with ``--database-prefix P``, ``P_<name>``) and
prints its own report as it goes.
Exits non-zero when any benchmark failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import harness

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Benchmark:
    name: str
    script: str
    database: str
    quick: tuple[str, ...]
    standard: tuple[str, ...]
    full: tuple[str, ...] = ()


BENCHMARKS = (
    Benchmark(
        "check",
        "overdue_check.py",
        "check",
        ("--invoices", "20000", "--repeat", "1"),
        ("--invoices", "1000000", "--batch-sizes", "100,5000", "--repeat", "1"),
    ),
    Benchmark(
        "reminders admin",
        "reminders_admin.py",
        "reminders",
        ("--reminders", "20000", "--repeat", "3"),
        ("--reminders", "200000", "--repeat", "3"),
    ),
    Benchmark(
        "desk",
        "desk.py",
        "desk",
        ("--reminders", "30000", "--repeat", "3"),
        ("--reminders", "1000000", "--repeat", "3"),
    ),
    Benchmark(
        "monitoring",
        "monitoring.py",
        "monitoring",
        ("--runs", "50000", "--repeat", "3"),
        ("--runs", "100000", "--repeat", "3"),
    ),
    Benchmark(
        "aging",
        "aging.py",
        "aging",
        ("--invoices", "20000", "--repeat", "3"),
        ("--invoices", "1000000", "--repeat", "5"),
    ),
    Benchmark(
        "delivery",
        "delivery.py",
        "delivery",
        ("--reminders", "1000", "--workers", "1,2", "--remote", "200"),
        ("--reminders", "20000", "--workers", "1", "--connections", "2,1", "--remote", "2000"),
    ),
    Benchmark(
        "import",
        "import_invoices.py",
        "import",
        ("--rows", "10000", "--repeat", "1"),
        ("--rows", "100000", "--repeat", "1"),
    ),
    Benchmark(
        "bulk API",
        "bulk_api.py",
        "bulk_api",
        ("--invoices", "10000", "--rounds", "2"),
        ("--invoices", "100000", "--rounds", "3"),
    ),
    Benchmark(
        "API under load",
        "api_load.py",
        "api_load",
        ("--clients", "10", "--seconds", "10", "--tokens", "10", "--runs", "5000", "--invoices", "20000"),
        ("--seconds", "60"),
        ("--seconds", "60"),
    ),
)
NAMES = [benchmark.name for benchmark in BENCHMARKS]


@dataclass
class Outcome:
    benchmark: Benchmark
    seconds: float = 0.0
    exit_code: int = 0
    headlines: list[dict[str, str]] = field(default_factory=list)


def arguments(benchmark: Benchmark, size: str, database_prefix: str | None) -> list[str]:
    chosen = list({"quick": benchmark.quick, "standard": benchmark.standard, "full": benchmark.full}[size])
    if database_prefix:
        chosen += ["--database-url", f"{database_prefix}_{benchmark.database}"]
    return chosen


def run(benchmark: Benchmark, arguments: list[str]) -> Outcome:
    """Run one benchmark, passing its output through, and keep the headlines it printed."""
    command = [sys.executable, str(HERE / benchmark.script), *arguments]
    print(f"\n=== {benchmark.name}: {' '.join(command[1:])}", flush=True)
    outcome = Outcome(benchmark)
    started = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            if found := harness.read_headline(line):
                outcome.headlines.append(found)
    outcome.exit_code = process.returncode
    outcome.seconds = time.perf_counter() - started
    return outcome


def summary(outcomes: Sequence[Outcome], size: str) -> None:
    width = max((len(h["figure"]) for o in outcomes for h in o.headlines), default=20)
    header = f"{'benchmark':<16} {'figure':<{width}} {'value':>10} {'target':>10} {'took':>7}  exit"
    print(f"\nEvery benchmark, {size} size; load average now {harness.load_average()}")
    print(header)
    print("-" * len(header))
    for outcome in outcomes:
        rows = outcome.headlines or [{"figure": "(no figure reported)", "value": "-", "target": "-"}]
        for number, row in enumerate(rows):
            took = f"{outcome.seconds:6.0f}s" if number == 0 else ""
            code = str(outcome.exit_code) if number == 0 else ""
            print(
                f"{outcome.benchmark.name if number == 0 else '':<16} {row['figure']:<{width}} "
                f"{row['value']:>10} {row['target']:>10} {took:>7}  {code}"
            )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = harness.argument_parser(__doc__)
    parser.add_argument(
        "--size", choices=["quick", "standard", "full"], default="standard", help="(default standard)"
    )
    parser.add_argument(
        "--only", action="append", choices=NAMES, metavar="NAME", help=f"one of: {', '.join(NAMES)}"
    )
    parser.add_argument(
        "--database-prefix",
        metavar="URL",
        help="each benchmark's database is URL_<name> (default: each its own default)",
    )
    parser.add_argument("--list", action="store_true", help="name each benchmark and its arguments")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = [benchmark for benchmark in BENCHMARKS if not args.only or benchmark.name in args.only]
    runs = [(benchmark, arguments(benchmark, args.size, args.database_prefix)) for benchmark in chosen]
    if args.list:
        for benchmark, given in runs:
            print(f"{benchmark.name}: {benchmark.script} {' '.join(given)}")
        return 0
    outcomes = [run(benchmark, given) for benchmark, given in runs]
    summary(outcomes, args.size)
    return 1 if any(outcome.exit_code for outcome in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
