"""``manage.py send_reminders`` as a real process, configured only by the environment
(``EMAIL_URL=anymail://postmark`` and ``ANYMAIL_*``), against the fake Postmark API in its own process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from invoicing.models import Customer
from reminders.models import Message, MessageState
from tests.api.test_api import HEALTH_URL, healthy_scheduler
from tests.processes import needs_postgresql, run_manage
from tests.reminders.outbox import message_of, pending_reminders
from tests.reminders.provider import PostmarkApi

pytestmark = [pytest.mark.processes, needs_postgresql, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def postmark(tmp_path) -> Iterator[PostmarkApi]:
    server = PostmarkApi(tmp_path / "postmark").start()
    try:
        yield server
    finally:
        server.stop()


def send_reminders(postmark: PostmarkApi, **extra: str):
    return run_manage(
        "send_reminders", DEFAULT_FROM_EMAIL="billing@shop.example", **postmark.environment(), **extra
    )


def test_a_sender_configured_by_the_environment_sends_through_the_providers_api(postmark):
    fine = pending_reminders(2)
    [inactive] = pending_reminders(1, email="inactive.ida@customer.example")
    [unavailable] = pending_reminders(1, email="unavailable.uwe@customer.example")
    done = send_reminders(postmark)
    assert done.returncode == 1, done.stdout + done.stderr  # the bounced one failed for good
    assert "2 sent, 1 to retry later, 1 failed" in done.stdout
    accepted = postmark.accepted()
    for reminder in fine:
        message = message_of(reminder)
        assert message.state == MessageState.SENT
        assert message.provider_message_id == accepted[message.message_id]
    assert message_of(inactive).state == MessageState.BOUNCED
    assert Customer.objects.email_suppressed().get().email == "inactive.ida@customer.example"
    assert (message_of(unavailable).state, message_of(unavailable).attempts) == (MessageState.PENDING, 1)


def test_a_chunk_of_only_bad_addresses_does_not_turn_health_unavailable(postmark, client):
    """The issue's case: a chunk whose every address the provider refuses as inactive leaves /health 200
    for everyone; the next reminders to those addresses are cancelled, never offered."""
    healthy_scheduler()
    for n in range(3):
        pending_reminders(1, email=f"inactive{n}@customer.example")
    done = send_reminders(postmark, REMINDER_SEND_CHUNK="10")
    assert done.returncode == 1, done.stdout + done.stderr
    assert set(Message.objects.values_list("state", flat=True)) == {MessageState.BOUNCED}
    response = client.get(HEALTH_URL)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_an_unknown_provider_is_refused_naming_it_and_the_supported_ones(postmark):
    done = run_manage("send_reminders", EMAIL_URL="anymail://postmarc")
    assert done.returncode == 2
    assert "EMAIL_URL='anymail://postmarc'" in done.stderr
    assert "postmark" in done.stderr.split("anymail://postmarc", 1)[1]
    assert "mailgun" in done.stderr


def test_a_missing_provider_setting_is_refused_naming_the_variable(postmark):
    environment = {**postmark.environment(), "ANYMAIL_POSTMARK_SERVER_TOKEN": None}
    done = run_manage("send_reminders", **environment)
    assert done.returncode == 2
    assert "ANYMAIL_POSTMARK_SERVER_TOKEN" in done.stderr
    assert postmark.requests() == []
