"""What the benchmarks in this folder share: their database, Django, SQL, worker processes, timings,
page measurements, arguments and the headline each reports to ``bench_all.py``. How to run them:
docs/benchmarks.md.

A benchmark runs as a script, so its own folder is on ``sys.path`` and it imports this module as
``harness``. Django is set up only by ``bench_database``/``setup_django``: import Django's and the
project's modules inside functions.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULT_MARK = "BENCH_RESULT "
HEADLINE_MARK = "headline | "
HEADLINE_FIELDS = ("figure", "value", "target")
MIB = 1024 * 1024
SqlParams = Sequence[Any] | dict[str, Any] | None


# --- Arguments ------------------------------------------------------------------------------------------


def argument_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser showing the benchmark's docstring as its help."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_database_url(parser: argparse.ArgumentParser, *, default: str, env: str | None = None) -> None:
    """``--database-url``: the benchmark's own PostgreSQL database, else ``$env``, else ``default``."""
    fallback = f"${env} or {default}" if env else default
    parser.add_argument("--database-url", help=f"PostgreSQL database of the benchmark (default {fallback})")
    parser.set_defaults(database_url_env=env, database_url_default=default)


def database_url(args: argparse.Namespace) -> str:
    """The URL ``add_database_url`` describes."""
    env = args.database_url_env
    return args.database_url or (env and os.environ.get(env)) or args.database_url_default


def add_repeat(parser: argparse.ArgumentParser, *, default: int, what: str = "runs of each page") -> None:
    parser.add_argument("--repeat", type=int, default=default, help=f"{what} (default {default})")


def at_least(parser: argparse.ArgumentParser, args: argparse.Namespace, **lowest: int) -> None:
    """Refuse an argument below its lowest value, naming it, its value and what is allowed."""
    for name, low in lowest.items():
        value = getattr(args, name)
        if value < low:
            parser.error(f"--{name.replace('_', '-')} must be at least {low:,}, not {value:,}")


# --- The database and Django ----------------------------------------------------------------------------


def refuse_unless_postgres(url: str) -> dict[str, Any]:
    import environ

    settings = environ.Env.db_url_config(url)
    if settings["ENGINE"] != "django.db.backends.postgresql":
        sys.exit(
            f"The benchmark needs PostgreSQL; got {url!r}. Pass --database-url "
            "postgres://USER@HOST:PORT/NAME (a database of its own: the benchmark empties its tables)."
        )
    return settings


def create_database_if_missing(settings: dict[str, Any]) -> None:
    import psycopg
    from psycopg import sql

    params = {key.lower(): settings[key] for key in ("HOST", "PORT", "USER", "PASSWORD") if settings.get(key)}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [settings["NAME"]]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(settings["NAME"])))
            print(f"Created database {settings['NAME']}.")


def django_environment(url: str) -> dict[str, str]:
    """The environment a benchmark's Django runs in, here and in its worker processes."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": url,
        # Debug mode would keep every query in memory and slow each one: measure what production runs.
        "DJANGO_DEBUG": "off",
    }
    env.setdefault("DJANGO_SECRET_KEY", "benchmark-only-insecure-key")
    env.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    return env


def setup_django(url: str) -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.update(django_environment(url))
    import django

    django.setup()


def bench_database(url: str, *, cache_table: bool = False) -> None:
    """Create the benchmark's database if missing, set up Django on it and migrate it (with the cache
    table that the admin's and the API's throttle need, if asked)."""
    create_database_if_missing(refuse_unless_postgres(url))
    setup_django(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if cache_table:
        call_command("createcachetable")


def execute(sql: str, params: SqlParams = None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def fetch_one(sql: str, params: SqlParams = None) -> tuple[Any, ...] | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if cursor.description else None


def scalar(sql: str, params: SqlParams = None) -> Any:
    row = fetch_one(sql, params)
    return None if row is None else row[0]


# --- Measurements ---------------------------------------------------------------------------------------


@dataclass
class Variant:
    """One thing a benchmark times, over rounds: each result a dict with its ``seconds``."""

    name: str
    results: list[dict[str, Any]] = field(default_factory=list, kw_only=True)
    problems: list[str] = field(default_factory=list, kw_only=True)

    @property
    def best(self) -> float:
        return min(result["seconds"] for result in self.results)

    @property
    def median(self) -> float:
        return statistics.median(result["seconds"] for result in self.results)

    def worst(self, key: str) -> Any:
        return max(result[key] for result in self.results)


def timings(work: Callable[[], Any], repeat: int) -> list[float]:
    """Seconds of each of ``repeat`` calls of ``work``."""
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return seconds


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def worker_result(script: str, arguments: Sequence[str], what: str) -> dict[str, Any]:
    """Run ``script`` with ``arguments`` in a fresh Python process (its peak RSS its own) and return the
    result it printed after ``RESULT_MARK``; a failed worker ends the benchmark with its output."""
    command = [sys.executable, script, *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode or not lines:
        sys.exit(f"The {what} worker failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return json.loads(lines[-1][len(RESULT_MARK) :])


def print_result(result: dict[str, Any]) -> None:
    """What a worker process hands back to ``worker_result``."""
    print(RESULT_MARK + json.dumps(result), flush=True)


# --- Pages through Django's test client -----------------------------------------------------------------


def superuser_client(username: str = "bench") -> Any:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(
        username=username, defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    return client


def measure_page(
    client: Any, url: str, params: dict[str, Any], repeat: int, answers: tuple[int, ...] = (200,)
) -> tuple[float, int]:
    """The median milliseconds of ``repeat`` requests after a first one, and the queries of that first."""
    from django.db import connection

    queries: list[str] = []

    def count(execute: Any, sql: str, *args: Any) -> Any:
        queries.append(sql)
        return execute(sql, *args)

    with connection.execute_wrapper(count):
        response = client.get(url, params)
    if response.status_code not in answers:
        raise SystemExit(f"{url} {params} answered {response.status_code}: {response.content[:300]!r}")
    seconds = timings(lambda: client.get(url, params), repeat)
    return statistics.median(seconds) * 1000, len(queries)


def page_table(rows: Sequence[tuple[str, float, int]], width: int) -> float:
    """Print each page's median and queries; return the slowest median."""
    print(f"{'page':<{width}} {'median ms':>10} {'queries':>8}")
    for name, milliseconds, queries in rows:
        print(f"{name:<{width}} {milliseconds:>10.1f} {queries:>8}")
    return max(milliseconds for _, milliseconds, _ in rows)


# --- The headline for bench_all.py -----------------------------------------------------------------------


def headline(figure: str, value: str, target: str = "-") -> None:
    """A figure ``bench_all.py`` puts in its summary table, a line of the benchmark's own output:
    ``headline | figure | value | target``."""
    print(HEADLINE_MARK + " | ".join((figure, value, target)), flush=True)


def read_headline(line: str) -> dict[str, str] | None:
    """The fields of a ``headline`` line (``None`` for any other line)."""
    if not line.startswith(HEADLINE_MARK):
        return None
    return dict(zip(HEADLINE_FIELDS, line[len(HEADLINE_MARK) :].rstrip("\n").split(" | "), strict=True))
