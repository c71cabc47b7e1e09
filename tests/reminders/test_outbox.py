"""Sending the outbox to a real SMTP server (SPEC §10, P20 to P22, P24): ``reminders_send`` in this
process, the server in its own (``smtp_server.py``), the database real."""

from __future__ import annotations

import random
import signal
import threading
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from invoicing.models import Invoice, InvoiceStatus
from reminders.channels.email import EmailChannel
from reminders.models import Message, MessageState, Notification
from reminders.outbox import SendConfig, SendReport, _Desk, _Sender, recheck_rows, reminders_send
from tests.invoicing.factories import CustomerFactory
from tests.processes import wait_until
from tests.reminders.outbox import customer_reminders, make_due, message_of, mid, pending_reminders, states

pytestmark = pytest.mark.django_db

SENT, PENDING, FAILED, CANCELLED = (
    MessageState.SENT,
    MessageState.PENDING,
    MessageState.FAILED,
    MessageState.CANCELLED,
)


def config(**overrides) -> SendConfig:
    return SendConfig.from_settings(**overrides)


def test_each_pending_reminder_is_received_once_with_its_message_id(smtp_settings):
    reminders = pending_reminders(5)
    report = reminders_send(config=config(chunk_size=2))
    assert (report.sent, report.tried, report.chunks) == (5, 5, 3)
    assert smtp_settings.message_ids() == {mid(reminder): 1 for reminder in reminders}
    assert set(states(reminders).values()) == {SENT}


def test_message_ids_are_derived_from_the_message(smtp_settings):
    [reminder] = pending_reminders(1)
    reminders_send()
    message = message_of(reminder)
    assert message.message_id == f"<message-{message.pk}@shop.example>"


def test_what_was_sent_is_stored_on_the_message(smtp_settings):
    [reminder] = pending_reminders(1, name="Ada Lovelace")
    reminders_send()
    message = message_of(reminder)
    [received] = smtp_settings.messages()
    assert message.message_id == received["message_id"]
    assert message.subject == received["subject"]
    assert "Dear Ada Lovelace" in message.text_body
    assert "<p>Dear Ada Lovelace,</p>" in message.html_body
    assert message.sent_at is not None
    assert (message.attempts, message.recipient) == (1, reminder.invoice.customer.email)
    assert received["rcpt_tos"] == [reminder.invoice.customer.email]


@pytest.mark.parametrize("connections", [1, 2])
def test_a_chunk_is_sent_over_one_connection(smtp_settings, connections):
    reminders = pending_reminders(6)
    reminders_send(config=config(chunk_size=3, connections=connections))
    used = {message["message_id"]: message["connection"] for message in smtp_settings.messages()}
    for chunk in (reminders[:3], reminders[3:]):
        assert len({used[mid(reminder)] for reminder in chunk}) == 1


def test_one_connection_carries_chunk_after_chunk(smtp_settings):
    pending_reminders(6)
    report = reminders_send(config=config(chunk_size=2, connections=1))
    assert (report.sent, report.chunks) == (6, 3)
    assert len({message["connection"] for message in smtp_settings.messages()}) == 1


def test_a_connection_is_replaced_after_its_most_messages(smtp_settings, monkeypatch):
    from reminders.channels import email

    monkeypatch.setattr(email, "MESSAGES_PER_CONNECTION", 4)
    pending_reminders(8)
    reminders_send(config=config(chunk_size=2, connections=1))
    connections = [message["connection"] for message in smtp_settings.messages()]
    assert len(set(connections[:4])) == len(set(connections[4:])) == 1
    assert connections[0] != connections[4]


def test_connection_the_server_closed_between_chunks_is_replaced_without_a_retry(smtp_settings):
    smtp_settings.start({"close_after": 2})
    reminders = pending_reminders(6)
    report = reminders_send(config=config(chunk_size=2, connections=1))
    assert (report.sent, report.retried, report.failed) == (6, 0, 0)
    assert smtp_settings.message_ids() == {mid(reminder): 1 for reminder in reminders}
    assert set(Message.objects.values_list("attempts", flat=True)) == {1}
    assert len({message["connection"] for message in smtp_settings.messages()}) == 3


def test_chunks_go_out_over_several_connections_at_once(smtp_settings):
    """With two connections, the server sees a second chunk begin before the first has ended."""
    smtp_settings.start({"delay": 0.05})
    reminders = pending_reminders(8)
    report = reminders_send(config=config(chunk_size=4, connections=2))
    assert report.sent == 8
    order = [message["connection"] for message in smtp_settings.messages()]
    first_chunk_ends = max(position for position, used in enumerate(order) if used == order[0])
    assert any(used != order[0] for used in order[:first_chunk_ends])
    assert smtp_settings.message_ids() == {mid(reminder): 1 for reminder in reminders}


