"""Sending the outbox to a real SMTP server (SPEC §10, P20 to P22): ``reminders_send`` in this process, the
server in its own (``smtp_server.py``), the database real."""

from __future__ import annotations

import random
import signal
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from invoicing.models import Invoice, InvoiceStatus
from reminders import delivery
from reminders.delivery import SendConfig, SendReport, message_id_for, reminders_send
from reminders.models import DeliveryState, Notification
from tests.processes import wait_until
from tests.reminders.outbox import make_due, pending_reminders, states

pytestmark = pytest.mark.django_db

DOMAIN = "shop.example"


def config(**overrides) -> SendConfig:
    return SendConfig.from_settings(**overrides)


def mid(reminder: Notification) -> str:
    return message_id_for(reminder.pk, DOMAIN)


def test_each_pending_reminder_is_received_once_with_its_message_id(smtp_settings):
    reminders = pending_reminders(5)
    report = reminders_send(config=config(chunk_size=2))
    assert (report.sent, report.tried, report.chunks) == (5, 5, 3)
    assert smtp_settings.message_ids() == {mid(reminder): 1 for reminder in reminders}
    assert set(states(reminders).values()) == {DeliveryState.SENT}


def test_what_was_sent_is_stored_with_the_delivery(smtp_settings):
    [reminder] = pending_reminders(1, name="Ada Lovelace")
    reminders_send()
    reminder.refresh_from_db()
    [received] = smtp_settings.messages()
    assert reminder.message_id == mid(reminder) == received["message_id"]
    assert reminder.sent_subject == received["subject"]
    assert "Dear Ada Lovelace" in reminder.sent_body
    assert "<p>Dear Ada Lovelace,</p>" in reminder.sent_html
    assert reminder.sent_at is not None
    assert received["rcpt_tos"] == [reminder.recipient]


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
    monkeypatch.setattr(delivery, "MESSAGES_PER_CONNECTION", 4)
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
    assert set(Notification.objects.values_list("attempts", flat=True)) == {1}
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


def test_queries_per_chunk_do_not_grow_with_the_chunk(smtp_settings):
    def queries(size: int) -> int:
        pending_reminders(size)
        with CaptureQueriesContext(connection) as captured:
            reminders_send(config=config(chunk_size=size))
        return len(captured)

    assert queries(3) == queries(12)


def test_limit_stops_after_that_many_reminders(smtp_settings):
    reminders = pending_reminders(5)
    report = reminders_send(limit=3, config=config(chunk_size=2))
    assert report.tried == 3
    assert list(states(reminders).values()).count(DeliveryState.PENDING) == 2


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
    assert (reminder.delivery_state, reminder.cancel_reason) == (DeliveryState.CANCELLED, reason)
    assert (report.sent, report.cancelled) == (1, 1)
    assert list(smtp_settings.message_ids()) == [mid(other)]


def test_paused_customer_is_cancelled_and_not_sent(smtp_settings):
    [reminder] = pending_reminders(1, reminders_paused=False)
    reminder.invoice.customer.reminders_paused = True
    reminder.invoice.customer.save()
    reminders_send()
    reminder.refresh_from_db()
    assert (reminder.delivery_state, reminder.cancel_reason) == (DeliveryState.CANCELLED, "paused")
    assert smtp_settings.messages() == []


def test_customer_without_email_is_cancelled(smtp_settings):
    [reminder] = pending_reminders(1)
    Notification.objects.filter(pk=reminder.pk).update(recipient="")
    reminders_send()
    reminder.refresh_from_db()
    assert (reminder.delivery_state, reminder.cancel_reason) == (DeliveryState.CANCELLED, "no email")


def test_451_at_rcpt_retries_later_and_then_delivers_once(smtp_settings):
    """P22: a transient refusal is retried with backoff, and the retry is the same message."""
    smtp_settings.start({"rcpt_451_first": 1})
    [first, second] = pending_reminders(2)
    report = reminders_send(config=config(retry_base=timedelta(minutes=1)))
    first.refresh_from_db()
    assert (report.sent, report.retried) == (1, 1)
    assert first.delivery_state == DeliveryState.PENDING
    assert first.attempts == 1
    assert "451" in first.last_error
    assert timedelta(minutes=1) <= first.next_attempt_at - timezone.now() <= timedelta(minutes=1.3)
    assert reminders_send().tried == 0  # not due yet
    make_due()
    assert reminders_send().sent == 1
    assert smtp_settings.message_ids() == {mid(first): 1, mid(second): 1}


def test_451_at_end_of_data_retries_later_and_then_delivers_once(smtp_settings):
    smtp_settings.start({"data_451_first": 2})
    reminders = pending_reminders(3)
    assert reminders_send().retried == 2
    make_due()
    assert reminders_send().sent == 2
    assert smtp_settings.message_ids() == {mid(reminder): 1 for reminder in reminders}


