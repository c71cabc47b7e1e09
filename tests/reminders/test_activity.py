"""Reminders created and delivered per day (SPEC §11), read by index ranges: the same counts as every
reminder counted one by one."""

from collections import Counter
from datetime import date, datetime, time, timedelta

from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from reminders.models import Message, Notification
from reminders.selectors import reminders_per_day
from tests.reminders.factories import MessageFactory, NotificationFactory

LAST_DAY = date(2026, 3, 31)
FIRST_DAY = LAST_DAY - timedelta(days=29)

# A reminder: the day it was created, its message (an index into the messages, or none), cancelled or not.
reminders = st.lists(
    st.tuples(st.integers(-40, 5), st.one_of(st.none(), st.integers(0, 5)), st.booleans()), max_size=25
)
# A message, in the order the senders formed it: the day it was sent (none: not yet), in any order.
messages = st.lists(st.one_of(st.none(), st.integers(-45, 5)), min_size=6, max_size=6)


def moment(day_offset: int, minute: int) -> datetime:
    day = LAST_DAY + timedelta(days=day_offset)
    zone = timezone.get_default_timezone()
    return timezone.make_aware(datetime.combine(day, time(23, 59)) - timedelta(minutes=minute), zone)


def counted_one_by_one() -> tuple[Counter, Counter]:
    created, delivered = Counter(), Counter()
    for reminder in Notification.objects.select_related("delivery").filter(cancel_reason=""):
        created[timezone.localdate(reminder.created_at)] += 1
        if reminder.delivery and reminder.delivery.sent_at:
            delivered[timezone.localdate(reminder.delivery.sent_at)] += 1
    return created, delivered


class ActivityTests(TestCase):
    @settings(max_examples=40, deadline=None)
    @given(reminders=reminders, messages=messages)
    def test_per_day_counts_equal_the_reminders_counted_one_by_one(self, reminders, messages):
        formed = [MessageFactory(state="sent" if sent is not None else "pending") for sent in messages]
        for message, sent in zip(formed, messages, strict=True):
            if sent is not None:
                Message.objects.filter(pk=message.pk).update(sent_at=moment(sent, message.pk % 7))
        for n, (created, carrier, cancelled) in enumerate(reminders):
            reminder = NotificationFactory(cancel_reason="staff" if cancelled else "")
            Notification.objects.filter(pk=reminder.pk).update(
                created_at=moment(created, n), delivery=formed[carrier] if carrier is not None else None
            )
        created, delivered = counted_one_by_one()
        days = reminders_per_day(first_day=FIRST_DAY, last_day=LAST_DAY)
        assert [day.day for day in days] == [FIRST_DAY + timedelta(days=n) for n in range(30)]
        assert [(day.created, day.delivered) for day in days] == [
            (created[day.day], delivered[day.day]) for day in days
        ]
