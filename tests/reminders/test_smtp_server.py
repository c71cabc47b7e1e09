"""The recording SMTP server the delivery tests rely on: it records what it accepts and injects faults."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest

pytestmark = pytest.mark.processes


def message(number: int, to: str = "a@customer.example") -> EmailMessage:
    email = EmailMessage()
    email["From"], email["To"], email["Subject"] = "billing@test.example", to, f"Reminder {number}"
    email["Message-ID"] = f"<test-{number}@test.example>"
    email.set_content("Body")
    return email


def test_accepted_messages_are_recorded_with_their_message_id(smtp_server):
    with smtplib.SMTP("127.0.0.1", smtp_server.port) as client:
        client.send_message(message(1))
        client.send_message(message(2))
    received = smtp_server.messages()
    assert [m["message_id"] for m in received] == ["<test-1@test.example>", "<test-2@test.example>"]
    assert received[0]["rcpt_tos"] == ["a@customer.example"]
    assert received[0]["subject"] == "Reminder 1"


def test_first_rcpt_gets_451_then_the_next_is_accepted(smtp_server):
    smtp_server.start({"rcpt_451_first": 1})
    with smtplib.SMTP("127.0.0.1", smtp_server.port) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.send_message(message(1))
        client.rset()
        client.send_message(message(2))
    assert refused.value.recipients["a@customer.example"][0] == 451
    assert list(smtp_server.message_ids()) == ["<test-2@test.example>"]


def test_rejected_recipient_gets_550(smtp_server):
    smtp_server.start({"reject": ["gone@customer.example"]})
    with (
        smtplib.SMTP("127.0.0.1", smtp_server.port) as client,
        pytest.raises(smtplib.SMTPRecipientsRefused) as refused,
    ):
        client.send_message(message(1, to="gone@customer.example"))
    assert refused.value.recipients["gone@customer.example"][0] == 550
    assert smtp_server.messages() == []


def test_connection_is_dropped_once_after_n_messages(smtp_server):
    smtp_server.start({"drop_after": 1})
    client = smtplib.SMTP("127.0.0.1", smtp_server.port)
    client.send_message(message(1))
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.send_message(message(2))
    with smtplib.SMTP("127.0.0.1", smtp_server.port) as again:
        again.send_message(message(2))
    assert list(smtp_server.message_ids()) == ["<test-1@test.example>", "<test-2@test.example>"]


def test_stopped_server_refuses_connections_until_restarted_on_its_port(smtp_server):
    smtp_server.stop()
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP("127.0.0.1", smtp_server.port, timeout=2)
    smtp_server.start()
    with smtplib.SMTP("127.0.0.1", smtp_server.port) as client:
        client.send_message(message(1))
    assert len(smtp_server.messages()) == 1
