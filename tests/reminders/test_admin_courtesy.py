"""Courtesy reminders before the due date in the reminders' admin (docs/SPEC.md §13): the days read in
words, and the threshold filter takes a negative threshold."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.reminders.factories import NotificationFactory

pytestmark = pytest.mark.django_db

LIST = reverse("admin:reminders_notification_changelist")


def test_a_courtesy_reminder_reads_due_in_days_and_its_threshold_before_due(staff_client):
    NotificationFactory(threshold_days=-3, days_overdue=-2, invoice__number="INV-SOON")
    page = staff_client.get(LIST).content.decode()
    assert "due in 2 days" in page
    assert "level 1 (3 days before due)" in page


def test_the_threshold_filter_lists_and_applies_a_negative_threshold(staff_client):
    NotificationFactory(threshold_days=-3, days_overdue=-3, invoice__number="INV-SOON")
    NotificationFactory(threshold_days=7, days_overdue=9, invoice__number="INV-LATE")
    page = staff_client.get(LIST, {"threshold_days": "-3"}).content.decode()
    assert "INV-SOON" in page
    assert "INV-LATE" not in page
    assert "3 days before due" in page
