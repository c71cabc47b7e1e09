"""Delivery as operators see it (docs/SPEC.md §10 "Monitoring"): counts by state, health, staff actions."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from reminders.models import DeliveryState, Notification
from reminders.monitoring import delivery_counts, delivery_status, failed_deliveries_note
from reminders.services import deliveries_cancel, deliveries_resend
from tests.reminders.factories import NotificationFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LIST = "admin:reminders_notification_changelist"


def in_state(state: str, **fields) -> Notification:
    notification = NotificationFactory()
    Notification.objects.filter(pk=notification.pk).update(delivery_state=state, **fields)
    notification.refresh_from_db()
    return notification


def test_counts_name_every_state_and_count_only_the_runs_reminders():
    mine = in_state(DeliveryState.SENT)
    in_state(DeliveryState.FAILED, run_id=mine.run_id)
    in_state(DeliveryState.FAILED)
    assert delivery_counts(run_id=mine.run_id) == {
        "pending": 0,
        "sending": 0,
        "sent": 1,
        "failed": 1,
        "cancelled": 0,
    }
    assert delivery_counts()["failed"] == 2


def test_health_is_ok_with_nothing_waiting_and_no_chunk_yet():
    status = delivery_status(now=NOW)
    assert status.health == "ok"
    assert (status.oldest_waiting_since, status.last_chunk_at) == (None, None)


def test_a_reminder_due_for_over_an_hour_makes_delivery_unavailable():
    in_state(DeliveryState.PENDING, next_attempt_at=NOW - timedelta(minutes=61))
    assert delivery_status(now=NOW).health == "unavailable"


def test_a_reminder_due_for_less_than_an_hour_or_retried_later_is_ok():
    in_state(DeliveryState.PENDING, next_attempt_at=NOW - timedelta(minutes=59))
    in_state(DeliveryState.PENDING, next_attempt_at=NOW + timedelta(hours=5))
    assert delivery_status(now=NOW).health == "ok"


def test_the_newest_chunk_sending_nothing_makes_delivery_unavailable():
    claimed = NOW - timedelta(minutes=5)
    in_state(DeliveryState.SENT, last_attempt_at=claimed - timedelta(minutes=5))
    in_state(DeliveryState.PENDING, last_attempt_at=claimed, next_attempt_at=NOW + timedelta(minutes=1))
    in_state(DeliveryState.FAILED, last_attempt_at=claimed)
    status = delivery_status(now=NOW)
    assert status.last_chunk_failed
    assert status.health == "unavailable"


def test_a_chunk_with_one_reminder_sent_or_still_sending_has_not_failed():
    claimed = NOW - timedelta(minutes=5)
    in_state(DeliveryState.FAILED, last_attempt_at=claimed)
    in_state(DeliveryState.SENT, last_attempt_at=claimed)
    assert not delivery_status(now=NOW).last_chunk_failed
    Notification.objects.filter(delivery_state=DeliveryState.SENT).update(
        delivery_state=DeliveryState.SENDING
    )
    assert not delivery_status(now=NOW).last_chunk_failed


def test_resend_puts_failed_and_cancelled_back_with_fresh_attempts_and_leaves_the_rest():
    failed = in_state(DeliveryState.FAILED, attempts=5, last_error="550 no such user")
    cancelled = in_state(DeliveryState.CANCELLED, cancel_reason="paid")
    sent = in_state(DeliveryState.SENT)
    sending = in_state(DeliveryState.SENDING)
    assert deliveries_resend(ids=[failed.pk, cancelled.pk, sent.pk, sending.pk]) == 2
    for notification in (failed, cancelled):
        notification.refresh_from_db()
        assert (notification.delivery_state, notification.attempts) == (DeliveryState.PENDING, 0)
        assert notification.cancel_reason == ""
    assert failed.last_error == "550 no such user"  # history is kept
    sent.refresh_from_db()
    sending.refresh_from_db()
    assert (sent.delivery_state, sending.delivery_state) == (DeliveryState.SENT, DeliveryState.SENDING)


def test_cancel_stops_pending_and_failed_but_never_a_sent_or_sending_one():
    pending, failed = in_state(DeliveryState.PENDING), in_state(DeliveryState.FAILED)
    sent, sending = in_state(DeliveryState.SENT), in_state(DeliveryState.SENDING)
    assert deliveries_cancel(ids=[pending.pk, failed.pk, sent.pk, sending.pk]) == 2
    states = dict(Notification.objects.values_list("pk", "delivery_state"))
    assert states == {
        pending.pk: DeliveryState.CANCELLED,
        failed.pk: DeliveryState.CANCELLED,
        sent.pk: DeliveryState.SENT,
        sending.pk: DeliveryState.SENDING,
    }
    assert set(
        Notification.objects.filter(pk__in=[pending.pk, failed.pk]).values_list("cancel_reason", flat=True)
    ) == {"by staff"}


def test_the_admin_resend_action_sends_a_failed_reminder_again(staff_client):
    failed = in_state(DeliveryState.FAILED)
    response = staff_client.post(
        reverse(LIST), {"action": "resend", "_selected_action": [failed.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "1 of 1 reminders are back in the outbox" in response.content.decode()
    failed.refresh_from_db()
    assert failed.delivery_state == DeliveryState.PENDING


def test_the_admin_cancel_action_needs_the_change_permission(client, django_user_model):
    viewer = django_user_model.objects.create_user(username="viewer", password="pw-viewer-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_notification"))
    client.force_login(viewer)
    pending = in_state(DeliveryState.PENDING)
    page = client.get(reverse(LIST)).content.decode()
    assert 'value="cancel"' not in page
    client.post(reverse(LIST), {"action": "cancel", "_selected_action": [pending.pk]})
    pending.refresh_from_db()
    assert pending.delivery_state == DeliveryState.PENDING


def test_a_reminders_page_shows_its_delivery_and_what_was_sent(staff_client):
    sent = in_state(
        DeliveryState.SENT,
        attempts=2,
        last_error="451 try later",
        sent_subject="Invoice INV-9 is overdue",
        sent_body="Dear Acme, …",
        message_id="<reminder-9@billing.example>",
    )
    page = staff_client.get(reverse("admin:reminders_notification_change", args=[sent.pk])).content.decode()
    for shown in (
        "451 try later",
        "Invoice INV-9 is overdue",
        "Dear Acme, …",
        "&lt;reminder-9@billing.example&gt;",
    ):
        assert shown in page


def test_resend_addresses_the_customers_corrected_email():
    failed = in_state(DeliveryState.FAILED, last_error="550 no such mailbox")
    customer = failed.invoice.customer
    customer.email = "accounts@corrected.example"
    customer.save()
    deliveries_resend(ids=[failed.pk])
    failed.refresh_from_db()
    assert failed.recipient == "accounts@corrected.example"


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