def test_queries_per_message_do_not_grow_with_the_chunk(smtp_settings):
    """Each message costs one re-check and at most one outcome write (written in batches: on PostgreSQL
    one statement per batch, elsewhere one per message in a transaction per batch); everything else is
    per chunk, whatever its size."""
    recheck = str(recheck_rows(0, "").query)[:80]

    def queries(size: int) -> tuple[int, int, int]:
        pending_reminders(size)
        with CaptureQueriesContext(connection) as captured:
            reminders_send(config=config(chunk_size=size, connections=1))
        sql = [query["sql"] for query in captured.captured_queries if "SAVEPOINT" not in query["sql"]]
        rechecks = sum(statement.startswith(recheck) for statement in sql)
        writes = sum(
            statement.startswith('UPDATE "reminders_message"') and 'SET "attempts" = ' in statement
            for statement in sql
        )
        return rechecks, writes, len(sql) - rechecks - writes

    small, large = queries(3), queries(12)
    assert (small[0], large[0]) == (3, 12)
    if connection.vendor == "postgresql":
        assert 1 <= small[1] <= 3
        assert 1 <= large[1] <= 12
    else:
        assert (small[1], large[1]) == (3, 12)
    assert small[2] == large[2]


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepare", [True, False])
def test_the_re_check_and_the_writes_are_prepared_on_the_connection_as_the_setting_says(
    smtp_settings, settings, prepare
):
    """Django leaves psycopg's preparing off; the sender's per-message statements are prepared all the
    same, unless ``DATABASE_PREPARED_STATEMENTS`` is off."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    settings.DATABASE_PREPARED_STATEMENTS = prepare
    connection.close()  # a fresh connection: nothing prepared on it yet
    pending_reminders(3)
    assert reminders_send(config=config(connections=1)).sent == 3
    prepared = prepared_statements()
    rechecks = [sql for sql in prepared if '"cancel_reason" AS "cancel_reason"' in sql]
    writes = [sql for sql in prepared if sql.startswith('UPDATE "reminders_message" AS m SET')]
    assert (len(rechecks), len(writes)) == ((1, 1) if prepare else (0, 0))


@pytest.mark.django_db(transaction=True)
def test_the_re_check_is_planned_for_each_message_not_once_for_the_connections_life(smtp_settings):
    """A generic plan, made when the message table is small, would scan that table for every reminder
    once it has grown (``SENDER_SESSION``): every execution of the re-check gets a plan of its own, and
    the session is as it was once the sending ends."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    connection.close()
    pending_reminders(9)
    seen: list[tuple[str, str]] = []

    def clock() -> datetime:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('plan_cache_mode'), current_setting('synchronous_commit')")
            seen.append(cursor.fetchone())
        return timezone.now()

    assert reminders_send(config=config(connections=1, chunk_size=9), clock=clock).sent == 9
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ['%"cancel_reason" AS "cancel_reason"%'],
        )
        assert cursor.fetchall() == [(0, 9)]
        cursor.execute("SELECT current_setting('plan_cache_mode'), current_setting('synchronous_commit')")
        assert cursor.fetchone() == ("auto", "on")
    assert seen
    assert set(seen) == {("force_custom_plan", "off")}


def test_limit_stops_after_that_many_messages(smtp_settings):
    reminders = pending_reminders(5)
    report = reminders_send(limit=3, config=config(chunk_size=2))
    assert report.tried == 3
    assert list(states(reminders).values()).count(PENDING) == 2


# --- statements (REMINDER_GROUPING) ---


def test_a_customers_due_reminders_go_out_in_one_statement(smtp_settings):
    customer = CustomerFactory(name="Initech")
    reminders = customer_reminders(customer, 3)
    other = pending_reminders(1)
    report = reminders_send()
    assert report.sent == 2
    assert len({message_of(reminder).pk for reminder in reminders}) == 1
    statement = message_of(reminders[0])
    assert statement.reminders.count() == 3
    for reminder in reminders:
        assert reminder.invoice.number in statement.text_body
        assert reminder.invoice.number in statement.html_body
    assert smtp_settings.message_ids() == {statement.message_id: 1, mid(other[0]): 1}


def test_grouping_by_invoice_sends_one_message_per_reminder(smtp_settings):
    customer = CustomerFactory()
    reminders = customer_reminders(customer, 3)
    report = reminders_send(config=config(grouping="invoice"))
    assert report.sent == 3
    assert len({message_of(reminder).pk for reminder in reminders}) == 3


def test_statement_lists_each_invoice_totals_per_currency_and_other_overdue_invoices_apart(smtp_settings):
    customer = CustomerFactory(name="Initech")
    [eur, usd] = customer_reminders(customer, 2)
    Invoice.objects.filter(pk=eur.invoice_id).update(currency="EUR", total=Decimal("100.00"))
    Invoice.objects.filter(pk=usd.invoice_id).update(currency="USD", total=Decimal("250.50"))
    from tests.invoicing.factories import InvoiceFactory

    older = InvoiceFactory(
        customer=customer, due_date=timezone.localdate() - timedelta(days=3), number="OLD-1"
    )
    reminders_send()
    text = message_of(eur).text_body
    html = message_of(eur).html_body
    for body in (text, html):
        assert "€100.00" in body
        assert "$250.50" in body
        assert older.number in body
    assert text.index(older.number) > text.index(usd.invoice.number)


