"""Start, stop and read the fake Postmark API (``postmark_server.py``) from a test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.reminders.smtp import HOST, SmtpServer

TOKEN = "server-token"
WEBHOOK_SECRET = "postmark-hook:s3cret-words"


class PostmarkApi(SmtpServer):
    """The fake Postmark API in its own process, on a loopback port; restartable there."""

    script = Path(__file__).with_name("postmark_server.py")
    kind = "fake Postmark API"

    @property
    def url(self) -> str:
        """``ANYMAIL_POSTMARK_API_URL`` for this server."""
        return f"http://{HOST}:{self.port}/"

    def requests(self) -> list[dict[str, Any]]:
        """Every request the API answered so far, oldest first."""
        log = self.record / "requests.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]

    def accepted(self) -> dict[str, str]:
        """The Message-ID header of each message the API accepted, with the MessageID it gave."""
        return {
            _header(request["message"], "Message-ID"): request["MessageID"]
            for request in self.requests()
            if request["MessageID"]
        }

    def settings(self) -> dict[str, str]:
        """anymail's settings for this API (what the ANYMAIL_* variables give)."""
        return {
            "POSTMARK_SERVER_TOKEN": TOKEN,
            "POSTMARK_API_URL": self.url,
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
        }

    def environment(self) -> dict[str, str]:
        """The variables a ``manage.py`` process needs to send through this API."""
        return {
            "EMAIL_URL": "anymail://postmark",
            **{f"ANYMAIL_{name}": value for name, value in self.settings().items()},
        }


def _header(message: dict[str, Any], name: str) -> str:
    return next((header["Value"] for header in message.get("Headers", []) if header["Name"] == name), "")
