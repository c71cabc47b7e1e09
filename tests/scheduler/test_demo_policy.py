"""The demo shows the dunning policy (docs/SPEC.md §13): run with a threshold before the due date, the
overdue check gives the demo's invoice due in 2 days a courtesy reminder and skips its held invoice. Real
``manage.py`` processes, as an operator runs them, on the test database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from invoicing.models import Invoice
from reminders.models import MessageState, Notification
from scheduler.config import today
from tests.processes import needs_postgresql, run_manage

pytestmark = [pytest.mark.processes, needs_postgresql, pytest.mark.django_db(transaction=True)]


def test_the_demo_run_with_a_courtesy_threshold_reminds_before_the_due_date_and_skips_the_held_invoice():
    seeded = run_manage("seed_demo_data", "--reset", "--delete-non-demo-data")
    assert seeded.returncode == 0, seeded.stderr
    as_of = today()
    soon = Invoice.objects.get(due_date=as_of + timedelta(days=2), hold_reason="", total=1250)
    held = Invoice.objects.get(reminders_held_until__gte=as_of)
    assert f"  {soon.number} is due in 2 days." in seeded.stdout
    assert f"  {held.number} is 10 days overdue, on hold until {held.reminders_held_until} (dispute)." in (
        seeded.stdout
    )

    run = run_manage("run_overdue_check", OVERDUE_INVOICE_REMINDER_DAYS="-3,1,7")
    assert run.returncode == 0, run.stderr
    courtesy = Notification.objects.filter(threshold_days=-3)
    assert courtesy.filter(invoice=soon, level=1, days_overdue=-2).exists()
    assert courtesy.count() > 1  # the demo's other invoices due within 3 days too
    assert not courtesy.filter(invoice__due_date__gt=as_of + timedelta(days=3)).exists()
    assert not Notification.objects.filter(invoice=held).exists()
    assert Notification.objects.filter(threshold_days=7, days_overdue__gte=7).exists()
    assert "is due in 2 days. Balance due: EUR 1250.00." in soon.notifications.get().message

    sent = run_manage("send_reminders")
    assert sent.returncode == 0, sent.stderr
    assert soon.notifications.get().delivery.state == MessageState.SENT
    assert not Notification.objects.filter(invoice=held).exists()
