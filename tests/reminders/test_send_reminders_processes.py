"""``manage.py send_reminders`` as real processes against PostgreSQL and a real SMTP server (P20)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import psycopg
import pytest
from django.db import connection

from reminders.models import Message, MessageState, Notification
from tests.invoicing.factories import CustomerFactory
from tests.processes import needs_postgresql, run_manage, running_manage, start_manage, wait_until
from tests.reminders.outbox import customer_reminders, make_due, pending_reminders

pytestmark = [pytest.mark.processes, needs_postgresql, pytest.mark.django_db(transaction=True)]

FROM = "billing@shop.example"


def sender_env(server, **extra: str) -> dict[str, str]:
    return {"EMAIL_URL": server.url, "DEFAULT_FROM_EMAIL": FROM, **extra}


def expected_ids(reminders) -> set[str]:
    """The Message-IDs of the messages carrying ``reminders``, once they were all sent."""
    return set(
        Message.objects.filter(reminders__in=reminders, state=MessageState.SENT).values_list(
            "message_id", flat=True
        )
    )


def unsent(reminders) -> int:
    ids = [reminder.pk for reminder in reminders]
    return Notification.objects.filter(pk__in=ids).exclude(delivery__state=MessageState.SENT).count()


@pytest.mark.parametrize("senders", [1, 2, 4])
def test_concurrent_senders_deliver_every_reminder_exactly_once(smtp_server, senders):
    """P20: any number of senders share the outbox; the server receives each reminder once."""
    smtp_server.start({"delay": 0.01})
    reminders = pending_reminders(40)
    env = sender_env(smtp_server, REMINDER_SEND_CHUNK="4")
    processes = [start_manage("send_reminders", **env) for _ in range(senders)]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0] * senders, outputs
    received = smtp_server.message_ids()
    assert unsent(reminders) == 0
    assert set(received) == expected_ids(reminders)
    assert set(received.values()) == {1}
    sent_by = [int(output.split("Messages: ")[1].split(" sent")[0]) for output in outputs]
    assert sum(sent_by) == 40


@pytest.mark.parametrize("senders", [1, 2, 4])
def test_each_customer_gets_one_statement_whatever_the_number_of_senders(smtp_server, senders):
    """P24: every reminder ends in exactly one sent message; grouped by customer, no customer gets two
    messages from one sending, with any number of senders."""
    smtp_server.start({"delay": 0.005})
    customers = [CustomerFactory() for _ in range(24)]
    reminders = [r for n, customer in enumerate(customers) for r in customer_reminders(customer, 1 + n % 5)]
    env = sender_env(smtp_server, REMINDER_SEND_CHUNK="3")
    processes = [start_manage("send_reminders", **env) for _ in range(senders)]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0] * senders, outputs
    assert unsent(reminders) == 0
    received = smtp_server.messages()
    assert Counter(message["message_id"] for message in received).most_common(1)[0][1] == 1
    per_address = Counter(message["rcpt_tos"][0] for message in received)
    assert per_address == Counter({customer.email: 1 for customer in customers})
    assert Notification.objects.filter(delivery__isnull=True).count() == 0


def test_sender_killed_mid_chunk_leaves_every_reminder_delivered_after_the_lease(smtp_server):
    """A sender SIGKILLed after the server accepted some of its chunk: the lease expires, another sender
    sends the chunk again. Every reminder arrives; a duplicate carries the same Message-ID."""
    smtp_server.start({"delay": 0.15})
    reminders = pending_reminders(12)
    # A 1 s timeout: one message may take 4 s, which a 5 s lease covers.
    env = sender_env(
        smtp_server,
        EMAIL_URL=f"{smtp_server.url}?timeout=1",
        REMINDER_SEND_CHUNK="6",
        REMINDER_LEASE_SECONDS="5",
    )
    with open(os.devnull, "w") as output, running_manage("send_reminders", output=output, **env) as sender:
        assert wait_until(lambda: len(smtp_server.messages()) >= 2, timeout=30, interval=0.05)
        os.killpg(sender.pid, signal.SIGKILL)
        sender.wait()
    accepted_before_the_kill = len(smtp_server.messages())
    stranded = Message.objects.filter(state=MessageState.SENDING).count()
    assert stranded >= 1
    time.sleep(5.1)  # the lease of the killed sender's chunk
    finished = run_manage("send_reminders", **env)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    received = smtp_server.message_ids()
    duplicates = Counter({message_id: count - 1 for message_id, count in received.items() if count > 1})
    print(f"\nkilled mid-chunk: {len(received)} messages received, {sum(duplicates.values())} duplicates")
    assert unsent(reminders) == 0
    assert set(received) == expected_ids(reminders)
    # Only what the server had accepted from the killed sender and it had not yet recorded is repeated:
    # outcomes are written whenever the connections wait for the server, so against a server this slow
    # at most the message in progress on each connection.
    assert sum(duplicates.values()) <= min(accepted_before_the_kill, 2)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_signalled_sender_records_what_it_sent_exits_128_plus_it_and_leaves_nothing_to_the_lease(
    smtp_server, stop
):
    """`docker stop`, systemd, the cluster (SIGTERM) and Ctrl-C (SIGINT) mid-sending: the chunks on the
    wire stop after the message in progress; what the server accepted is `sent`, the rest is pending
    again at once, and no reminder arrives twice (unlike a kill, which leaves its chunks to the lease)."""
    smtp_server.start({"delay": 0.05})
    reminders = pending_reminders(40)
    env = sender_env(smtp_server, REMINDER_SEND_CHUNK="4")
    process = start_manage("send_reminders", **env)
    assert wait_until(lambda: len(smtp_server.messages()) >= 6, timeout=30, interval=0.05)
    process.send_signal(stop)
    output, _ = process.communicate(timeout=30)

    assert process.returncode == 128 + stop, output
    assert f"stopped by {stop.name}" in output
    assert "Traceback" not in output
    received = smtp_server.message_ids()
    recorded = set(Message.objects.filter(state=MessageState.SENT).values_list("message_id", flat=True))
    assert recorded == set(received)
    assert 6 <= len(recorded) < 40
    assert not Message.objects.filter(state=MessageState.SENDING).exists()
    finished = run_manage("send_reminders", **env)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    received = smtp_server.message_ids()
    assert set(received) == expected_ids(reminders)
    assert set(received.values()) == {1}


def test_summary_and_exit_0_when_everything_tried_was_sent(smtp_server):
    pending_reminders(3)
    result = run_manage("send_reminders", **sender_env(smtp_server))
    assert result.returncode == 0, result.stdout + result.stderr
    # Three customers due and two connections: each connection carries a chunk.
    assert "Messages: 3 sent, 0 to retry later, 0 failed, 0 cancelled (2 chunks)." in result.stdout


def test_mail_server_down_exits_0_with_everything_rescheduled(smtp_server):
    pending_reminders(2)
    smtp_server.stop()
    result = run_manage("send_reminders", **sender_env(smtp_server))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 sent, 0 to retry later, 0 failed, 0 cancelled, 2 deferred" in result.stdout
    smtp_server.start()
    make_due()
    assert run_manage("send_reminders", **sender_env(smtp_server)).returncode == 0
    assert len(smtp_server.messages()) == 2


def test_message_refused_for_good_exits_1_naming_it(smtp_server):
    [gone] = pending_reminders(1)
    smtp_server.start({"reject": [gone.recipient]})
    result = run_manage("send_reminders", **sender_env(smtp_server))
    assert result.returncode == 1, result.stdout + result.stderr
    message = Message.objects.get(reminders=gone)
    assert f"message {message.pk}: Refused by the mail server: 550" in result.stdout
    assert "1 messages failed for good" in result.stderr


@pytest.mark.parametrize("limit", ["0", "-3", "ten"])
def test_bad_limit_exits_2_naming_it(smtp_server, limit):
    result = run_manage("send_reminders", "--limit", limit, **sender_env(smtp_server))
    assert result.returncode == 2
    assert (
        f"argument --limit: {limit!r} is not allowed; expected a whole number of at least 1" in result.stderr
    )


def test_limit_sends_at_most_that_many(smtp_server):
    pending_reminders(5)
    result = run_manage("send_reminders", "--limit", "2", **sender_env(smtp_server))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(smtp_server.messages()) == 2


def test_without_a_terminal_progress_goes_to_log_lines(smtp_server):
    pending_reminders(3)
    result = run_manage("send_reminders", **sender_env(smtp_server))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Sending reminders: 3 messages to process." in result.stdout
    assert "\r" not in result.stdout  # no progress bar drawn into a log


def test_a_sender_stopped_while_waiting_on_the_database_gives_back_its_claim_at_once(smtp_server):
    """SIGTERM after a committed claim, while the sender waits for a table another session holds: every
    message it claimed is pending again at once (not left to the lease), and it says how many."""
    pending_reminders(5)
    # One connection: the five messages in one claim, committed before the sender blocks.
    env = sender_env(smtp_server, REMINDER_LEASE_SECONDS="600", REMINDER_SEND_CONNECTIONS="1")
    settings = connection.settings_dict
    blocker = psycopg.connect(
        host=settings["HOST"], port=settings["PORT"] or 5432, user=settings["USER"], dbname=settings["NAME"]
    )
    try:
        blocker.execute("LOCK TABLE reminders_remindertemplate IN ACCESS EXCLUSIVE MODE")
        process = start_manage("send_reminders", **env)
        assert wait_until(lambda: Message.objects.filter(state=MessageState.SENDING).count() == 5, timeout=30)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        blocker.rollback()
        blocker.close()
    assert process.returncode == 128 + signal.SIGTERM, output
    assert "5 messages claimed but not sent are pending again" in output
    assert set(Message.objects.values_list("state", flat=True)) == {MessageState.PENDING}
    assert smtp_server.messages() == []


def test_a_chunk_slower_than_its_lease_is_never_sent_twice_by_a_second_sender(smtp_server):
    """The attack's short lease: 0.6 s per message, chunks of 6 (3.6 s), a 5 s lease covering about one
    message at a 1 s timeout. The first sender keeps its lease alive; the second never takes its chunk."""
    smtp_server.start({"delay": 0.6})
    reminders = pending_reminders(12)
    env = sender_env(
        smtp_server,
        EMAIL_URL=f"{smtp_server.url}?timeout=1",
        REMINDER_SEND_CHUNK="6",
        REMINDER_LEASE_SECONDS="5",
        REMINDER_SEND_CONNECTIONS="1",
    )
    first = start_manage("send_reminders", **env)
    assert wait_until(lambda: len(smtp_server.messages()) >= 1, timeout=30, interval=0.05)
    second = start_manage("send_reminders", **env)
    outputs = [process.communicate(timeout=120)[0] for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert unsent(reminders) == 0
    received = smtp_server.message_ids()
    assert set(received.values()) == {1}
    assert set(received) == expected_ids(reminders)