def test_statement_tone_is_its_highest_levels_template(smtp_settings):
    customer = CustomerFactory()
    customer_reminders(customer, 1, level=1)
    [final] = customer_reminders(customer, 1, level=3)
    reminders_send()
    assert message_of(final).subject.startswith("Final notice")


def test_reminders_of_a_run_still_running_wait_for_it(smtp_settings):
    from scheduler.models import JobExecutionLog, RunStatus
    from tests.scheduler.factories import JobExecutionLogFactory

    run = JobExecutionLogFactory(status=RunStatus.RUNNING, finished_at=None)
    customer = CustomerFactory()
    reminders = customer_reminders(customer, 2)
    Notification.objects.filter(pk=reminders[1].pk).update(run_id=run.pk)
    Notification.objects.filter(pk=reminders[0].pk).update(run_id=run.pk)
    assert reminders_send().tried == 0
    JobExecutionLog.objects.filter(pk=run.pk).update(status=RunStatus.COMPLETED, finished_at=timezone.now())
    assert reminders_send().sent == 1
    assert message_of(reminders[0]).pk == message_of(reminders[1]).pk


def test_new_reminders_of_a_customer_wait_while_its_message_is_retried(smtp_settings):
    smtp_settings.start({"rcpt_451_first": 1})
    customer = CustomerFactory()
    [first] = customer_reminders(customer, 1)
    assert reminders_send().retried == 1
    [second] = customer_reminders(customer, 1, level=2)
    assert reminders_send().tried == 0
    make_due()
    assert reminders_send().sent == 1
    assert reminders_send().sent == 1
    assert message_of(first).pk != message_of(second).pk


# --- the re-check just before each message (P21) ---


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"status": InvoiceStatus.PAID, "amount_paid": Decimal("100.00")}, "paid"),
        ({"status": InvoiceStatus.VOID}, "void"),
        ({"amount_paid": Decimal("100.00")}, "zero balance"),
    ],
)
def test_invoice_settled_after_the_run_is_cancelled_and_not_sent(smtp_settings, change, reason):
    """P21: a reminder re-checked as paid or void is cancelled with the reason, never sent."""
    [reminder, other] = pending_reminders(2)
    Invoice.objects.filter(pk=reminder.invoice_id).update(**change)
    report = reminders_send()
    reminder.refresh_from_db()
    assert reminder.cancel_reason == reason
    assert message_of(reminder).state == CANCELLED
    assert (report.sent, report.cancelled) == (1, 1)
    assert list(smtp_settings.message_ids()) == [mid(other)]


def test_invoice_paid_between_run_and_send_is_left_out_of_the_statement(smtp_settings):
    customer = CustomerFactory()
    [paid, owed] = customer_reminders(customer, 2)
    Invoice.objects.filter(pk=paid.invoice_id).update(
        status=InvoiceStatus.PAID, amount_paid=Decimal("100.00")
    )
    assert reminders_send().sent == 1
    statement = message_of(owed)
    paid.refresh_from_db()
    assert paid.cancel_reason == "paid"
    assert paid.delivery_id == statement.pk  # it stays on record in the message it left
    assert paid.invoice.number not in statement.text_body
    assert owed.invoice.number in statement.text_body


def test_statement_all_paid_is_cancelled_and_nothing_sent(smtp_settings):
    customer = CustomerFactory()
    reminders = customer_reminders(customer, 2)
    Invoice.objects.filter(customer=customer).update(status=InvoiceStatus.PAID, amount_paid=Decimal("100.00"))
    report = reminders_send()
    assert (report.sent, report.cancelled, report.reminders_cancelled) == (0, 1, 2)
    assert message_of(reminders[0]).state == CANCELLED
    assert smtp_settings.messages() == []


def test_payment_committed_while_the_chunk_is_on_the_wire_stops_the_later_message(smtp_settings):
    """The re-check reads each message's invoices just before it goes out, not when the chunk was
    claimed: a payment committed once the first message was accepted is seen by the second."""
    [first, second] = pending_reminders(2)

    def clock():
        # Read by the sender just before each message's re-check (on its own thread and connection).
        if len(smtp_settings.messages()) == 1:
            Invoice.objects.filter(pk=second.invoice_id).update(
                status=InvoiceStatus.PAID, amount_paid=Decimal("100.00")
            )
        return timezone.now()

    report = reminders_send(config=config(chunk_size=2, connections=1), clock=clock)
    second.refresh_from_db()
    assert (report.sent, report.cancelled, report.chunks) == (1, 1, 1)
    assert second.cancel_reason == "paid"
    assert list(smtp_settings.message_ids()) == [mid(first)]


def test_paused_customer_is_cancelled_and_not_sent(smtp_settings):
    [reminder] = pending_reminders(1, reminders_paused=False)
    reminder.invoice.customer.reminders_paused = True
    reminder.invoice.customer.save()
    reminders_send()
    reminder.refresh_from_db()
    assert (message_of(reminder).state, reminder.cancel_reason) == (CANCELLED, "paused")
    assert smtp_settings.messages() == []


