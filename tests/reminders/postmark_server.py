"""A fake of Postmark's email API for the provider tests, run as its own process (http.server on loopback).

It answers ``POST /email`` and ``POST /email/batch`` as Postmark documents them: 200 with ``To``,
``SubmittedAt``, ``MessageID``, ``ErrorCode`` 0 and ``Message`` "OK" for each message accepted; for a
recipient whose mailbox starts with ``inactive`` the "inactive recipient" error (HTTP 422, ``ErrorCode``
406; in a batch, that element of the answer); for one starting with ``unavailable`` HTTP 500; a request
without the server token ``--token`` gets HTTP 401 with ``ErrorCode`` 10. Every request is appended to
``<record>/requests.jsonl`` (path, token, the message, the MessageID given) *before* it is answered.

``--faults`` (JSON): ``status`` answers every request with that HTTP status (the whole API down).
Run: ``python tests/reminders/postmark_server.py --port P --record DIR --token T [--faults JSON]``; it prints
``listening on 127.0.0.1:PORT`` once it accepts connections, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import uuid
from datetime import UTC, datetime
from email.utils import parseaddr
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
INACTIVE = (
    "You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: {}. "
    "Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual "
    "suppression."
)


class PostmarkHandler(BaseHTTPRequestHandler):
    server: PostmarkServer
    protocol_version = "HTTP/1.1"  # keep-alive, as Postmark's API

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
        token = self.headers.get("X-Postmark-Server-Token", "")
        if (status := self.server.faults.get("status")) is not None:
            self._record(body, token, None)
            return self._answer(status, {"ErrorCode": 0, "Message": "Service unavailable"})
        if token != self.server.token:
            self._record(body, token, None)
            return self._answer(
                401, {"ErrorCode": 10, "Message": "The Server Token you provided was invalid."}
            )
        if self.path == "/email":
            status, answer = self._one(body, token)
            return self._answer(status, answer)
        if self.path == "/email/batch":
            return self._answer(200, [self._one(message, token)[1] for message in body])
        return self._answer(404, {"ErrorCode": 404, "Message": f"No endpoint {self.path}"})

    def _one(self, message: dict[str, Any], token: str) -> tuple[int, dict[str, Any]]:
        mailbox = parseaddr(message.get("To", ""))[1].lower()
        if mailbox.startswith("unavailable"):
            self._record(message, token, None)
            return 500, {"ErrorCode": 0, "Message": "Internal server error"}
        if mailbox.startswith("inactive"):
            self._record(message, token, None)
            return 422, {"ErrorCode": 406, "Message": INACTIVE.format(mailbox)}
        message_id = str(uuid.uuid4())
        self._record(message, token, message_id)
        return 200, {
            "To": message.get("To", ""),
            "SubmittedAt": datetime.now(UTC).isoformat(),
            "MessageID": message_id,
            "ErrorCode": 0,
            "Message": "OK",
        }

    def _record(self, message: Any, token: str, message_id: str | None) -> None:
        line = json.dumps({"path": self.path, "token": token, "message": message, "MessageID": message_id})
        with self.server.lock:
            self.server.log.write(line + "\n")
            self.server.log.flush()

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class PostmarkServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, record: Path, token: str, faults: dict[str, Any]) -> None:
        super().__init__((HOST, port), PostmarkHandler)
        record.mkdir(parents=True, exist_ok=True)
        self.log = (record / "requests.jsonl").open("a", encoding="utf-8")
        self.lock = threading.Lock()
        self.token = token
        self.faults = faults


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--token", default="server-token")
    parser.add_argument("--faults", default="{}")
    options = parser.parse_args()
    server = PostmarkServer(options.port, options.record, options.token, json.loads(options.faults))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"listening on {HOST}:{options.port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
