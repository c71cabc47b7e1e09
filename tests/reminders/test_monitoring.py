"""Delivery as operators see it (docs/SPEC.md §10 "Monitoring"): messages by state, health, staff actions."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from reminders.models import Message, MessageState, Notification
from reminders.monitoring import delivery_counts, delivery_status, failed_deliveries_note
from reminders.services import messages_cancel, messages_resend
from tests.reminders.factories import MessageFactory, NotificationFactory, delivered

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LIST = "admin:reminders_message_changelist"
S = MessageState


def in_state(state: str, **fields) -> Message:
    """A message of one reminder in ``state``."""
    return delivered(NotificationFactory(), state=state, **fields).delivery


def test_counts_name_every_state_each_with_its_own_number():
    """A distinct count per state: a swap of any two states would show."""
    for number, state in enumerate(S.values, start=1):
        for _ in range(number):
            MessageFactory(state=state, leased_until=NOW if state == S.SENDING else None)
    assert delivery_counts() == {state: number for number, state in enumerate(S.values, start=1)}


def test_counts_of_a_run_count_the_messages_carrying_its_reminders_once_each():
    mine = NotificationFactory()
    statement = delivered(mine, state=S.SENT).delivery
    Notification.objects.filter(pk=NotificationFactory(run_id=mine.run_id).pk).update(delivery=statement)
    failed = in_state(S.FAILED)
    Notification.objects.filter(delivery=failed).update(run_id=mine.run_id)
    in_state(S.FAILED)
    counts = delivery_counts(run_id=mine.run_id)
    assert (counts["sent"], counts["failed"], counts["pending"]) == (1, 1, 0)
    assert delivery_counts()["failed"] == 2


def test_health_is_ok_with_nothing_waiting_and_no_chunk_yet():
    status = delivery_status(now=NOW)
    assert status.health == "ok"
    assert (status.oldest_waiting_since, status.last_chunk_at) == (None, None)


def test_a_message_due_for_over_an_hour_makes_delivery_unavailable():
    in_state(S.PENDING, next_attempt_at=NOW - timedelta(minutes=61))
    assert delivery_status(now=NOW).health == "unavailable"


def test_a_reminder_waiting_for_a_message_for_over_an_hour_makes_delivery_unavailable():
    waiting = NotificationFactory()
    Notification.objects.filter(pk=waiting.pk).update(created_at=NOW - timedelta(minutes=61))
    assert delivery_status(now=NOW).health == "unavailable"


def test_a_message_due_for_less_than_an_hour_or_retried_later_is_ok():
    in_state(S.PENDING, next_attempt_at=NOW - timedelta(minutes=59))
    in_state(S.PENDING, next_attempt_at=NOW + timedelta(hours=5))
    assert delivery_status(now=NOW).health == "ok"


def test_the_newest_chunk_sending_nothing_makes_delivery_unavailable():
    claimed = NOW - timedelta(minutes=5)
    in_state(S.SENT, last_attempt_at=claimed - timedelta(minutes=5))
    in_state(S.PENDING, last_attempt_at=claimed, next_attempt_at=NOW + timedelta(minutes=1))
    in_state(S.FAILED, last_attempt_at=claimed)
    status = delivery_status(now=NOW)
    assert status.last_chunk_failed
    assert status.health == "unavailable"


def test_a_chunk_with_one_message_sent_or_still_sending_has_not_failed():
    claimed = NOW - timedelta(minutes=5)
    in_state(S.FAILED, last_attempt_at=claimed)
    sent = in_state(S.SENT, last_attempt_at=claimed)
    assert not delivery_status(now=NOW).last_chunk_failed
    Message.objects.filter(pk=sent.pk).update(state=S.SENDING, leased_until=NOW)
    assert not delivery_status(now=NOW).last_chunk_failed


def test_resend_puts_failed_cancelled_and_bounced_back_with_fresh_attempts_and_leaves_the_rest():
    failed = in_state(S.FAILED, attempts=5, last_error="550 no such user")
    cancelled = in_state(S.CANCELLED)
    Notification.objects.filter(delivery=cancelled).update(cancel_reason="by staff")
    bounced = in_state(S.BOUNCED)
    sent = in_state(S.SENT)
    sending = in_state(S.SENDING, leased_until=NOW)
    assert messages_resend(ids=[failed.pk, cancelled.pk, bounced.pk, sent.pk, sending.pk]) == 3
    for message in (failed, cancelled, bounced):
        message.refresh_from_db()
        assert (message.state, message.attempts) == (S.PENDING, 0)
    assert set(Notification.objects.filter(delivery=cancelled).values_list("cancel_reason", flat=True)) == {
        ""
    }
    sent.refresh_from_db()
    sending.refresh_from_db()
    assert (sent.state, sending.state) == (S.SENT, S.SENDING)


def test_resend_leaves_a_reminder_cancelled_for_being_paid_out():
    cancelled = in_state(S.CANCELLED)
    Notification.objects.filter(delivery=cancelled).update(cancel_reason="paid")
    messages_resend(ids=[cancelled.pk])
    assert set(Notification.objects.filter(delivery=cancelled).values_list("cancel_reason", flat=True)) == {
        "paid"
    }


def test_cancel_stops_pending_and_failed_but_never_a_sent_or_sending_one():
    pending, failed = in_state(S.PENDING), in_state(S.FAILED)
    sent, sending = in_state(S.SENT), in_state(S.SENDING, leased_until=NOW)
    assert messages_cancel(ids=[pending.pk, failed.pk, sent.pk, sending.pk]) == 2
    states = dict(Message.objects.values_list("pk", "state"))
    assert states == {pending.pk: S.CANCELLED, failed.pk: S.CANCELLED, sent.pk: S.SENT, sending.pk: S.SENDING}
    assert set(
        Notification.objects.filter(delivery__in=[pending.pk, failed.pk]).values_list(
            "cancel_reason", flat=True
        )
    ) == {"by staff"}


def test_the_admin_resend_action_sends_a_failed_message_again(staff_client):
    failed = in_state(S.FAILED)
    response = staff_client.post(
        reverse(LIST), {"action": "resend", "_selected_action": [failed.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "1 of 1 messages are back in the outbox" in response.content.decode()
    failed.refresh_from_db()
    assert failed.state == S.PENDING


def test_the_admin_cancel_action_needs_the_change_permission(client, django_user_model):
    viewer = django_user_model.objects.create_user(username="viewer", password="pw-viewer-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_message"))
    client.force_login(viewer)
    pending = in_state(S.PENDING)
    page = client.get(reverse(LIST)).content.decode()
    assert 'value="cancel"' not in page
    client.post(reverse(LIST), {"action": "cancel", "_selected_action": [pending.pk]})
    pending.refresh_from_db()
    assert pending.state == S.PENDING


def test_a_messages_page_shows_its_reminders_and_what_was_sent(staff_client):
    sent = in_state(
        S.SENT,
        attempts=2,
        last_error="451 try later",
        subject="Invoice INV-9 is overdue",
        text_body="Dear Acme, …",
        message_id="<message-9@billing.example>",
    )
    reminder = sent.reminders.get()
    page = staff_client.get(reverse("admin:reminders_message_change", args=[sent.pk])).content.decode()
    for shown in (
        "451 try later",
        "Invoice INV-9 is overdue",
        "Dear Acme, …",
        "&lt;message-9@billing.example&gt;",
        reminder.invoice.number,
        reverse("admin:reminders_notification_change", args=[reminder.pk]),
    ):
        assert shown in page


def test_a_reminders_page_links_its_message(staff_client):
    message = in_state(S.SENT)
    reminder = message.reminders.get()
    page = staff_client.get(
        reverse("admin:reminders_notification_change", args=[reminder.pk])
    ).content.decode()
    assert reverse("admin:reminders_message_change", args=[message.pk]) in page


@pytest.mark.parametrize("field", ["customer", "invoice", "email", "message_id"])
def test_messages_are_found_by_customer_invoice_number_email_or_message_id(staff_client, field):
    wanted = in_state(S.SENT, message_id="<message-4242@billing.example>")
    in_state(S.SENT)
    reminder = wanted.reminders.select_related("invoice__customer").get()
    term = {
        "customer": reminder.invoice.customer.name,
        "invoice": reminder.invoice.number,
        "email": reminder.invoice.customer.email,
        "message_id": "message-4242@billing",
    }[field]
    response = staff_client.get(reverse(LIST), {"q": term})
    assert [message.pk for message in response.context["cl"].result_list] == [wanted.pk]


def test_messages_are_filtered_by_state(staff_client):
    failed = in_state(S.FAILED)
    in_state(S.SENT)
    response = staff_client.get(reverse(LIST), {"state__exact": "failed"})
    assert [message.pk for message in response.context["cl"].result_list] == [failed.pk]


@pytest.mark.parametrize(
    ("failed", "created", "note"),
    [
        (0, 1_500, ""),
        (12, 1_500, "12 of 1,500 deliveries failed"),
        (1_500, 1_500, "all 1,500 deliveries failed"),
    ],
)
def test_a_run_with_failed_deliveries_says_how_many_of_its_reminders_failed(failed, created, note):
    assert failed_deliveries_note(failed=failed, created=created) == note
