"""Sending through a provider's API with django-anymail (SPEC §14): ``reminders_send`` in this process, a
fake of Postmark's API in its own (``postmark_server.py``), the database real."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import timezone

from invoicing.models import Customer
from reminders.channels import default_channel
from reminders.channels.email import EmailChannel
from reminders.channels.provider import ProviderChannel
from reminders.models import Message, MessageState
from reminders.monitoring import delivery_status
from reminders.outbox import SendConfig, reminders_send
from tests.reminders.outbox import customer_reminders, message_of, pending_reminders
from tests.reminders.provider import TOKEN, PostmarkApi

pytestmark = pytest.mark.django_db


@pytest.fixture
def postmark(tmp_path) -> Iterator[PostmarkApi]:
    server = PostmarkApi(tmp_path / "postmark").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def provider_settings(settings, postmark: PostmarkApi) -> PostmarkApi:
    """Django's email through anymail's Postmark backend, pointed at the fake API."""
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = postmark.settings()
    settings.DEFAULT_FROM_EMAIL = "Billing <billing@shop.example>"
    settings.REMINDER_BCC = []
    return postmark


def send(**overrides) -> object:
    return reminders_send(config=SendConfig.from_settings(**overrides))


def test_the_provider_channel_is_chosen_by_the_email_backend(settings):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    assert isinstance(default_channel(from_email="b@shop.example", bcc=()), ProviderChannel)
    settings.EMAIL_BACKEND = "reminders.mail.SMTPEmailBackend"
    assert isinstance(default_channel(from_email="b@shop.example", bcc=()), EmailChannel)


def test_a_message_the_provider_accepts_is_sent_and_keeps_the_providers_message_id(provider_settings):
    reminders = pending_reminders(3)
    report = send()
    assert report.sent == 3
    accepted = provider_settings.accepted()
    for reminder in reminders:
        message = message_of(reminder)
        assert message.state == MessageState.SENT
        # The API got our Message-ID header; the message keeps the id the API gave back.
        assert message.provider_message_id == accepted[message.message_id]
    requests = provider_settings.requests()
    assert {request["token"] for request in requests} == {TOKEN}
    assert {request["path"] for request in requests} == {"/email"}  # one request per message


def test_an_inactive_recipient_bounces_the_message_and_suppresses_the_address(provider_settings):
    [reminder] = pending_reminders(1, email="inactive.ines@customer.example")
    report = send()
    message = message_of(reminder)
    assert message.state == MessageState.BOUNCED
    assert message.provider_message_id == ""
    assert "406" in message.bounce_reason
    assert "inactive" in message.bounce_reason
    assert message.bounced_at is not None
    customer = Customer.objects.get(pk=message.customer_id)
    assert customer.email_suppressed
    assert customer.email_suppressed_address == "inactive.ines@customer.example"
    assert "inactive" in customer.email_suppressed_reason
    assert report.failed == 1


def test_a_provider_error_5xx_is_retried_later(provider_settings):
    [reminder] = pending_reminders(1, email="unavailable.ulla@customer.example")
    report = send()
    message = message_of(reminder)
    assert (message.state, message.attempts, report.retried) == (MessageState.PENDING, 1, 1)
    assert "HTTP 500" in message.last_error
    assert message.next_attempt_at is not None
    assert not Customer.objects.get(pk=message.customer_id).email_suppressed


def test_refused_credentials_defer_the_chunk_without_spending_attempts(settings, provider_settings):
    settings.ANYMAIL = {**provider_settings.settings(), "POSTMARK_SERVER_TOKEN": "wrong-token"}
    reminders = pending_reminders(3)
    report = send(connections=1)  # one chunk of three messages
    assert report.sent == 0
    messages = [message_of(reminder) for reminder in reminders]
    assert {(message.state, message.attempts) for message in messages} == {(MessageState.PENDING, 0)}
    assert all("refused the credentials: HTTP 401" in message.last_error for message in messages)
    assert len(provider_settings.requests()) == 1  # the rest of the chunk was not tried


def test_an_unreachable_provider_defers_the_chunk_without_spending_attempts(provider_settings):
    provider_settings.stop()
    reminders = pending_reminders(2)
    report = send()
    messages = [message_of(reminder) for reminder in reminders]
    assert report.sent == 0
    assert {(message.state, message.attempts) for message in messages} == {(MessageState.PENDING, 0)}
    assert all("No connection to Postmark" in message.last_error for message in messages)


def test_a_reminder_to_a_suppressed_address_is_cancelled_and_never_offered(provider_settings):
    [first] = pending_reminders(1, email="inactive.ivo@customer.example")
    send()
    customer = message_of(first).customer
    [later] = customer_reminders(customer, 1)
    offered = len(provider_settings.requests())
    report = send()
    later.refresh_from_db()
    assert later.cancel_reason == "address bounced"
    assert later.delivery.state == MessageState.CANCELLED
    assert report.cancelled == 1
    assert len(provider_settings.requests()) == offered


def test_a_chunk_of_bounced_addresses_keeps_delivery_healthy(provider_settings):
    """Bad addresses are the provider's answer about them, not a mail path that fails everyone."""
    for n in range(3):
        pending_reminders(1, email=f"inactive{n}@customer.example")
    send()
    assert set(Message.objects.values_list("state", flat=True)) == {MessageState.BOUNCED}
    status = delivery_status(now=timezone.now())
    assert not status.last_chunk_failed
    assert status.health == "ok"


def test_a_chunk_the_provider_fails_entirely_makes_delivery_unavailable(provider_settings):
    """The contrast: a chunk that failed for the provider's own fault still turns health unavailable."""
    for n in range(3):
        pending_reminders(1, email=f"unavailable{n}@customer.example")
    send(max_attempts=1)
    assert set(Message.objects.values_list("state", flat=True)) == {MessageState.FAILED}
    assert delivery_status(now=timezone.now()).health == "unavailable"
