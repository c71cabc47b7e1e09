"""Bounces, complaints and deliveries coming back through anymail's tracking webhooks (SPEC §14): the
providers' own payload formats posted to ``/anymail/<esp>/tracking/`` as the providers post them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from invoicing.models import Customer
from reminders.models import EventType, Message, MessageState, WebhookDelivery, WebhookEndpoint
from reminders.tracking import record_tracking_event
from tests.invoicing.factories import CustomerFactory
from tests.reminders.factories import MessageFactory
from tests.reminders.provider import WEBHOOK_SECRET

pytestmark = pytest.mark.django_db

POSTMARK_URL = "/anymail/postmark/tracking/"
MAILGUN_URL = "/anymail/mailgun/tracking/"
MAILGUN_SIGNING_KEY = "mailgun-signing-key-for-tests"


@pytest.fixture(autouse=True)
def anymail_settings(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": WEBHOOK_SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_SIGNING_KEY}


def basic_auth(secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def sent_message(email: str = "ap@customer.example", **fields) -> Message:
    customer = CustomerFactory(email=email)
    return MessageFactory(
        customer=customer,
        recipient=email,
        state=MessageState.SENT,
        sent_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        provider_message_id=str(uuid.uuid4()),
        **fields,
    )


def postmark_bounce(message: Message, **changes) -> dict:
    """A hard bounce as Postmark's bounce webhook posts it."""
    return {
        "RecordType": "Bounce",
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "",
        "MessageID": message.provider_message_id,
        "Metadata": {},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": message.recipient.upper(),  # providers do not keep the address's case
        "From": "billing@shop.example",
        "BouncedAt": "2026-03-02T09:05:11.1234567Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Reminder: invoice INV-000001 is overdue",
        **changes,
    }


def postmark_complaint(message: Message) -> dict:
    return {
        "RecordType": "SpamComplaint",
        "MessageStream": "outbound",
        "ID": 42,
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "Name": "Spam complaint",
        "Tag": "",
        "MessageID": message.provider_message_id,
        "Metadata": {},
        "ServerID": 23,
        "Description": "The subscriber explicitly marked this message as spam.",
        "Details": "Complaint via the recipient's feedback loop",
        "Email": message.recipient,
        "From": "billing@shop.example",
        "BouncedAt": "2026-03-02T10:00:00Z",
        "DumpAvailable": False,
        "Inactive": True,
        "CanActivate": False,
        "Subject": "Reminder",
    }


def postmark_delivery(message: Message) -> dict:
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": message.provider_message_id,
        "Recipient": message.recipient,
        "Tag": "",
        "DeliveredAt": "2026-03-02T09:00:07Z",
        "Details": "Test delivery webhook details",
        "Metadata": {},
    }


def post_postmark(client, payload: dict, **auth):
    return client.post(POSTMARK_URL, json.dumps(payload), content_type="application/json", **auth)


def test_a_postmark_hard_bounce_marks_the_message_and_suppresses_the_address(client):
    message = sent_message()
    response = post_postmark(client, postmark_bounce(message), **basic_auth())
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.state == MessageState.BOUNCED
    assert message.bounced_at == datetime(2026, 3, 2, 9, 5, 11, 123456, tzinfo=UTC)
    assert "mailbox not found" in message.bounce_reason
    assert "550 5.1.1" in message.bounce_reason
    customer = Customer.objects.get(pk=message.customer_id)
    assert customer.email_suppressed
    assert customer.email_suppressed_address == "ap@customer.example"
    assert customer.email_suppressed_at == message.bounced_at
    assert customer.email_suppressed_reason.startswith("Postmark: ")


def test_a_postmark_spam_complaint_marks_the_message_complained_and_suppresses(client):
    message = sent_message()
    assert post_postmark(client, postmark_complaint(message), **basic_auth()).status_code == 200
    message.refresh_from_db()
    assert message.state == MessageState.COMPLAINED
    assert "marked this message as spam" in message.bounce_reason
    assert Customer.objects.get(pk=message.customer_id).email_suppressed


