"""A receiver on this machine for trying webhooks out: it checks each request's signature as a real
receiver must (the ``standardwebhooks`` package), prints the event, and stops after ``--count``."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from common.commands import positive_int
from common.exit_codes import FAILED_EXIT_CODE

MAX_BODY = 1_000_000


class Receiver(HTTPServer):
    def __init__(self, port: int, webhook: Webhook, command: Command) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.webhook, self.command, self.verified = webhook, command, 0
        self.timed_out = False

    def handle_timeout(self) -> None:
        self.timed_out = True


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        body = self.rfile.read(length)
        try:
            event = self.server.webhook.verify(body, dict(self.headers.items()))
        except WebhookVerificationError as exc:
            self.server.command.stdout.write(f"Refused a request: {exc}.")
            self.send_response(401)
            self.end_headers()
            return
        self.server.verified += 1
        self.send_response(204)
        self.end_headers()
        self.server.command.report(self.headers["webhook-id"], event)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the command prints what it verified."""


class Command(BaseCommand):
    help = (
        "Receive webhooks on 127.0.0.1, verify each signature with --secret and print the event; for "
        "trying webhooks out on this machine (see docs/webhooks.md)."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--secret", required=True, help="the endpoint's signing secret, whsec_…")
        parser.add_argument("--port", type=positive_int, default=8765, help="the port on 127.0.0.1")
        parser.add_argument("--count", type=positive_int, default=1, help="stop after N verified events")
        parser.add_argument("--timeout", type=positive_int, default=300, help="give up after N seconds")

    def handle(self, *args: Any, secret: str, port: int, count: int, timeout: int, **options: Any) -> None:
        try:
            webhook = Webhook(secret)
        except Exception as exc:
            raise CommandError(f"--secret is invalid: expected whsec_ and base64 ({exc}).") from exc
        server = Receiver(port, webhook, self)
        server.timeout = timeout
        self.stdout.write(f"Listening on http://127.0.0.1:{port}/ for {count} event(s).")
        self.stdout.flush()
        with server:
            while server.verified < count:
                server.handle_request()
                if server.timed_out:
                    raise CommandError(
                        f"No verified event within {timeout} s ({server.verified} of {count}).",
                        returncode=FAILED_EXIT_CODE,
                    )

    def report(self, event_id: str, event: dict[str, Any]) -> None:
        data = json.dumps(event.get("data"), sort_keys=True)
        self.stdout.write(f"Verified {event.get('type')} {event_id}: {data}")
        self.stdout.flush()
