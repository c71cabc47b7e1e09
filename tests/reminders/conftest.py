from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reminders.smtp import SmtpServer


@pytest.fixture
def smtp_server(tmp_path) -> Iterator[SmtpServer]:
    """A recording SMTP server process on a free loopback port, started without faults."""
    server = SmtpServer(tmp_path / "smtp").start()
    try:
        yield server
    finally:
        server.stop()
