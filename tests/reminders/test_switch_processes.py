"""The outbox switch against real ``send_reminders`` processes and a real SMTP server: nothing is sent
while sending is paused, and a sender at work stops claiming when staff pause it."""

from __future__ import annotations

import pytest

from reminders.switch import sending_pause, sending_resume
from tests.processes import needs_postgresql, run_manage, start_manage, wait_until
from tests.reminders.outbox import pending_reminders, sent_reminders, unsent

pytestmark = [pytest.mark.processes, needs_postgresql, pytest.mark.django_db(transaction=True)]


def sender_env(server, **extra: str) -> dict[str, str]:
    return {"EMAIL_URL": server.url, "DEFAULT_FROM_EMAIL": "billing@shop.example", **extra}


def pending() -> int:
    return unsent()


def test_a_paused_outbox_sends_nothing_and_the_sender_exits_0(smtp_server, django_user_model):
    pending_reminders(5)
    sending_pause(by=django_user_model.objects.create_user(username="finance"), reason="going live")
    result = run_manage("send_reminders", **sender_env(smtp_server))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Sending is paused (by finance since ")
    assert ": going live); nothing was sent." in result.stdout
    assert smtp_server.messages() == []
    assert pending() == 5

    sending_resume()
    result = run_manage("send_reminders", **sender_env(smtp_server))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(smtp_server.messages()) == 5


def test_a_sender_at_work_stops_claiming_once_sending_is_paused(smtp_server, django_user_model):
    smtp_server.start({"delay": 0.1})
    pending_reminders(40)
    sender = start_manage("send_reminders", **sender_env(smtp_server, REMINDER_SEND_CHUNK="2"))
    assert wait_until(lambda: len(smtp_server.messages()) >= 2, timeout=30, interval=0.02)
    sending_pause(by=django_user_model.objects.create_user(username="finance"))
    received_at_pause = len(smtp_server.messages())
    output, _ = sender.communicate(timeout=60)

    assert sender.returncode == 0, output
    sent = sent_reminders()
    assert sent == len(smtp_server.messages())
    # Only what was claimed before the pause still goes: at most a chunk per connection (2) and one
    # claimed ahead, 3 chunks of 2.
    assert sent <= received_at_pause + 3 * 2
    assert pending() == 40 - sent
