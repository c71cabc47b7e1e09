import pytest
from django.db import IntegrityError, transaction

from reminders.models import Message, MessageState, Notification
from tests.reminders.factories import MessageFactory, NotificationFactory, delivered

pytestmark = pytest.mark.django_db


def test_second_notification_for_the_same_threshold_is_refused():
    first = NotificationFactory(threshold_days=30, level=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        NotificationFactory(invoice=first.invoice, threshold_days=30, level=3)


def test_notifications_for_different_thresholds_are_allowed_whatever_their_levels():
    first = NotificationFactory(threshold_days=7, level=1)
    NotificationFactory(invoice=first.invoice, threshold_days=30, level=1)
    assert first.invoice.notifications.count() == 2


def test_notification_level_must_be_positive():
    notification = NotificationFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.filter(pk=notification.pk).update(level=0)


def test_a_courtesy_reminder_before_the_due_date_is_stored_with_its_negative_days():
    """docs/SPEC.md §13: a threshold of -3 days, made 2 days before the due date."""
    notification = NotificationFactory(threshold_days=-3, days_overdue=-2)
    notification.refresh_from_db()
    assert (notification.threshold_days, notification.days_overdue) == (-3, -2)
    assert str(notification).startswith("Reminder level 1 (3 days before due) for invoice")


def test_days_overdue_below_the_threshold_is_refused():
    notification = NotificationFactory(threshold_days=7, days_overdue=7)
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.filter(pk=notification.pk).update(days_overdue=6)


def test_unknown_message_state_is_refused():
    message = MessageFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.filter(pk=message.pk).update(state="lost")


def test_a_lease_is_held_only_by_a_message_being_sent():
    from django.utils import timezone

    message = MessageFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.filter(pk=message.pk).update(leased_until=timezone.now())


def test_a_new_reminder_is_in_no_message_and_pending():
    notification = NotificationFactory()
    notification.refresh_from_db()
    assert notification.delivery_id is None
    assert (notification.state, notification.cancel_reason) == (MessageState.PENDING, "")


def test_a_reminder_takes_its_messages_state_unless_it_was_cancelled():
    notification = delivered(NotificationFactory(), state=MessageState.SENT)
    assert notification.state == MessageState.SENT
    Notification.objects.filter(pk=notification.pk).update(cancel_reason="paid")
    notification.refresh_from_db()
    assert notification.state == MessageState.CANCELLED


def test_reminders_per_day_counts_created_and_delivered_per_day_in_the_configured_zone(settings):
    from datetime import UTC, date, datetime

    from reminders.selectors import DayActivity, reminders_per_day

    settings.TIME_ZONE = "Europe/Paris"
    late_evening = datetime(2026, 2, 1, 23, 30, tzinfo=UTC)  # Feb 2nd in Paris
    first = delivered(NotificationFactory(), state=MessageState.SENT, sent_at=late_evening)
    Notification.objects.filter(pk=first.pk).update(created_at=datetime(2026, 2, 1, 12, tzinfo=UTC))
    second = NotificationFactory()
    Notification.objects.filter(pk=second.pk).update(created_at=late_evening)
    outside = NotificationFactory()
    Notification.objects.filter(pk=outside.pk).update(created_at=datetime(2026, 1, 20, tzinfo=UTC))

    days = reminders_per_day(first_day=date(2026, 2, 1), last_day=date(2026, 2, 3))
    assert days == [
        DayActivity(date(2026, 2, 1), created=1, delivered=0),
        DayActivity(date(2026, 2, 2), created=1, delivered=1),
        DayActivity(date(2026, 2, 3), created=0, delivered=0),
    ]