def test_customer_without_email_is_cancelled(smtp_settings):
    [reminder] = pending_reminders(1)
    type(reminder.invoice.customer).objects.filter(pk=reminder.invoice.customer_id).update(email="")
    reminders_send()
    reminder.refresh_from_db()
    assert reminder.cancel_reason == "no email"


def test_message_goes_to_the_customers_address_as_it_is_when_built(smtp_settings):
    [reminder] = pending_reminders(1)
    customer = reminder.invoice.customer
    customer.email = "new-address@example.com"
    customer.save()
    reminders_send()
    [received] = smtp_settings.messages()
    assert received["rcpt_tos"] == ["new-address@example.com"]
    assert message_of(reminder).recipient == "new-address@example.com"
    reminder.refresh_from_db()
    assert reminder.recipient != "new-address@example.com"  # the reminder keeps its history


# --- outcomes (P22) ---


def test_451_at_rcpt_retries_later_with_the_same_message_id(smtp_settings):
    """P22: a transient refusal is retried with backoff, and the retry is the same message."""
    smtp_settings.start({"rcpt_451_first": 1})
    [first, second] = pending_reminders(2)
    # One connection: the first message offered is the first one's (two would race for the 451).
    report = reminders_send(config=config(retry_base=timedelta(minutes=1), connections=1))
    message = message_of(first)
    assert (report.sent, report.retried) == (1, 1)
    assert (message.state, message.attempts) == (PENDING, 1)
    assert "451" in message.last_error
    assert timedelta(minutes=1) <= message.next_attempt_at - timezone.now() <= timedelta(minutes=1.3)
    assert reminders_send().tried == 0  # not due yet
    make_due()
    assert reminders_send().sent == 1
    assert smtp_settings.message_ids() == {mid(first): 1, mid(second): 1}
    assert message_of(first).message_id == message.message_id


def test_451_at_end_of_data_retries_later_and_then_delivers_once(smtp_settings):
    smtp_settings.start({"data_451_first": 2})
    reminders = pending_reminders(3)
    assert reminders_send().retried == 2
    make_due()
    assert reminders_send().sent == 2
    assert smtp_settings.message_ids() == {mid(reminder): 1 for reminder in reminders}


def test_5xx_at_end_of_data_fails_that_message_at_once_and_the_rest_goes_out(smtp_settings):
    reminders = pending_reminders(4)
    refused = reminders[1]
    smtp_settings.start({"data_reject": [refused.invoice.customer.email]})
    report = reminders_send(config=config(chunk_size=4, connections=1))
    message = message_of(refused)
    assert (report.sent, report.failed, report.retried) == (3, 1, 0)
    assert (message.state, message.attempts) == (FAILED, 1)
    assert "554" in message.last_error
    assert set(smtp_settings.message_ids()) == {mid(r) for r in reminders if r != refused}


def test_dropped_connection_mid_data_sends_the_rest_over_a_new_connection(smtp_settings):
    smtp_settings.start({"drop_after": 2})
    reminders = pending_reminders(5)
    report = reminders_send(config=config(chunk_size=5, connections=1))
    assert (report.sent, report.retried) == (4, 1)
    dropped = Message.objects.get(state=PENDING)
    assert dropped.attempts == 1  # it was offered
    make_due()
    assert reminders_send().sent == 1
    assert smtp_settings.message_ids() == {mid(reminder): 1 for reminder in reminders}


def test_421_after_n_messages_per_connection_spends_no_attempt(smtp_settings):
    """Exim's smtp_accept_max_per_connection: the server refuses the next MAIL with 421 and closes.
    The message never reached it: it goes over a new connection, no attempt spent."""
    smtp_settings.start({"max_per_connection": 3})
    reminders = pending_reminders(10)
    report = reminders_send(config=config(chunk_size=10, connections=1))
    assert (report.sent, report.retried, report.failed) == (10, 0, 0)
    assert set(Message.objects.values_list("attempts", flat=True)) == {1}
    assert smtp_settings.message_ids() == {mid(reminder): 1 for reminder in reminders}
    assert len({message["connection"] for message in smtp_settings.messages()}) == 4


def test_550_for_one_recipient_fails_it_and_delivers_the_rest_of_the_chunk(smtp_settings):
    """P22: a permanent refusal fails at once; the chunk goes on."""
    reminders = pending_reminders(4)
    gone = reminders[1]
    smtp_settings.start({"reject": [gone.invoice.customer.email]})
    report = reminders_send(config=config(chunk_size=4))
    message = message_of(gone)
    assert (report.sent, report.failed) == (3, 1)
    assert (message.state, message.attempts) == (FAILED, 1)
    assert "550" in message.last_error
    assert set(smtp_settings.message_ids()) == {mid(r) for r in reminders if r != gone}


def test_transient_errors_fail_the_message_after_the_last_allowed_attempt(smtp_settings):
    smtp_settings.start({"rcpt_451_first": 100})
    [reminder] = pending_reminders(1)
    for _ in range(3):
        reminders_send(config=config(max_attempts=3))
        make_due()
    message = message_of(reminder)
    assert (message.state, message.attempts) == (FAILED, 3)
    assert "attempt 3 of 3" in message.last_error


