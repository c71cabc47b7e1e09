"""A webhook receiver in its own process, for the tests: on 127.0.0.1, it answers each request as the next
fault in its list says (``500``, ``timeout``: no answer for longer than the sender waits, ``drop``: the
connection closed without an answer, ``302``: a redirect, ``big``: a 200 with a 4 MB body), then ``200``
once the list is used up, or always ``always``. Every request is recorded, headers and body, with what it
got, one JSON line each.

    python tests/reminders/webhook_receiver.py RECORD_DIR '["500", "timeout", "drop"]' [always]

It writes its port to RECORD_DIR/port once it listens."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BIG = 4_000_000


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = self.server.next_answer()
        self.server.record(
            {
                "headers": dict(self.headers.items()),
                "body": body.decode(),
                "answer": answer,
                "path": self.path,
            }
        )
        if answer == "timeout":
            time.sleep(4)
            return
        if answer == "drop":
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if answer == "big":  # a 200 whose body the sender must not read whole
            self.send_response(200)
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            self.wfile.write(b"x" * BIG)
            return
        if answer == "302":
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(int(answer))
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


class Receiver(ThreadingHTTPServer):
    def __init__(self, record: Path, faults: list[str], always: str | None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.faults, self.always = faults, always
        self.lock = threading.Lock()
        self.log = (record / "requests.jsonl").open("a", encoding="utf-8")

    def next_answer(self) -> str:
        with self.lock:
            if self.always:
                return self.always
            return self.faults.pop(0) if self.faults else "200"

    def record(self, entry: dict[str, object]) -> None:
        with self.lock:
            self.log.write(json.dumps(entry) + "\n")
            self.log.flush()


def main() -> None:
    record = Path(sys.argv[1])
    server = Receiver(record, json.loads(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
    (record / "port.tmp").write_text(str(server.server_address[1]))
    (record / "port.tmp").rename(record / "port")
    server.serve_forever()


if __name__ == "__main__":
    main()
