"""The cluster sends reminders (SPEC §10): its own short schedule, and a task queued after every real run
of the check, never sent inline, so a failing mail server cannot hold the check up."""

from __future__ import annotations

import pydoc
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django_q.models import OrmQ, Schedule

from reminders.models import Notification
from scheduler.schedules import (
    DELIVERY_SCHEDULE_NAME,
    DELIVERY_TASK_FUNC,
    SyncAction,
    delivery_schedule_sync,
)
from scheduler.services import overdue_check_run
from scheduler.tasks import overdue_check_task, send_reminders_task
from tests.invoicing.factories import InvoiceFactory
from tests.reminders.outbox import pending_reminders

NOW = datetime(2026, 3, 10, 15, 20, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def queued_funcs() -> list[str]:
    return [package.task["func"] for package in OrmQ.objects.order_by("pk")]


def test_first_sync_creates_the_delivery_schedule_every_n_minutes():
    result = delivery_schedule_sync(minutes=5, now=NOW)
    schedule = Schedule.objects.get(name=DELIVERY_SCHEDULE_NAME)
    assert result.action == SyncAction.CREATED
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (DELIVERY_TASK_FUNC, "I", 5)
    assert schedule.next_run == NOW + timedelta(minutes=5)
    assert schedule.repeats == -1
    assert pydoc.locate(schedule.func) is send_reminders_task


def test_second_sync_with_the_same_minutes_changes_nothing():
    delivery_schedule_sync(minutes=5, now=NOW)
    Schedule.objects.filter(name=DELIVERY_SCHEDULE_NAME).update(next_run=NOW + timedelta(minutes=2))
    result = delivery_schedule_sync(minutes=5, now=NOW + timedelta(minutes=1))
    assert result.action == SyncAction.UNCHANGED
    assert Schedule.objects.get(name=DELIVERY_SCHEDULE_NAME).next_run == NOW + timedelta(minutes=2)


def test_changed_minutes_move_the_next_run():
    delivery_schedule_sync(minutes=5, now=NOW)
    result = delivery_schedule_sync(minutes=15, now=NOW)
    schedule = Schedule.objects.get(name=DELIVERY_SCHEDULE_NAME)
    assert (result.action, result.next_run_moved) == (SyncAction.UPDATED, True)
    assert (schedule.minutes, schedule.next_run) == (15, NOW + timedelta(minutes=15))


def test_a_delivery_schedule_without_a_next_run_gets_one_again():
    delivery_schedule_sync(minutes=5, now=NOW)
    Schedule.objects.filter(name=DELIVERY_SCHEDULE_NAME).update(next_run=None)
    result = delivery_schedule_sync(minutes=5, now=NOW)
    assert (result.action, result.next_run_moved) == (SyncAction.UPDATED, True)
    assert Schedule.objects.get(name=DELIVERY_SCHEDULE_NAME).next_run == NOW + timedelta(minutes=5)


def test_duplicates_of_the_delivery_schedule_are_removed():
    delivery_schedule_sync(minutes=5, now=NOW)
    Schedule.objects.create(
        name=DELIVERY_SCHEDULE_NAME, func=DELIVERY_TASK_FUNC, schedule_type="I", minutes=5
    )
    assert delivery_schedule_sync(minutes=5, now=NOW).duplicates_removed == 1
    assert Schedule.objects.filter(name=DELIVERY_SCHEDULE_NAME).count() == 1


def test_sync_schedules_creates_both_schedules(settings):
    settings.REMINDER_SEND_SCHEDULE_MINUTES = 10
    out = StringIO()
    call_command("sync_schedules", stdout=out)
    assert f"Schedule '{DELIVERY_SCHEDULE_NAME}' created: sends due reminders every 10 min" in out.getvalue()
    assert Schedule.objects.get(name=DELIVERY_SCHEDULE_NAME).minutes == 10


def test_a_real_run_queues_one_sending_task_and_sends_nothing_itself(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    InvoiceFactory.create_batch(2)
    overdue_check_task(scheduled_for="2026-03-11T00:00:00+00:00")
    assert queued_funcs() == [DELIVERY_TASK_FUNC]
    assert mail.outbox == []
    assert Notification.objects.filter(delivery__isnull=True, cancel_reason="").count() == 2


def test_a_dry_run_queues_no_sending():
    InvoiceFactory.create_batch(1)
    overdue_check_run(triggered_by="command", dry_run=True)
    assert queued_funcs() == []


def test_the_check_succeeds_when_the_sending_task_cannot_be_queued():
    InvoiceFactory.create_batch(2)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE django_q_ormq RENAME TO django_q_ormq_gone")
    run_id = overdue_check_task(scheduled_for="2026-03-11T00:00:00+00:00")
    assert run_id is not None
    assert Notification.objects.filter(run_id=run_id).count() == 2


def test_sending_task_sends_what_is_due_and_returns_the_counts(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    pending_reminders(3)
    counts = send_reminders_task()
    assert counts == {"sent": 3, "retried": 0, "failed": 0, "cancelled": 0, "deferred": 0, "released": 0}
    assert len(mail.outbox) == 3


def test_a_run_with_an_endpoint_waiting_for_its_event_queues_the_webhook_delivery_too(settings):
    from reminders.models import WebhookEndpoint
    from scheduler.schedules import WEBHOOK_TASK_FUNC

    WebhookEndpoint.objects.create(url="http://127.0.0.1:9/hooks")
    InvoiceFactory.create_batch(1)
    overdue_check_task(scheduled_for="2026-03-11T00:00:00+00:00")
    assert queued_funcs() == [DELIVERY_TASK_FUNC, WEBHOOK_TASK_FUNC]


def test_the_webhook_schedule_runs_the_webhook_task_every_n_minutes():
    from scheduler.schedules import WEBHOOK_SCHEDULE_NAME, webhook_schedule_sync
    from scheduler.tasks import send_webhooks_task

    webhook_schedule_sync(minutes=1, now=NOW)
    schedule = Schedule.objects.get(name=WEBHOOK_SCHEDULE_NAME)
    assert (schedule.schedule_type, schedule.minutes) == ("I", 1)
    assert pydoc.locate(schedule.func) is send_webhooks_task
    assert schedule.next_run == NOW + timedelta(minutes=1)
