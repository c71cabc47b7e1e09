"""The run lock (docs/SPEC.md §4 step 2, §6): at most one real run at a time, and a way to tell a dead run.

On PostgreSQL both are session advisory locks, so they hold across machines and vanish with the
connection of a process that dies. On SQLite a single machine is assumed: an exclusive ``flock`` beside
the database file, and a run is dead when its pid no longer exists on this host.
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
from pathlib import Path
from typing import IO, Protocol

from django.db import connection

# Liveness locks use the run's log id (positive) as key; the run lock's key is negative, so never equal.
RUN_LOCK_KEY = -0x6F76_6572_6475_65


class RunLock(Protocol):
    def hold_liveness(self, log_id: int) -> None: ...
    def acquire(self) -> bool: ...
    def release(self) -> None: ...
    def is_alive(self, *, log_id: int, host: str, pid: int) -> bool: ...


class PostgresRunLock:
    def _scalar(self, sql: str, key: int) -> object:
        with connection.cursor() as cursor:
            cursor.execute(sql, [key])
            return cursor.fetchone()[0]

    def hold_liveness(self, log_id: int) -> None:
        self._scalar("SELECT pg_advisory_lock(%s)", log_id)

    def acquire(self) -> bool:
        return bool(self._scalar("SELECT pg_try_advisory_lock(%s)", RUN_LOCK_KEY))

    def release(self) -> None:
        """Release the run lock and this run's liveness lock."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_all()")

    def is_alive(self, *, log_id: int, host: str, pid: int) -> bool:
        # The run's own session holds the lock on its id for as long as its process lives.
        if self._scalar("SELECT pg_try_advisory_lock(%s)", log_id):
            self._scalar("SELECT pg_advisory_unlock(%s)", log_id)
            return False
        return True


class FileRunLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[str] | None = None

    def hold_liveness(self, log_id: int) -> None:
        """Nothing to hold: on one machine the pid tells whether a run is alive."""

    def acquire(self) -> bool:
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self.handle = handle
        return True

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None

    def is_alive(self, *, log_id: int, host: str, pid: int) -> bool:
        if host != socket.gethostname():
            return True  # Another machine's run: SQLite assumes one machine, so never judge it dead.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def run_lock_for_database() -> RunLock:
    if connection.vendor == "postgresql":
        return PostgresRunLock()
    if connection.is_in_memory_db():  # type: ignore[attr-defined]  # SQLite's wrapper only
        # An in-memory database lives in one process, so its lock does too.
        return FileRunLock(Path(tempfile.gettempdir()) / f"overdue-check-memory-{os.getpid()}.lock")
    database = Path(str(connection.settings_dict["NAME"]))
    return FileRunLock(database.with_name(database.name + ".overdue-check.lock"))
