"""The upgrade to messages (reminders 0008): every reminder's delivery so far becomes a message of one,
with its state, attempts, Message-ID, lease and the text that was sent. Run by Django's migration executor
from the schema just before it, with reminders written as that schema holds them."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from reminders.models import Message, Notification, ReminderTemplate
from tests.invoicing.factories import InvoiceFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("reminders", "0007_outbox_switch")]
SENT_AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
LEASED = datetime(2026, 11, 2, 9, 35, tzinfo=UTC)
COLUMNS = (
    "invoice_id, threshold_days, level, days_overdue, recipient, message, run_id, delivery_state, attempts, "
    "leased_until, last_error, cancel_reason, sent_at, message_id, sent_subject, sent_body, sent_html"
)


@pytest.fixture
def before_messages() -> Iterator[None]:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def legacy(invoice_id: int, threshold: int, state: str, **values: object) -> int:
    row = {
        "invoice_id": invoice_id,
        "threshold_days": threshold,
        "level": 1,
        "days_overdue": threshold,
        "recipient": "ap@customer.example",
        "message": "Dear …",
        "run_id": 1,
        "delivery_state": state,
        "attempts": 0,
        "leased_until": None,
        "last_error": "",
        "cancel_reason": "",
        "sent_at": None,
        "message_id": "",
        "sent_subject": "",
        "sent_body": "",
        "sent_html": "",
        **values,
    }
    names = COLUMNS.split(", ")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO reminders_notification ({COLUMNS}) VALUES ({', '.join(['%s'] * len(names))})",
            [
                connection.ops.adapt_datetimefield_value(row[n]) if isinstance(row[n], datetime) else row[n]
                for n in names
            ],
        )
        cursor.execute("SELECT max(id) FROM reminders_notification")
        return cursor.fetchone()[0]


def upgrade() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_each_reminders_delivery_becomes_a_message_of_one_keeping_its_history(before_messages):
    invoice, other = InvoiceFactory(), InvoiceFactory()
    sent = legacy(
        invoice.pk,
        1,
        "sent",
        attempts=2,
        sent_at=SENT_AT,
        message_id="<reminder-1@shop.example>",
        sent_subject="Invoice overdue",
        sent_body="Dear Acme",
        sent_html="<p>Dear Acme</p>",
        last_error="451 later",
    )
    failed = legacy(
        invoice.pk,
        7,
        "failed",
        attempts=5,
        last_error="550 no such user",
        message_id="<reminder-2@shop.example>",
    )
    cancelled = legacy(other.pk, 1, "cancelled", cancel_reason="paid")
    sending = legacy(
        other.pk, 7, "sending", attempts=1, leased_until=LEASED, message_id="<reminder-4@shop.example>"
    )
    pending = legacy(other.pk, 30, "pending", leased_until=LEASED)

    upgrade()

    messages = {m.reminders.get().pk: m for m in Message.objects.prefetch_related("reminders")}
    assert sorted(messages) == sorted([sent, failed, cancelled, sending, pending])
    m = messages[sent]
    assert (m.state, m.attempts, m.message_id, m.sent_at) == ("sent", 2, "<reminder-1@shop.example>", SENT_AT)
    assert (m.subject, m.text_body, m.html_body, m.recipient) == (
        "Invoice overdue",
        "Dear Acme",
        "<p>Dear Acme</p>",
        "ap@customer.example",
    )
    assert m.customer_id == invoice.customer_id
    assert (messages[failed].state, messages[failed].last_error) == ("failed", "550 no such user")
    assert messages[cancelled].state == "cancelled"
    assert Notification.objects.get(pk=cancelled).cancel_reason == "paid"
    assert (messages[sending].state, messages[sending].leased_until) == ("sending", LEASED)
    assert (messages[pending].state, messages[pending].leased_until) == ("pending", None)
    # The ids continue after the copied ones: a new message does not collide with them.
    assert Message.objects.create(customer=invoice.customer).pk > max(messages)


def test_the_shipped_templates_learn_statements_and_an_edited_one_is_left_alone(before_messages):
    shipped = importlib.import_module("reminders.migrations.0003_default_templates")
    # The table as it was then (no language yet), through the model of that time.
    then = MigrationExecutor(connection).loader.project_state(BEFORE).apps
    Template = then.get_model("reminders", "ReminderTemplate")
    Template.objects.all().delete()  # a test before may have left them changed
    for level, name, subject in shipped.DEFAULTS:
        Template.objects.create(
            level=level,
            name=name,
            subject=subject,
            text_body=shipped.TEXT[level],
            html_body=shipped.HTML[level],
        )
    Template.objects.filter(level=2).update(text_body="Our own words, {{ customer.name }}.")
    upgrade()
    assert "{% for r in reminders %}" in ReminderTemplate.objects.get(level=1, language="en").text_body
    assert (
        ReminderTemplate.objects.get(level=2, language="en").text_body
        == "Our own words, {{ customer.name }}."
    )
    assert "earlier_reminders" in ReminderTemplate.objects.get(level=3, language="en").text_body


def test_the_upgrade_can_be_reversed_keeping_each_reminders_delivery(before_messages):
    invoice = InvoiceFactory()
    sent = legacy(invoice.pk, 1, "sent", attempts=1, sent_at=SENT_AT, message_id="<reminder-9@shop.example>")
    upgrade()
    MigrationExecutor(connection).migrate(BEFORE)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT delivery_state, attempts, message_id FROM reminders_notification WHERE id = %s", [sent]
        )
        assert cursor.fetchone() == ("sent", 1, "<reminder-9@shop.example>")
