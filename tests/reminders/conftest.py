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


@pytest.fixture
def smtp_settings(settings, smtp_server: SmtpServer) -> SmtpServer:
    """Django's email pointed at ``smtp_server`` through our SMTP backend, with a short timeout."""
    settings.EMAIL_BACKEND = "reminders.mail.SMTPEmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "Billing <billing@shop.example>"
    settings.REMINDER_BCC = []
    return smtp_server
