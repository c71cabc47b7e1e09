"""The benchmarks share benchmarks/harness.py, parse their arguments with it, and ``make bench-all``
(benchmarks/bench_all.py) runs each of them and tabulates the headline figures they report."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
SHARED = {"harness.py", "bench_all.py"}
SCRIPTS = sorted(path.name for path in BENCHMARKS.glob("*.py") if path.name not in SHARED)


def run_script(*arguments: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *arguments], cwd=BENCHMARKS, capture_output=True, text=True, timeout=timeout
    )


def load_harness():
    """benchmarks/harness.py as the scripts import it (their folder is no package)."""
    spec = importlib.util.spec_from_file_location("benchmarks_harness", BENCHMARKS / "harness.py")
    harness = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = harness  # its dataclasses look their module up there
    spec.loader.exec_module(harness)
    return harness


def test_a_headline_reads_back_as_printed(capsys):
    harness = load_harness()
    harness.headline("desk, 1,000,000 reminders, dashboard", "430 ms", "< 500 ms")
    line = capsys.readouterr().out
    assert harness.read_headline(line) == {
        "figure": "desk, 1,000,000 reminders, dashboard",
        "value": "430 ms",
        "target": "< 500 ms",
    }
    assert harness.read_headline("desk, dashboard 430 ms\n") is None


def test_the_benchmarks_are_found():
    assert {"overdue_check.py", "delivery.py", "api_load.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_benchmark_uses_the_harness(script):
    assert "import harness" in (BENCHMARKS / script).read_text()


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_benchmark_parses_its_arguments_with_the_harness(script):
    done = run_script(script, "--help")
    assert done.returncode == 0, done.stderr
    assert "--database-url" in done.stdout
    assert "PostgreSQL database of the benchmark (default" in " ".join(done.stdout.split())


def test_bench_all_runs_every_benchmark():
    done = run_script("bench_all.py", "--list")
    assert done.returncode == 0, done.stderr
    listed = {line.split(": ")[1].split()[0] for line in done.stdout.splitlines()}
    assert listed == set(SCRIPTS)


def test_bench_all_gives_each_benchmark_a_database_under_the_prefix():
    done = run_script("bench_all.py", "--list", "--only", "aging", "--database-prefix", "postgres:///x")
    assert (
        done.stdout.strip()
        == "aging: aging.py --invoices 1000000 --repeat 5 --database-url postgres:///x_aging"
    )
    quick = run_script(
        "bench_all.py", "--size", "quick", "--list", "--only", "aging", "--database-prefix", "y"
    )
    assert quick.stdout.strip() == "aging: aging.py --invoices 20000 --repeat 3 --database-url y_aging"


def test_a_size_below_the_lowest_is_refused_naming_it():
    done = run_script("aging.py", "--invoices", "5")
    assert done.returncode == 2
    assert "--invoices must be at least 100, not 5" in done.stderr


def test_a_benchmark_refuses_a_database_other_than_postgresql():
    done = run_script("aging.py", "--database-url", "sqlite:////tmp/never-made.sqlite3")
    assert done.returncode == 1
    assert "needs PostgreSQL; got 'sqlite:////tmp/never-made.sqlite3'" in done.stderr


@pytest.fixture
def bench_database_prefix():
    """A prefix for the benchmarks' own databases beside the test database, dropped afterwards."""
    if connection.vendor != "postgresql":
        pytest.skip("the benchmarks need PostgreSQL; this test database is " + connection.vendor)
    settings = connection.settings_dict
    params = {
        "host": settings["HOST"] or "127.0.0.1",
        "port": settings["PORT"] or 5432,
        "user": settings["USER"] or "postgres",
    }
    name = f"{settings['NAME']}_bench"
    yield f"postgres://{params['user']}@{params['host']}:{params['port']}/{name}"
    with psycopg.connect(dbname="postgres", autocommit=True, password=settings["PASSWORD"], **params) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}_aging" WITH (FORCE)')


def test_bench_all_runs_a_benchmark_and_tabulates_its_headline(bench_database_prefix):
    done = run_script(
        "bench_all.py",
        "--size",
        "quick",
        "--only",
        "aging",
        "--database-prefix",
        bench_database_prefix,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Totals equal a plain GROUP BY currency" in done.stdout
    table = done.stdout[done.stdout.index("Every benchmark, quick size") :]
    row = next(line for line in table.splitlines() if line.startswith("aging "))
    assert "aging, 20,000 invoices, median" in row
    assert row.split()[-1] == "0"  # its exit code
