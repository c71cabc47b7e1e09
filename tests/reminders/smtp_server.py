"""A real SMTP server for the delivery tests, run as its own process (aiosmtpd on a loopback port).

Every message it accepts is appended to ``<record>/messages.jsonl`` *before* the server answers 250, so
the file holds exactly what the server accepted. Faults are chosen by the test through ``--faults``, a
JSON object (all keys optional):

- ``rcpt_451_first``: answer 451 to the first N ``RCPT`` commands (across connections);
- ``data_451_first``: answer 451 to the first N messages at the end of ``DATA``;
- ``reject``: a list of recipient addresses answered 550 at ``RCPT``;
- ``drop_after``: after N accepted messages, drop the connection in the middle of the next ``DATA``
  (that message is not recorded), once;
- ``close_after``: after every N accepted messages on a connection, close it just after the reply (as a
  server does with an idle connection, or one that carried its most messages);
- ``delay``: seconds to wait before answering each ``DATA`` (a slow server);
- ``data_reject``: a list of recipient addresses whose message is answered 554 at the end of ``DATA``;
- ``rcpt_452``: a list of recipient addresses answered 452 (mailbox full) at ``RCPT``;
- ``max_per_connection``: after N accepted messages on a connection, answer 421 to the next ``MAIL`` and
  close it (Exim's ``smtp_accept_max_per_connection``);
- ``smtputf8``: offer SMTPUTF8 (RFC 6531), so a mailbox that is not ASCII can be given.

A refused connection is a server that is not running: stop it, and start it again on the same port.
Run: ``python tests/reminders/smtp_server.py --port 8025 --record DIR [--faults JSON]``; it prints
``listening on 127.0.0.1:PORT`` once it accepts connections, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"


class RecordingHandler:
    def __init__(self, record: Path, faults: dict[str, Any]) -> None:
        self.log = (record / "messages.jsonl").open("a", encoding="utf-8")
        self.faults = faults
        self.rcpt_commands = 0
        self.data_commands = 0
        self.accepted = 0
        self.dropped = False
        self.carried: dict[int, int] = {}

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        limit = self.faults.get("max_per_connection")
        if limit and self.carried.get(id(server), 0) >= limit:
            assert server.transport is not None
            asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 4.7.0 Too many messages on this connection"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.rcpt_commands += 1
        if self.rcpt_commands <= self.faults.get("rcpt_451_first", 0):
            return "451 4.3.0 Try again later"
        if address in self.faults.get("reject", ()):
            return f"550 5.1.1 <{address}>: no such mailbox"
        if address in self.faults.get("rcpt_452", ()):
            return f"452 4.2.2 <{address}>: mailbox full"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.data_commands += 1
        if delay := self.faults.get("delay"):
            await asyncio.sleep(delay)
        if not self.dropped and self.accepted == self.faults.get("drop_after", -1):
            self.dropped = True
            assert server.transport is not None
            server.transport.abort()
            return "421 4.4.2 connection dropped"
        if self.data_commands <= self.faults.get("data_451_first", 0):
            return "451 4.3.0 Try again later"
        if set(envelope.rcpt_tos) & set(self.faults.get("data_reject", ())):
            return "554 5.7.1 Message refused: content rejected"
        self.record(session, envelope)
        self.accepted += 1
        self.close_if_due(server)
        return "250 OK"

    def close_if_due(self, server: SMTP) -> None:
        every = self.faults.get("close_after")
        carried = self.carried[id(server)] = self.carried.get(id(server), 0) + 1
        if every and carried % every == 0 and server.transport is not None:
            # After the 250 is written: the client learns of the close at its next command.
            asyncio.get_running_loop().call_soon(server.transport.close)

    def record(self, session: Session, envelope: Envelope) -> None:
        content = envelope.original_content or b""
        head = content.split(b"\r\n\r\n", 1)[0]
        headers = BytesHeaderParser(policy=compat32).parsebytes(content, headersonly=True)
        entry = {
            "message_id": headers.get("Message-ID", ""),
            # The client's port: messages of one connection share it.
            "connection": session.peer[1] if session.peer else None,
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": headers.get("Subject", ""),
            "headers": [[name, str(value)] for name, value in headers.items()],
            "raw_headers": head.decode("ascii", "replace"),
            "raw": content.decode("utf-8", "replace"),
        }
        self.log.write(json.dumps(entry) + "\n")
        self.log.flush()


async def serve(port: int, record: Path, faults: dict[str, Any]) -> None:
    handler = RecordingHandler(record, faults)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="smtp.test", enable_SMTPUTF8=bool(faults.get("smtputf8"))), HOST, port
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print(f"listening on {HOST}:{port}", flush=True)
    await stop.wait()
    server.close()
    handler.log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", type=Path, required=True, help="folder for messages.jsonl")
    parser.add_argument("--faults", type=json.loads, default={}, help="a JSON object, see the module doc")
    args = parser.parse_args()
    args.record.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.port, args.record, args.faults))


if __name__ == "__main__":
    main()
