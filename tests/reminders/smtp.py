"""Start, stop and read the recording SMTP server (``smtp_server.py``) from a test."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

SERVER_SCRIPT = Path(__file__).with_name("smtp_server.py")
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class SmtpServer:
    """One recording SMTP server on a fixed loopback port, restartable there with other faults."""

    script = SERVER_SCRIPT
    kind = "SMTP server"

    def __init__(self, record: Path, port: int | None = None) -> None:
        self.record = record
        self.port = port or free_port()
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        """The ``EMAIL_URL`` of this server, for a ``manage.py`` process."""
        return f"smtp://{HOST}:{self.port}"

    def start(self, faults: dict[str, Any] | None = None, *, timeout: float = 10) -> SmtpServer:
        self.stop()
        command = [sys.executable, str(self.script), "--port", str(self.port), "--record", str(self.record)]
        self.process = subprocess.Popen(
            [*command, "--faults", json.dumps(faults or {})],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._wait_listening(timeout)
        return self

    def _wait_listening(self, timeout: float) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.1)
            if ready and "listening on" in self.process.stdout.readline():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"The {self.kind} exited ({self.process.returncode}) before listening.")
        raise RuntimeError(f"The {self.kind} did not listen on port {self.port} within {timeout} s.")

    def stop(self) -> None:
        """Stop the server; until ``start`` is called again, connections to its port are refused."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def messages(self) -> list[dict[str, Any]]:
        """Every message the server accepted so far, oldest first."""
        log = self.record / "messages.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]

    def message_ids(self) -> Counter[str]:
        return Counter(message["message_id"] for message in self.messages())