def test_a_postmark_delivery_sets_delivered_at_only(client):
    message = sent_message()
    assert post_postmark(client, postmark_delivery(message), **basic_auth()).status_code == 200
    message.refresh_from_db()
    assert message.delivered_at == datetime(2026, 3, 2, 9, 0, 7, tzinfo=UTC)
    assert message.state == MessageState.SENT
    assert not Customer.objects.get(pk=message.customer_id).email_suppressed


def test_a_soft_bounce_that_leaves_the_address_active_does_not_suppress_it(client):
    message = sent_message()
    payload = postmark_bounce(message, Type="SoftBounce", TypeCode=4096, Inactive=False, CanActivate=False)
    assert post_postmark(client, payload, **basic_auth()).status_code == 200
    message.refresh_from_db()
    assert message.state == MessageState.BOUNCED
    assert not Customer.objects.get(pk=message.customer_id).email_suppressed


@pytest.mark.parametrize("auth", [{}, basic_auth("postmark-hook:wrong")])
def test_the_tracking_webhook_refuses_a_post_without_the_secret(client, auth):
    message = sent_message()
    response = post_postmark(client, postmark_bounce(message), **auth)
    assert response.status_code == 400
    message.refresh_from_db()
    assert message.state == MessageState.SENT
    assert not Customer.objects.get(pk=message.customer_id).email_suppressed


def test_an_event_about_mail_we_did_not_send_changes_nothing(client):
    message = sent_message()
    stranger = postmark_bounce(message, MessageID=str(uuid.uuid4()))
    assert post_postmark(client, stranger, **basic_auth()).status_code == 200
    message.refresh_from_db()
    assert message.state == MessageState.SENT
    assert not Customer.objects.filter(email_suppressed_at__isnull=False).exists()


def test_a_bounce_posted_twice_is_recorded_once(client):
    message = sent_message()
    for _ in range(2):
        assert post_postmark(client, postmark_bounce(message), **basic_auth()).status_code == 200
    message.refresh_from_db()
    assert message.state == MessageState.BOUNCED
    assert Customer.objects.email_suppressed().count() == 1


def test_a_bounce_tells_the_webhook_endpoints_once_with_the_providers_text(client):
    endpoint = WebhookEndpoint.objects.create(
        url="https://hooks.example/in", event_types=[EventType.MESSAGE_BOUNCED]
    )
    message = sent_message()
    for _ in range(2):
        assert post_postmark(client, postmark_bounce(message), **basic_auth()).status_code == 200
    (delivery,) = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert delivery.event_type == EventType.MESSAGE_BOUNCED
    data = delivery.payload["data"]
    assert data["message"]["id"] == message.pk
    assert data["message"]["state"] == MessageState.BOUNCED
    assert "mailbox not found" in data["message"]["reason"]


def test_a_bounce_of_an_address_the_customer_has_changed_since_suppresses_nothing(client):
    message = sent_message()
    Customer.objects.filter(pk=message.customer_id).update(email="new-ap@customer.example")
    assert post_postmark(client, postmark_bounce(message), **basic_auth()).status_code == 200
    message.refresh_from_db()
    assert message.state == MessageState.BOUNCED
    customer = Customer.objects.get(pk=message.customer_id)
    assert not customer.email_suppressed
    assert customer.email_suppressed_at is None


def test_a_message_still_in_the_outbox_is_not_marked(client):
    message = sent_message()
    Message.objects.filter(pk=message.pk).update(state=MessageState.PENDING)
    assert not record_tracking_event(
        event_type="bounced",
        provider_message_id=message.provider_message_id,
        description="Postmark: bounced",
        at=datetime(2026, 3, 2, tzinfo=UTC),
    )
    message.refresh_from_db()
    assert message.state == MessageState.PENDING


# --- Mailgun: its own payload format, signed with the webhook signing key -----------------------------


def mailgun_event(message: Message, event: str, **data) -> dict:
    timestamp, token = str(int(time.time())), uuid.uuid4().hex
    signature = hmac.new(
        MAILGUN_SIGNING_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": {
            "event": event,
            "timestamp": 1772442311.25,
            "id": "G9Bn5sl1TC6nu79C8C0bwg",
            "recipient": message.recipient,
            "message": {"headers": {"message-id": message.provider_message_id.strip("<>")}},
            "tags": [],
            "user-variables": {},
            **data,
        },
    }