def test_mail_server_down_loses_nothing_spends_no_attempt_and_delivers_once_it_is_back(smtp_settings):
    reminders = pending_reminders(3)
    smtp_settings.stop()
    report = reminders_send()
    assert report.deferred == 3
    assert set(states(reminders).values()) == {PENDING}
    assert set(Message.objects.values_list("attempts", flat=True)) == {0}
    assert "No connection to the mail server" in Message.objects.first().last_error
    smtp_settings.start()
    make_due()
    assert reminders_send().sent == 3
    assert smtp_settings.message_ids() == {mid(reminder): 1 for reminder in reminders}


def test_slow_server_past_the_timeout_is_a_transient_error(smtp_settings, settings):
    settings.EMAIL_TIMEOUT = 1
    smtp_settings.start({"delay": 3})
    [reminder] = pending_reminders(1)
    assert reminders_send().retried == 1
    assert "timed out" in message_of(reminder).last_error


def test_customer_name_with_a_line_break_adds_no_header(smtp_settings):
    [reminder] = pending_reminders(1, name="Mallory\r\nBcc: thief@evil.example\r\nX-Injected: yes")
    report = reminders_send()
    [received] = smtp_settings.messages()
    names = [name.lower() for name, _ in received["headers"]]
    assert report.sent == 1
    assert "x-injected" not in names
    assert "bcc" not in names
    assert received["rcpt_tos"] == [reminder.invoice.customer.email]
    assert "\n" not in received["subject"]


def test_address_with_a_line_break_fails_alone_without_stopping_the_chunk(smtp_settings):
    [bad, good] = pending_reminders(2)
    type(bad.invoice.customer).objects.filter(pk=bad.invoice.customer_id).update(
        email="a@example.com\r\nBcc: thief@evil.example"
    )
    report = reminders_send()
    assert (report.sent, report.failed) == (1, 1)
    assert message_of(bad).state == FAILED
    assert "could not be built" in message_of(bad).last_error
    assert list(smtp_settings.message_ids()) == [mid(good)]


def test_unicode_mailbox_goes_out_with_smtputf8_when_the_server_offers_it(smtp_settings):
    smtp_settings.start({"smtputf8": True})
    pending_reminders(1, email="jörg.müller@example.test")
    assert reminders_send().sent == 1
    [received] = smtp_settings.messages()
    assert received["rcpt_tos"] == ["jörg.müller@example.test"]
    assert "SMTPUTF8" in received["mail_options"]
    assert "To: jörg.müller@example.test" in received["raw"]


def test_unicode_mailbox_to_a_server_without_smtputf8_fails_with_that_reason(smtp_settings):
    [reminder, other] = pending_reminders(2, email="jörg.müller@example.test")
    type(other.invoice.customer).objects.filter(pk=other.invoice.customer_id).update(
        email="plain@example.test"
    )
    report = reminders_send(config=config(connections=1))
    message = message_of(reminder)
    assert (report.sent, report.failed) == (1, 1)
    assert message.state == FAILED
    assert "SMTPUTF8" in message.last_error
    assert list(smtp_settings.message_ids()) == [mid(other)]


def test_bcc_copy_goes_to_the_billing_office_without_a_bcc_header(smtp_settings, settings):
    settings.REMINDER_BCC = ["office@shop.example"]
    [reminder] = pending_reminders(1)
    reminders_send()
    [received] = smtp_settings.messages()
    assert received["rcpt_tos"] == [reminder.invoice.customer.email, "office@shop.example"]
    assert "bcc" not in [name.lower() for name, _ in received["headers"]]


def test_refused_bcc_copy_is_recorded_on_the_sent_message(smtp_settings, settings):
    settings.REMINDER_BCC = ["office@shop.example"]
    smtp_settings.start({"rcpt_452": ["office@shop.example"]})
    [reminder] = pending_reminders(1)
    assert reminders_send().sent == 1
    message = message_of(reminder)
    assert message.state == SENT
    assert "452" in message.refused_copies
    assert "office@shop.example" in message.refused_copies


def test_customer_refused_while_the_bcc_copy_is_accepted_is_not_sent(smtp_settings, settings):
    settings.REMINDER_BCC = ["office@shop.example"]
    [reminder] = pending_reminders(1)
    smtp_settings.start({"reject": [reminder.invoice.customer.email]})
    assert reminders_send().failed == 1
    assert message_of(reminder).state == FAILED


# --- leases and claims (P20) ---


def claimed_by_another(reminders, *, until) -> Message:
    """The reminders in one message another sender holds until ``until``."""
    message = Message.objects.create(
        customer=reminders[0].invoice.customer,
        state=MessageState.SENDING,
        leased_until=until,
        claim_token="another-sender",
        message_id="<message-other@shop.example>",
    )
    Notification.objects.filter(pk__in=[r.pk for r in reminders]).update(delivery=message)
    return message


