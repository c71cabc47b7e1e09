"""P31 with real processes on PostgreSQL: ``send_webhooks`` senders and a receiver process that answers
500s, times out and drops connections before it answers 200."""

from __future__ import annotations

import json
import socket
import subprocess
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from reminders.events import emit
from reminders.models import EventType, WebhookDelivery, WebhookEndpoint, WebhookState
from tests.invoicing.factories import InvoiceFactory
from tests.processes import (
    ROOT,
    needs_postgresql,
    process_env,
    run_manage,
    start_manage,
    test_database_url,
)
from tests.reminders.webhooks import endpoint_to, receiver

pytestmark = [pytest.mark.processes, needs_postgresql, pytest.mark.django_db(transaction=True)]

SENDER = {"WEBHOOK_ALLOW_PRIVATE": "on", "WEBHOOK_RETRY_BASE_SECONDS": "0", "WEBHOOK_TIMEOUT_SECONDS": "1"}


@pytest.fixture(autouse=True)
def _private_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True


def events(count: int) -> list[str]:
    return [emit(EventType.MESSAGE_FAILED, {"message": {"id": n}}) for n in range(count)]


def test_every_event_reaches_a_flaky_receiver_with_one_id_and_a_valid_signature(tmp_path):
    """P31: 500s, a timeout and dropped connections, then 200s: each event arrives, signed, one id each."""
    faults = ["500", "timeout", "drop", "500", "drop", "timeout", "500"]
    with receiver(tmp_path, faults) as hooks:
        endpoint = endpoint_to(hooks.url)
        InvoiceFactory.create_batch(3, due_date=timezone.localdate() - timedelta(days=3))
        ran = run_manage("run_overdue_check", WEBHOOK_ALLOW_PRIVATE="on")
        assert ran.returncode == 0, ran.stdout + ran.stderr
        events(4)
        # run.finished, and reminder.final for each invoice: with one threshold, each reminder is final.
        emitted = list(WebhookDelivery.objects.values_list("event_id", flat=True))
        sent = run_manage("send_webhooks", **SENDER)
        received = hooks.requests()
        verified = hooks.verified(endpoint.secret)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert len(emitted) == 8
    assert "8 delivered" in sent.stdout
    assert sorted(request["headers"]["webhook-id"] for request in verified) == sorted(emitted)
    assert len(received) == len(emitted) + len(faults)
    by_body = {request["body"]: set() for request in received}
    for request in received:
        by_body[request["body"]].add(request["headers"]["webhook-id"])
    assert all(len(ids) == 1 for ids in by_body.values())  # retries of an event carry its one id
    run_finished = next(r["event"] for r in verified if r["event"]["type"] == EventType.RUN_FINISHED)
    assert run_finished["data"]["run"]["notifications_created"] == 3


@pytest.mark.parametrize("senders", [2, 3])
def test_senders_racing_send_each_event_once(tmp_path, senders):
    with receiver(tmp_path, []) as hooks:
        endpoint = endpoint_to(hooks.url)
        emitted = events(60)
        processes = [start_manage("send_webhooks", **SENDER) for _ in range(senders)]
        outputs = [process.communicate(timeout=120)[0] for process in processes]
        verified = hooks.verified(endpoint.secret)
    assert [process.returncode for process in processes] == [0] * senders, outputs
    counts = Counter(request["headers"]["webhook-id"] for request in verified)
    assert set(counts) == set(emitted)
    assert set(counts.values()) == {1}
    assert sum(int(output.split("Webhooks: ")[1].split(" delivered")[0]) for output in outputs) == 60


def test_what_a_dead_sender_held_is_sent_again_with_the_same_id_once_its_lease_ran_out(tmp_path):
    """At least once: a sender that died mid-chunk may have been heard; the next sends the same id."""
    with receiver(tmp_path, []) as hooks:
        endpoint = endpoint_to(hooks.url)
        emitted = events(3)
        WebhookDelivery.objects.update(
            state=WebhookState.SENDING, claim_token="dead", leased_until=timezone.now() - timedelta(seconds=1)
        )
        sent = run_manage("send_webhooks", **SENDER)
        verified = hooks.verified(endpoint.secret)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sorted(request["headers"]["webhook-id"] for request in verified) == sorted(emitted)


def test_a_real_sender_disables_an_endpoint_that_keeps_failing(tmp_path):
    with receiver(tmp_path, [], always="500") as hooks:
        endpoint_to(hooks.url)
        events(2)
        sent = run_manage("send_webhooks", WEBHOOK_DISABLE_AFTER="3", **SENDER)
        received = hooks.requests()
    endpoint = WebhookEndpoint.objects.get()
    assert sent.returncode == 1
    assert f"endpoints disabled: {hooks.url}" in sent.stdout
    assert len(received) == 3
    assert not endpoint.is_active
    assert endpoint.disabled_reason.startswith("3 failed attempts in a row")
    assert WebhookDelivery.objects.filter(state=WebhookState.PENDING).count() == 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_readme_demo_brings_a_runs_run_finished_to_a_receiver_that_verifies_it():
    """``make webhook-demo`` as README documents it, on the test database."""
    demo = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "webhook-demo",
            f"DEMO_DATABASE_URL={test_database_url()}",
            f"WEBHOOK_DEMO_PORT={free_port()}",
        ],
        cwd=ROOT,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Webhooks: 1 delivered, 0 to retry later, 0 failed." in demo.stdout
    [verified] = [line for line in demo.stdout.splitlines() if line.startswith("Verified ")]
    run = json.loads(verified.split(": ", 1)[1])["run"]
    assert verified.startswith("Verified run.finished msg_")
    assert run["status"] == "completed"
    assert run["notifications_created"] > 0