def mailgun_message(**fields) -> Message:
    message = sent_message(**fields)
    Message.objects.filter(pk=message.pk).update(
        provider_message_id="<20260302090000.1.ABCDEF@mg.shop.example>"
    )
    message.refresh_from_db()
    return message


def post_mailgun(client, payload: dict, **auth):
    return client.post(MAILGUN_URL, json.dumps(payload), content_type="application/json", **auth)


def test_a_mailgun_permanent_failure_bounces_and_suppresses(client):
    message = mailgun_message()
    payload = mailgun_event(
        message,
        "failed",
        severity="permanent",
        reason="bounce",
        **{"delivery-status": {"code": 550, "message": "5.1.1 No such user", "description": "Not delivered"}},
    )
    assert post_mailgun(client, payload, **basic_auth()).status_code == 200
    message.refresh_from_db()
    assert message.state == MessageState.BOUNCED
    assert message.bounce_reason == "Mailgun: Not delivered — 5.1.1 No such user"
    assert Customer.objects.get(pk=message.customer_id).email_suppressed


def test_a_mailgun_temporary_failure_is_no_bounce(client):
    message = mailgun_message()
    payload = mailgun_event(
        message,
        "failed",
        severity="temporary",
        reason="generic",
        **{"delivery-status": {"code": 452, "message": "4.2.2 Mailbox full", "description": ""}},
    )
    assert post_mailgun(client, payload, **basic_auth()).status_code == 200
    message.refresh_from_db()
    assert message.state == MessageState.SENT
    assert not Customer.objects.get(pk=message.customer_id).email_suppressed


def test_a_mailgun_complaint_and_delivery(client):
    message = mailgun_message()
    assert post_mailgun(client, mailgun_event(message, "delivered"), **basic_auth()).status_code == 200
    assert post_mailgun(client, mailgun_event(message, "complained"), **basic_auth()).status_code == 200
    message.refresh_from_db()
    assert message.delivered_at == datetime.fromtimestamp(1772442311.25, tz=UTC)
    assert message.state == MessageState.COMPLAINED
    assert Customer.objects.get(pk=message.customer_id).email_suppressed


def test_a_mailgun_event_with_a_bad_signature_is_refused(client):
    message = mailgun_message()
    payload = mailgun_event(message, "failed", severity="permanent")
    payload["signature"]["signature"] = "0" * 64
    assert post_mailgun(client, payload, **basic_auth()).status_code == 400
    message.refresh_from_db()
    assert message.state == MessageState.SENT


# --- what staff see ----------------------------------------------------------------------------------


def test_the_message_list_filters_bounced_complained_and_delivered_messages(staff_client):
    bounced, complained, delivered_one, plain = (sent_message(f"ap{n}@customer.example") for n in range(4))
    post_postmark(staff_client, postmark_bounce(bounced), **basic_auth())
    post_postmark(staff_client, postmark_complaint(complained), **basic_auth())
    post_postmark(staff_client, postmark_delivery(delivered_one), **basic_auth())
    listed = reverse("admin:reminders_message_changelist")

    def found(query: str) -> set[int]:
        return {message.pk for message in staff_client.get(f"{listed}?{query}").context["cl"].result_list}

    assert found("state__exact=bounced") == {bounced.pk}
    assert found("state__exact=complained") == {complained.pk}
    assert found("delivered_at__isempty=0") == {delivered_one.pk}
    assert plain.pk in found("delivered_at__isempty=1")
    assert found(f"q={bounced.provider_message_id}") == {bounced.pk}


def test_a_bounced_messages_page_shows_what_the_provider_reported(staff_client):
    message = sent_message()
    post_postmark(staff_client, postmark_bounce(message), **basic_auth())
    page = staff_client.get(reverse("admin:reminders_message_change", args=[message.pk])).text
    assert "What the provider reported" in page
    assert message.provider_message_id in page
    assert "550 5.1.1 The email account that you tried to reach does not exist." in page