def test_message_leased_to_another_sender_is_left_alone_until_the_lease_expires(smtp_settings):
    reminders = pending_reminders(1)
    message = claimed_by_another(reminders, until=timezone.now() + timedelta(minutes=5))
    assert reminders_send().tried == 0
    Message.objects.filter(pk=message.pk).update(leased_until=timezone.now() - timedelta(seconds=1))
    assert reminders_send().sent == 1
    message.refresh_from_db()
    assert (message.state, message.attempts) == (SENT, 1)
    assert smtp_settings.message_ids() == {"<message-other@shop.example>": 1}


def test_an_outcome_written_after_the_claim_was_lost_changes_nothing(smtp_settings):
    """A second sender takes the message over (the first's lease ran out) before the first records
    its outcome: the first sender's write must leave the second's claim as it is."""
    [reminder] = pending_reminders(1)

    def clock():
        # Read by the sender as it records the outcome, once the server accepted the message.
        if smtp_settings.messages():
            Message.objects.filter(state=MessageState.SENDING).update(claim_token="second-sender")
        return timezone.now()

    report = reminders_send(config=config(connections=1), clock=clock)
    message = message_of(reminder)
    assert (message.state, message.claim_token, message.attempts) == (
        MessageState.SENDING,
        "second-sender",
        0,
    )
    assert message.sent_at is None
    assert (report.sent, report.lost) == (0, 1)


def test_lease_is_renewed_as_messages_go_out_so_no_one_else_can_claim_the_chunk(smtp_settings, settings):
    """A chunk that takes longer than its lease: the lease is kept alive, never expired in between."""
    settings.EMAIL_TIMEOUT = 1
    smtp_settings.start({"delay": 0.4})
    reminders = pending_reminders(6)
    seen_expired = []

    def watch() -> None:
        while not seen_expired and Message.objects.exclude(state=SENT).exists():
            now = timezone.now()
            seen_expired.extend(Message.objects.filter(state=MessageState.SENDING, leased_until__lt=now))

    # seconds_per_message = 4 s at a 1 s timeout; a 5 s lease covers one message, not the chunk.
    watcher = threading.Thread(target=watch)
    watcher.start()
    report = reminders_send(config=config(chunk_size=6, connections=1, lease=timedelta(seconds=5)))
    watcher.join()
    assert report.sent == 6
    assert report.released == 0
    assert seen_expired == []
    assert smtp_settings.message_ids() == {mid(reminder): 1 for reminder in reminders}


def test_a_lease_shorter_than_one_message_may_take_sends_nothing_and_says_why(smtp_settings, settings):
    settings.EMAIL_TIMEOUT = 5
    pending_reminders(2)
    report = reminders_send(config=config(lease=timedelta(seconds=10)))
    assert report.sent == 0
    assert any("REMINDER_LEASE_SECONDS=10" in error for error in report.errors)
    assert set(Message.objects.values_list("state", flat=True)) == {PENDING}


def test_retries_of_a_chunk_are_spread_by_jitter(smtp_settings):
    smtp_settings.start({"rcpt_451_first": 100})
    pending_reminders(5)
    reminders_send(config=config(retry_base=timedelta(minutes=1)), rng=random.Random(7))
    times = set(Message.objects.values_list("next_attempt_at", flat=True))
    assert len(times) == 5


def test_the_messages_of_a_chunk_share_their_attempt_time_and_chunks_differ(smtp_settings):
    reminders = pending_reminders(4)
    reminders_send(config=config(chunk_size=2, connections=1))
    times = [message_of(reminder).last_attempt_at for reminder in reminders]
    assert None not in times
    assert times[0] == times[1]
    assert times[2] == times[3]
    assert times[1] < times[2]


def test_a_failure_of_this_thread_records_what_was_sent_gives_back_the_rest_and_propagates(smtp_settings):
    smtp_settings.start({"delay": 0.2})
    reminders = pending_reminders(6)
    calls = 0

    def clock():
        nonlocal calls
        calls += 1
        if calls > 8:
            raise RuntimeError("the clock stopped")
        return timezone.now()

    with pytest.raises(RuntimeError, match="the clock stopped"):
        reminders_send(config=config(chunk_size=2, connections=1), clock=clock)
    found = states(reminders)
    sent = {mid(reminder) for reminder in reminders if found[reminder.pk] == SENT}
    assert smtp_settings.message_ids() == dict.fromkeys(sent, 1)
    assert set(found.values()) <= {SENT, PENDING}
    assert not Message.objects.filter(state=MessageState.SENDING).exists()