def test_dropped_connection_retries_the_rest_of_the_chunk_and_delivers_each_once(smtp_settings):
    smtp_settings.start({"drop_after": 2})
    reminders = pending_reminders(5)
    report = reminders_send(config=config(chunk_size=5))
    assert (report.sent, report.retried) == (2, 3)
    make_due()
    assert reminders_send().sent == 3
    assert smtp_settings.message_ids() == {mid(reminder): 1 for reminder in reminders}


def test_550_for_one_recipient_fails_it_and_delivers_the_rest_of_the_chunk(smtp_settings):
    """P22: a permanent refusal fails at once; the chunk goes on."""
    reminders = pending_reminders(4)
    gone = reminders[1]
    smtp_settings.start({"reject": [gone.recipient]})
    report = reminders_send(config=config(chunk_size=4))
    gone.refresh_from_db()
    assert (report.sent, report.failed) == (3, 1)
    assert (gone.delivery_state, gone.attempts) == (DeliveryState.FAILED, 1)
    assert "550" in gone.last_error
    assert set(smtp_settings.message_ids()) == {mid(r) for r in reminders if r != gone}


def test_transient_errors_fail_the_reminder_after_the_last_allowed_attempt(smtp_settings):
    smtp_settings.start({"rcpt_451_first": 100})
    [reminder] = pending_reminders(1)
    for _ in range(3):
        reminders_send(config=config(max_attempts=3))
        make_due()
    reminder.refresh_from_db()
    assert (reminder.delivery_state, reminder.attempts) == (DeliveryState.FAILED, 3)
    assert "attempt 3 of 3" in reminder.last_error


def test_mail_server_down_loses_nothing_and_delivers_once_it_is_back(smtp_settings):
    reminders = pending_reminders(3)
    smtp_settings.stop()
    report = reminders_send()
    assert report.retried == 3
    assert set(states(reminders).values()) == {DeliveryState.PENDING}
    assert "No connection to the mail server" in Notification.objects.first().last_error
    smtp_settings.start()
    make_due()
    assert reminders_send().sent == 3
    assert smtp_settings.message_ids() == {mid(reminder): 1 for reminder in reminders}


def test_slow_server_past_the_timeout_is_a_transient_error(smtp_settings, settings):
    settings.EMAIL_TIMEOUT = 1
    smtp_settings.start({"delay": 3})
    [reminder] = pending_reminders(1)
    assert reminders_send().retried == 1
    reminder.refresh_from_db()
    assert "timed out" in reminder.last_error


def test_customer_name_with_a_line_break_adds_no_header(smtp_settings):
    [reminder] = pending_reminders(1, name="Mallory\r\nBcc: thief@evil.example\r\nX-Injected: yes")
    report = reminders_send()
    [received] = smtp_settings.messages()
    names = [name.lower() for name, _ in received["headers"]]
    assert report.sent == 1
    assert "x-injected" not in names
    assert "bcc" not in names
    assert received["rcpt_tos"] == [reminder.recipient]
    assert "\n" not in received["subject"]


def test_recipient_with_a_line_break_fails_alone_without_stopping_the_chunk(smtp_settings):
    [bad, good] = pending_reminders(2)
    Notification.objects.filter(pk=bad.pk).update(recipient="a@example.com\r\nBcc: thief@evil.example")
    report = reminders_send()
    bad.refresh_from_db()
    assert (report.sent, report.failed) == (1, 1)
    assert bad.delivery_state == DeliveryState.FAILED
    assert "could not be built" in bad.last_error
    assert list(smtp_settings.message_ids()) == [mid(good)]


def test_recipient_django_cannot_parse_fails_alone_while_the_chunk_is_on_the_wire(smtp_settings):
    """Its email is built during the previous message's exchange: the failure must not break that."""
    [good, bad, last] = pending_reminders(3)
    Notification.objects.filter(pk=bad.pk).update(recipient="<>")
    report = reminders_send()
    bad.refresh_from_db()
    assert (report.sent, report.failed) == (2, 1)
    assert "could not be built" in bad.last_error
    assert smtp_settings.message_ids() == {mid(good): 1, mid(last): 1}


def test_bcc_copy_goes_to_the_billing_office_without_a_bcc_header(smtp_settings, settings):
    settings.REMINDER_BCC = ["office@shop.example"]
    [reminder] = pending_reminders(1)
    reminders_send()
    [received] = smtp_settings.messages()
    assert received["rcpt_tos"] == [reminder.recipient, "office@shop.example"]
    assert "bcc" not in [name.lower() for name, _ in received["headers"]]


def test_customer_refused_while_the_bcc_copy_is_accepted_is_not_sent(smtp_settings, settings):
    settings.REMINDER_BCC = ["office@shop.example"]
    [reminder] = pending_reminders(1)
    smtp_settings.start({"reject": [reminder.recipient]})
    assert reminders_send().failed == 1
    reminder.refresh_from_db()
    assert reminder.delivery_state == DeliveryState.FAILED


