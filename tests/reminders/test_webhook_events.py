"""Which events are queued, for whom, and what they say (SPEC §14)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reminders.events import emit, final_reminder_data, message_event_emit
from reminders.models import (
    EventType,
    Message,
    MessageState,
    Notification,
    WebhookDelivery,
    WebhookEndpoint,
)
from scheduler.models import RunStatus
from scheduler.services import overdue_check_run
from tests.invoicing.factories import InvoiceFactory
from tests.reminders.factories import NotificationFactory
from tests.reminders.webhooks import endpoint_to
from tests.scheduler.oracle import make_config

pytestmark = pytest.mark.django_db
AS_OF = date(2026, 3, 15)


@pytest.fixture(autouse=True)
def _private_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True


def run(reminder_days: str = "1", escalation: str = "highest", **options):
    config = make_config(REMINDER_DAYS=reminder_days, escalation=escalation)
    return overdue_check_run(triggered_by="command", as_of=AS_OF, config=config, **options)


def deliveries(event_type: str) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(event_type=event_type).order_by("id"))


def test_an_event_has_one_id_shared_by_its_deliveries_to_every_endpoint_that_wants_it():
    everything = endpoint_to("http://127.0.0.1:9/a")
    runs_only = endpoint_to("http://127.0.0.1:9/b", EventType.RUN_FINISHED)
    finals_only = endpoint_to("http://127.0.0.1:9/c", EventType.REMINDER_FINAL)
    event_id = emit(EventType.RUN_FINISHED, {"run": {"id": 1}})
    found = deliveries(EventType.RUN_FINISHED)
    assert {delivery.endpoint_id for delivery in found} == {everything.pk, runs_only.pk}
    assert {delivery.event_id for delivery in found} == {event_id}
    assert finals_only.deliveries.count() == 0
    assert found[0].payload["type"] == "run.finished"
    assert found[0].payload["data"] == {"run": {"id": 1}}


def test_no_endpoint_no_event_and_an_inactive_endpoint_gets_none():
    endpoint = endpoint_to("http://127.0.0.1:9/a")
    endpoint.is_active = False
    endpoint.save()
    assert emit(EventType.RUN_FAILED, {}) is None
    assert not WebhookDelivery.objects.exists()


def test_an_unknown_event_type_is_refused_naming_the_allowed_ones():
    with pytest.raises(ValueError, match=r"event_type='run.done' is invalid: allowed are run.finished, "):
        emit("run.done", {})


def test_a_finished_run_tells_its_status_and_counters():
    endpoint_to("http://127.0.0.1:9/a")
    InvoiceFactory.create_batch(3, due_date=AS_OF - timedelta(days=5))
    log = run()
    [delivery] = deliveries(EventType.RUN_FINISHED)
    data = delivery.payload["data"]["run"]
    assert data["id"] == log.pk
    assert data["status"] == RunStatus.COMPLETED
    assert (data["invoices_processed"], data["notifications_created"], data["error_count"]) == (3, 3, 0)
    assert data["as_of"] == "2026-03-15"
    assert data["finished_at"] is not None


def test_a_failed_run_sends_run_failed_with_its_error(monkeypatch):
    endpoint_to("http://127.0.0.1:9/a")
    InvoiceFactory(due_date=AS_OF - timedelta(days=5))

    def broken(*args, **kwargs):
        raise RuntimeError("the walk broke")

    monkeypatch.setattr("scheduler.services._walk", broken)
    log = run()
    assert log.status == RunStatus.FAILED
    [delivery] = deliveries(EventType.RUN_FAILED)
    assert delivery.payload["data"]["run"]["error"] == "RuntimeError: the walk broke"
    assert not deliveries(EventType.RUN_FINISHED)


def test_a_dry_run_sends_no_event():
    endpoint_to("http://127.0.0.1:9/a")
    InvoiceFactory(due_date=AS_OF - timedelta(days=40))
    run("1,7,30", dry_run=True)
    assert not WebhookDelivery.objects.exists()


def test_reminder_final_for_each_invoice_that_reached_the_last_threshold_only():
    endpoint_to("http://127.0.0.1:9/a", EventType.REMINDER_FINAL)
    final = InvoiceFactory.create_batch(2, due_date=AS_OF - timedelta(days=31))
    InvoiceFactory(due_date=AS_OF - timedelta(days=8))  # level 2 of 3
    run("1,7,30", batch_size=2)
    found = deliveries(EventType.REMINDER_FINAL)
    assert sorted(delivery.payload["data"]["invoice"]["number"] for delivery in found) == sorted(
        invoice.number for invoice in final
    )
    assert len({delivery.event_id for delivery in found}) == 2


def test_reminder_final_payload_written_by_sql_is_the_one_the_orm_path_describes():
    endpoint_to("http://127.0.0.1:9/a", EventType.REMINDER_FINAL)
    invoice = InvoiceFactory(due_date=AS_OF - timedelta(days=31), customer__reference="C-1001")
    run("1,7,30")
    [delivery] = deliveries(EventType.REMINDER_FINAL)
    reminder = Notification.objects.get(invoice=invoice)
    assert delivery.payload["data"] == final_reminder_data(reminder)
    assert delivery.payload["type"] == "reminder.final"
    assert delivery.payload["timestamp"].endswith("Z")


def test_a_run_without_a_final_subscriber_writes_no_event_and_reads_the_endpoints_once_per_run():
    endpoint_to("http://127.0.0.1:9/a", EventType.RUN_FAILED)
    InvoiceFactory.create_batch(4, due_date=AS_OF - timedelta(days=40))
    with CaptureQueriesContext(connection) as captured:
        run("1,7,30", batch_size=1)
    deliveries_table, endpoints_table = WebhookDelivery._meta.db_table, WebhookEndpoint._meta.db_table
    sql = [query["sql"] for query in captured.captured_queries]
    assert not [query for query in sql if f"INSERT INTO {deliveries_table}" in query.replace('"', "")]
    # Once as the run starts (reminder.final), once as it ends (run.finished): not once per batch.
    assert len([query for query in sql if f"FROM {endpoints_table}" in query.replace('"', "")]) == 2
    assert not WebhookDelivery.objects.exists()


def test_a_final_reminder_already_made_gets_no_second_event():
    """A batch's events are those of the reminders its statement inserted: an invoice whose final
    reminder an earlier run made gets none, though it is read and counted with the batch."""
    endpoint_to("http://127.0.0.1:9/a", EventType.REMINDER_FINAL)
    reminded, owed = InvoiceFactory.create_batch(2, due_date=AS_OF - timedelta(days=31))
    NotificationFactory(invoice=reminded, threshold_days=30, level=3, run_id=0)
    log = run("1,7,30")
    [delivery] = deliveries(EventType.REMINDER_FINAL)
    assert delivery.payload["data"]["invoice"]["number"] == owed.number
    assert (log.invoices_processed, log.notifications_created, log.already_notified) == (2, 1, 1)


def test_a_final_reminder_whose_invoice_was_paid_before_the_insert_gets_no_event(monkeypatch):
    """The events are read back from the reminders inserted: the insert's re-check holds for them too.
    In sequence a batch is read, then inserted (at the highest threshold reached one statement does both,
    and no payment falls between them)."""
    endpoint_to("http://127.0.0.1:9/a", EventType.REMINDER_FINAL)
    paid, owed = InvoiceFactory.create_batch(2, due_date=AS_OF - timedelta(days=31))
    from reminders import services

    real_insert = services.reminders_insert

    def paid_meanwhile(**kwargs):
        type(paid).objects.filter(pk=paid.pk).update(amount_paid=paid.total)
        return real_insert(**kwargs)

    monkeypatch.setattr("scheduler.services.reminders_insert", paid_meanwhile)
    run("30", escalation="in_sequence")
    [delivery] = deliveries(EventType.REMINDER_FINAL)
    assert delivery.payload["data"]["invoice"]["number"] == owed.number


def test_message_failed_names_the_message_its_customer_and_invoices():
    endpoint_to("http://127.0.0.1:9/a", EventType.MESSAGE_FAILED)
    reminder = NotificationFactory(run_id=0)
    message = Message.objects.create(
        customer=reminder.invoice.customer, state=MessageState.FAILED, recipient="ap@example.com"
    )
    Notification.objects.filter(pk=reminder.pk).update(delivery=message)
    message_event_emit(event_type=EventType.MESSAGE_FAILED, message_pk=message.pk, reason="550 no such user")
    [delivery] = deliveries(EventType.MESSAGE_FAILED)
    data = delivery.payload["data"]
    assert data["message"]["reason"] == "550 no such user"
    assert data["message"]["id"] == message.pk
    assert data["invoices"] == [reminder.invoice.number]
    assert data["customer"]["id"] == reminder.invoice.customer_id


def test_a_message_the_mail_server_refuses_for_good_sends_message_failed(smtp_settings):
    from reminders.outbox import SendConfig, reminders_send
    from tests.reminders.outbox import pending_reminders

    endpoint_to("http://127.0.0.1:9/a", EventType.MESSAGE_FAILED)
    _kept, gone = pending_reminders(2)
    smtp_settings.start({"reject": [gone.invoice.customer.email]})
    reminders_send(config=SendConfig.from_settings(chunk_size=2, connections=1))
    [delivery] = deliveries(EventType.MESSAGE_FAILED)
    assert delivery.payload["data"]["invoices"] == [gone.invoice.number]
    assert "550" in delivery.payload["data"]["message"]["reason"]
