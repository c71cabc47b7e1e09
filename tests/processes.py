"""Run real ``manage.py`` processes against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: races real processes on its row and advisory locks "
    "(processes sharing SQLite: tests/reliability/test_sqlite_processes.py)",
)


def test_database_url() -> str:
    """A DATABASE_URL naming the database the tests run against (pytest-django's test database). A test
    that hands it to another process is skipped, saying why, when that process could not open it."""
    settings = connection.settings_dict
    if connection.vendor != "postgresql":
        if connection.is_in_memory_db():  # type: ignore[attr-defined]  # SQLite's wrapper only
            pytest.skip(
                f"needs a database another process can open; the test database {settings['NAME']!r} "
                "is in this process's memory (tests/conftest.py makes it a file unless TEST NAME is set)"
            )
        return f"sqlite:///{settings['NAME']}"
    user = settings["USER"] or "postgres"
    host = settings["HOST"] or "127.0.0.1"
    port = settings["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


def process_env(**overrides: str | None) -> dict[str, str]:
    """The test run's environment for a process; an override None leaves that variable unset."""
    # No mail leaves a test's process unless the test points it at its own server.
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "PYTHONUNBUFFERED": "1",
        "EMAIL_URL": "dummymail://",
    }
    env.setdefault("DJANGO_SECRET_KEY", "test-only-key")
    env.update({name: value for name, value in overrides.items() if value is not None})
    return {name: value for name, value in env.items() if overrides.get(name, "") is not None}


def manage_command(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "manage.py"), *args]


def run_manage(*args: str, timeout: float = 120, **env: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        manage_command(*args),
        cwd=ROOT,
        env=process_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_manage(*args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        manage_command(*args),
        cwd=ROOT,
        env=process_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@contextmanager
def running_manage(*args: str, output: IO[str], **env: str) -> Iterator[subprocess.Popen[str]]:
    """``manage.py <args>`` running in its own process group and writing to ``output`` (a file: a pipe
    nobody reads would block a long-lived process). The group is killed on exit if the test did not
    stop the process itself, so a failing test leaves nothing running."""
    process = subprocess.Popen(
        manage_command(*args),
        cwd=ROOT,
        env=process_env(**env),
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until(condition: Callable[[], bool], *, timeout: float, interval: float = 0.5) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds have passed; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