def test_entry_leased_to_another_sender_is_left_alone_until_the_lease_expires(smtp_settings):
    [reminder] = pending_reminders(1)
    Notification.objects.filter(pk=reminder.pk).update(
        delivery_state=DeliveryState.SENDING, attempts=1, leased_until=timezone.now() + timedelta(minutes=5)
    )
    assert reminders_send().tried == 0
    Notification.objects.filter(pk=reminder.pk).update(leased_until=timezone.now() - timedelta(seconds=1))
    assert reminders_send().sent == 1
    reminder.refresh_from_db()
    assert (reminder.delivery_state, reminder.attempts) == (DeliveryState.SENT, 2)


def test_expired_lease_on_the_last_allowed_attempt_fails_without_sending(smtp_settings):
    [reminder] = pending_reminders(1)
    Notification.objects.filter(pk=reminder.pk).update(
        delivery_state=DeliveryState.SENDING, attempts=5, leased_until=timezone.now() - timedelta(seconds=1)
    )
    reminders_send(config=config(max_attempts=5))
    reminder.refresh_from_db()
    assert reminder.delivery_state == DeliveryState.FAILED
    assert "outcome is unknown" in reminder.last_error
    assert smtp_settings.messages() == []


def test_chunk_stops_sending_before_its_lease_runs_out_and_the_rest_goes_in_the_next(smtp_settings):
    smtp_settings.start({"delay": 0.4})
    reminders = pending_reminders(6)
    # A 2 s lease leaves 1 s to send in; at 0.4 s a message, each chunk gives the rest back unsent.
    report = reminders_send(config=config(chunk_size=6, lease=timedelta(seconds=2)))
    assert report.released >= 1
    assert report.chunks >= 2
    assert report.sent == 6
    assert smtp_settings.message_ids() == {mid(reminder): 1 for reminder in reminders}
    attempts = Notification.objects.values_list("attempts", flat=True)
    assert set(attempts) == {1}  # a chunk given back unsent used no attempt


def test_retries_of_a_chunk_are_spread_by_jitter(smtp_settings):
    smtp_settings.stop()
    pending_reminders(5)
    reminders_send(config=config(retry_base=timedelta(minutes=1)), rng=random.Random(7))
    times = set(Notification.objects.values_list("next_attempt_at", flat=True))
    assert len(times) == 5


def test_the_entries_of_a_chunk_share_their_attempt_time_and_chunks_differ(smtp_settings):
    reminders = pending_reminders(4)
    reminders_send(config=config(chunk_size=2))
    times = [Notification.objects.get(pk=reminder.pk).last_attempt_at for reminder in reminders]
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
        calls += 1  # the expired-lease sweep, then one per claim: the second claim fails
        if calls > 2:
            raise RuntimeError("the clock stopped")
        return timezone.now()

    with pytest.raises(RuntimeError, match="the clock stopped"):
        reminders_send(config=config(chunk_size=2, connections=1), clock=clock)
    found = states(reminders)
    sent = {mid(reminder) for reminder in reminders if found[reminder.pk] == DeliveryState.SENT}
    assert smtp_settings.message_ids() == dict.fromkeys(sent, 1)
    assert set(found.values()) <= {DeliveryState.SENT, DeliveryState.PENDING}
    assert set(Notification.objects.filter(delivery_state="pending").values_list("attempts", flat=True)) == {
        0
    }


def test_ctrl_c_stops_after_the_message_in_progress_and_leaves_nothing_sending(smtp_settings):
    """SIGINT while one chunk is on the wire and the next waits for the connection: the one on the wire
    stops after the message in progress, the waiting one is not sent, what was accepted is recorded and
    the rest is pending again at once (the attempt not counted); the interrupt propagates."""
    smtp_settings.start({"delay": 0.3})
    reminders = pending_reminders(9)
    main = threading.main_thread().ident
    assert main is not None

    def interrupt_after_the_first_message() -> None:
        # The first chunk has one message accepted and at most one more in progress.
        if wait_until(lambda: len(smtp_settings.messages()) >= 1, timeout=10, interval=0.01):
            signal.pthread_kill(main, signal.SIGINT)

    interrupter = threading.Thread(target=interrupt_after_the_first_message)
    interrupter.start()
    report = SendReport()
    try:
        with pytest.raises(KeyboardInterrupt):
            reminders_send(config=config(chunk_size=3, connections=1), report=report)
    finally:
        interrupter.join()
    found = states(reminders)
    assert found[reminders[0].pk] == DeliveryState.SENT
    assert [found[reminder.pk] for reminder in reminders[2:]] == [DeliveryState.PENDING] * 7
    received = smtp_settings.message_ids()
    assert set(received) == {mid(r) for r in reminders if found[r.pk] == DeliveryState.SENT}
    assert set(received.values()) == {1}
    assert (report.sent, report.awaiting_lease) == (len(received), 0)
    assert report.released == 6 - len(received)
    claimed_again = Notification.objects.filter(pk__in=[r.pk for r in reminders[2:6]])
    assert set(claimed_again.values_list("attempts", flat=True)) == {0}