@pytest.mark.django_db(transaction=True)
def test_ctrl_c_stops_after_the_message_in_progress_and_leaves_nothing_sending(smtp_settings):
    """SIGINT while one chunk is on the wire: it stops after the message in progress, what was
    accepted is recorded and the rest is pending again at once (no attempt spent); the interrupt
    propagates."""
    smtp_settings.start({"delay": 0.3})
    reminders = pending_reminders(9)
    main = threading.main_thread().ident
    assert main is not None

    def interrupt_after_the_first_message() -> None:
        if wait_until(lambda: len(smtp_settings.messages()) >= 1, timeout=10, interval=0.01):
            signal.pthread_kill(main, signal.SIGINT)

    # Ctrl-C as in a fresh process, whatever an earlier test of this process left as its handler.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupter = threading.Thread(target=interrupt_after_the_first_message)
    interrupter.start()
    report = SendReport()
    try:
        with pytest.raises(KeyboardInterrupt):
            reminders_send(config=config(chunk_size=3, connections=1), report=report)
    finally:
        interrupter.join()
        signal.signal(signal.SIGINT, previous)
    found = states(reminders)
    assert found[reminders[0].pk] == SENT
    assert [found[reminder.pk] for reminder in reminders[2:]] == [PENDING] * 7
    received = smtp_settings.message_ids()
    sent = [r for r in reminders if found[r.pk] == SENT]
    assert set(received) == {mid(r) for r in sent}
    assert set(received.values()) == {1}
    assert report.awaiting_lease == 0
    assert not Message.objects.filter(state=MessageState.SENDING).exists()
    assert set(Message.objects.filter(state=PENDING).values_list("attempts", flat=True)) == {0}


def test_channel_is_told_nothing_of_the_database(smtp_settings):
    """The seam: a channel sees only what it sends."""
    channel = EmailChannel(from_email="billing@shop.example", bcc=())
    pending_reminders(2)
    assert reminders_send(channel=channel).sent == 2


@pytest.mark.parametrize(("first_state", "says_earlier"), [(SENT, True), (CANCELLED, False), (FAILED, False)])
def test_a_firm_notice_speaks_of_earlier_reminders_only_when_one_was_sent(
    smtp_settings, first_state, says_earlier
):
    """Going live on a backlog: the first contact may be at level 2; it must not claim reminders that
    were never sent."""
    from tests.reminders.factories import MessageFactory, NotificationFactory

    [first] = pending_reminders(1)
    message = MessageFactory(customer=first.invoice.customer, state=first_state)
    Notification.objects.filter(pk=first.pk).update(delivery=message)
    second = NotificationFactory(invoice=first.invoice, threshold_days=7, level=2, days_overdue=10, run_id=0)
    assert reminders_send().sent == 1
    sent = message_of(second)
    assert ("earlier reminder" in sent.text_body) is says_earlier
    assert ("earlier reminder" in sent.html_body) is says_earlier


def test_a_reminder_sent_earlier_in_the_same_chunk_counts_as_an_earlier_reminder(smtp_settings):
    """One message per reminder, two reminders of one invoice in one chunk: the second message is
    re-checked after the first was sent, and speaks of it, although outcomes are written in batches."""
    from tests.reminders.factories import NotificationFactory

    [first] = pending_reminders(1)
    NotificationFactory(invoice=first.invoice, threshold_days=7, level=2, days_overdue=10, run_id=0)
    report = reminders_send(config=config(connections=1, grouping="invoice"))
    assert report.sent == 2
    second = Message.objects.get(reminders__level=2)
    assert "despite our earlier reminder," in second.text_body
    assert "earlier reminder" not in message_of(first).text_body


@pytest.mark.parametrize("state", [SENT, FAILED])
def test_the_compiled_re_check_reads_what_its_queryset_reads(state):
    """On PostgreSQL the re-check runs ``recheck_rows`` compiled once: the same rows, the same values,
    for a held claim (with an earlier reminder of the invoice in a message ``state``) and a lost one."""
    if connection.vendor != "postgresql":
        pytest.skip("the compiled re-check is PostgreSQL's")
    from reminders.outbox import recheck
    from tests.reminders.factories import MessageFactory, NotificationFactory

    customer = CustomerFactory()
    reminders = customer_reminders(customer, 3)
    earlier = NotificationFactory(invoice=reminders[0].invoice, threshold_days=30, level=3, run_id=0)
    Notification.objects.filter(pk=earlier.pk).update(delivery=MessageFactory(customer=customer, state=state))
    held = Message.objects.create(customer=customer, state=MessageState.SENDING, claim_token="held")
    Notification.objects.filter(pk__in=[r.pk for r in reminders]).update(delivery=held)
    Invoice.objects.filter(pk=reminders[1].invoice_id).update(status=InvoiceStatus.PAID)

    rows = recheck(held.pk, "held")
    assert rows == list(recheck_rows(held.pk, "held"))
    assert [row["earlier_reminders"] for row in rows] == [1 if state == SENT else 0, 0, 0]
    assert rows[1]["status"] == InvoiceStatus.PAID
    assert recheck(held.pk, "another") == [] == list(recheck_rows(held.pk, "another"))


def test_an_outbox_smaller_than_a_chunk_per_connection_is_shared_by_every_connection(smtp_settings):
    """Eight customers due, chunks of 100 and four connections: each connection carries a chunk of two,
    at the same time, rather than one connection carrying all eight."""
    smtp_settings.start({"delay": 0.2})
    reminders = pending_reminders(8)
    report = reminders_send(config=config(chunk_size=100, connections=4))
    assert (report.sent, report.chunks) == (8, 4)
    assert len({message["connection"] for message in smtp_settings.messages()}) == 4
    assert smtp_settings.message_ids() == {mid(reminder): 1 for reminder in reminders}


