"""The webhook receiver process of the tests, and what they build around it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook

from reminders.models import WebhookEndpoint
from tests.processes import wait_until

SCRIPT = Path(__file__).with_name("webhook_receiver.py")


class ReceiverProcess:
    def __init__(self, record: Path, faults: list[str], always: str | None = None) -> None:
        record.mkdir(parents=True, exist_ok=True)
        self.record = record
        arguments = [
            sys.executable,
            str(SCRIPT),
            str(record),
            json.dumps(faults),
            *([always] if always else []),
        ]
        self.process = subprocess.Popen(arguments)
        assert wait_until(lambda: (record / "port").exists(), timeout=10, interval=0.05), (
            "receiver did not start"
        )
        self.port = int((record / "port").read_text())
        self.url = f"http://127.0.0.1:{self.port}/hooks"

    def requests(self) -> list[dict[str, Any]]:
        log = self.record / "requests.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """The requests it answered 200, each checked with ``secret`` (raises if one does not verify)."""
        webhook = Webhook(secret)
        return [
            {**request, "event": webhook.verify(request["body"], request["headers"])}
            for request in self.requests()
            if request["answer"] == "200"
        ]

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@contextmanager
def receiver(record: Path, faults: list[str], always: str | None = None) -> Iterator[ReceiverProcess]:
    process = ReceiverProcess(record, faults, always)
    try:
        yield process
    finally:
        process.stop()


def endpoint_to(url: str, *event_types: str) -> WebhookEndpoint:
    """An endpoint saved as the admin saves it (``full_clean`` first): tests turn private addresses on."""
    endpoint = WebhookEndpoint(url=url, event_types=list(event_types))
    endpoint.full_clean()
    endpoint.save()
    return endpoint
