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


def load_delivery(monkeypatch):
    """benchmarks/delivery.py as a module, its ``import harness`` found beside it."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("benchmarks_delivery", BENCHMARKS / "delivery.py")
    delivery = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, delivery)
    spec.loader.exec_module(delivery)
    return delivery


def test_the_cpu_of_a_process_is_read_while_it_runs_and_none_once_it_is_gone(monkeypatch):
    delivery = load_delivery(monkeypatch)
    busy = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\ninput()",
        ],
        stdin=subprocess.PIPE,
        text=True,
    )
    try:
        spent = 0.0
        for _ in range(100):
            if (spent := delivery.process_cpu(busy.pid)) >= 0.25:
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert 0.25 <= spent < 5
    finally:
        busy.communicate("\n", timeout=10)
    assert delivery.process_cpu(busy.pid) is None
    assert delivery.cpu_used(1.0, None) is None
    assert delivery.cpu_used(1.0, 1.5) == 0.5


@pytest.mark.django_db
def test_the_database_process_of_a_connection_is_found_on_this_machine(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's process of a connection; this test database is " + connection.vendor)
    delivery = load_delivery(monkeypatch)
    pid = delivery.database_process(connection)
    if pid is None:  # the database runs elsewhere: there is no process of it here to read
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            assert not (Path("/proc") / str(cursor.fetchone()[0]) / "cmdline").exists()
        return
    before = delivery.process_cpu(pid)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM generate_series(1, 3000000)")
    assert delivery.process_cpu(pid) > before


def test_the_machine_budget_caps_the_ratio_at_the_cpu_spread_over_the_cores(monkeypatch):
    delivery = load_delivery(monkeypatch)
    bare = delivery.Variant("bare", "bare", 1, 1000)
    bare.results = [{"seconds": 1.0, "sent": 1000}, {"seconds": 1.2, "sent": 1000}]
    sender = delivery.Variant("sender", "sender", 1, 1000)
    cheaper = {"seconds": 2.0, "sent": 1000, "cpu": 1.5, "database_cpu": 1.0, "server_cpu": 0.5}
    sender.results = [{**cheaper, "cpu": 1.9, "seconds": 1.9}, cheaper]
    budget = delivery.MachineBudget.of(sender, bare, cores=2)
    # 1.5 + 1.0 + 0.5 ms a message over 2 cores: 1.5 ms at best, against the bare loop's 1 ms.
    assert (budget.sender, budget.database, budget.server) == pytest.approx((1.5, 1.0, 0.5))
    assert budget.floor == pytest.approx(1.5)
    assert budget.ceiling == pytest.approx(1 / 1.5)
    # A ceiling of 0.8 needs a floor of 1.25 ms: 2.5 ms over two cores, of which the server takes 0.5.
    assert budget.allowed == pytest.approx(2.0)
    sender.results = [{**cheaper, "database_cpu": None}]
    assert delivery.MachineBudget.of(sender, bare, cores=2) is None