def test_idle_connections_get_their_chunks_from_one_claim_and_each_renews_only_its_own(smtp_settings):
    """Three connections without a chunk: one claim (one claim token) cut into three chunks of about the
    same length, every message in one of them; renewing one chunk's lease leaves its siblings' as they
    were, so each chunk still knows when its own lease runs short."""
    reminders = pending_reminders(7)
    sender = _Sender(config(chunk_size=100, connections=3), timezone.now, random.Random(1), SendReport())
    chunks = sender._claim(7, parts=3)
    assert chunks is not None
    assert sorted(len(chunk.messages) for chunk in chunks) == [2, 2, 3]
    assert len({chunk.token for chunk in chunks}) == 1
    claimed = sorted(claimed.id for chunk in chunks for claimed in chunk.messages)
    assert claimed == sorted(message_of(reminder).pk for reminder in reminders)
    leases = dict(Message.objects.values_list("id", "leased_until"))
    assert sender.renew(chunks[0])
    renewed = dict(Message.objects.values_list("id", "leased_until"))
    own = {claimed.id for claimed in chunks[0].messages}
    assert all(renewed[pk] > leases[pk] for pk in own)
    assert all(renewed[pk] == leases[pk] for pk in renewed.keys() - own)


def test_fewer_customers_than_connections_make_one_chunk_each(smtp_settings):
    pending_reminders(2)
    sender = _Sender(config(chunk_size=100, connections=4), timezone.now, random.Random(1), SendReport())
    chunks = sender._claim(400, parts=4)
    assert chunks is not None
    assert [len(chunk.messages) for chunk in chunks] == [1, 1]
    assert sender._claim(400, parts=4) is None


def test_a_template_that_fails_on_one_messages_data_fails_that_message_alone(smtp_settings):
    """A stored template that compiles but fails when rendered for one customer (here an include of a
    file that does not exist, reached only for that customer): that message fails at once with the
    reason, no attempt spent, nothing sent for it; the other customers' messages go out."""
    from reminders.models import ReminderTemplate

    for template in ReminderTemplate.objects.filter(level=1):
        template.text_body = (
            '{% if customer.name == "Boom Ltd" %}{% include "no/such/file.txt" %}{% endif %}'
            + template.text_body
        )
        template.save()
    fine = pending_reminders(2)
    [boom] = pending_reminders(1, name="Boom Ltd")
    report = reminders_send(config=config(connections=2))
    assert (report.sent, report.failed) == (2, 1)
    failed = message_of(boom)
    assert failed.state == FAILED
    assert failed.last_error.startswith("The template could not be rendered: TemplateDoesNotExist")
    assert failed.attempts == 0
    assert smtp_settings.message_ids() == {mid(reminder): 1 for reminder in fine}


def _taken_off_the_queue(desk: _Desk) -> None:
    """What ``serve`` does just before a stop's exception is raised in it: the next question is taken off
    the queue, and never answered there."""
    while desk.requests.get(timeout=5) is None:
        pass


def test_a_question_and_news_a_stop_dropped_off_the_queue_are_still_handled():
    """SIGTERM is raised in the database's thread wherever it is, also just as ``serve`` took a channel
    thread's question off the queue: the stop then handles what was dropped, so the channel thread is
    answered (and goes on to give back its chunk) instead of waiting for the lease."""
    desk = _Desk()
    answers: list[int] = []
    asking = threading.Thread(target=lambda: answers.append(desk.ask(lambda: 42)))
    asking.start()
    _taken_off_the_queue(desk)
    told: list[str] = []
    telling = threading.Thread(target=lambda: desk.tell(lambda: told.append("outcome")))
    telling.start()
    telling.join(5)
    _taken_off_the_queue(desk)

    desk.handle_dropped()
    asking.join(5)
    assert answers == [42]
    assert told == ["outcome"]
    # Handled once: serving the same again finds nothing left to do.
    desk.handle_dropped()
    assert told == ["outcome"]


def test_a_question_cut_short_by_a_stop_is_asked_again_and_refused_once_the_desk_closes():
    desk = _Desk()
    calls: list[int] = []

    def question() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt  # the stop, raised inside the answer
        return 7

    answers: list[int] = []
    asking = threading.Thread(target=lambda: answers.append(desk.ask(question)))
    asking.start()
    with pytest.raises(KeyboardInterrupt):
        desk.serve(timeout=5)
    desk.handle_dropped()
    asking.join(5)
    assert answers == [7]
    assert len(calls) == 2

    refused: list[str] = []

    def ask_after_close() -> None:
        try:
            desk.ask(lambda: 1)
        except Exception as exc:
            refused.append(type(exc).__name__)

    late = threading.Thread(target=ask_after_close)
    late.start()
    assert wait_until(lambda: bool(desk.waiting), timeout=5, interval=0.01)
    desk.refuse_all()
    late.join(5)
    assert refused == ["_Stopped"]
