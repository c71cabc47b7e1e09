"""Delivering webhooks (SPEC §14, P31): signed, retried with backoff, sent only where they may go, and an
endpoint that keeps failing disabled. The receiver is a real process on loopback."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from reminders.events import emit
from reminders.models import EventType, WebhookDelivery, WebhookEndpoint, WebhookState
from reminders.webhook_http import MAX_BODY, DestinationRefused, address_rule, checked_addresses, post
from reminders.webhooks import WebhookConfig, endpoint_enable, webhook_status, webhooks_send
from tests.processes import run_manage
from tests.reminders.webhooks import endpoint_to, receiver

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 15, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _private_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True


def config(**overrides) -> WebhookConfig:
    return WebhookConfig.from_settings(**{"timeout": 1.0, **overrides})


def send(at: datetime | None = None, **overrides):
    """One sending at ``at`` (the real clock by default: receivers check the signature's timestamp)."""
    clock = timezone.now if at is None else (lambda: at)
    return webhooks_send(config=config(**overrides), clock=clock, rng=random.Random(1))


def the_delivery() -> WebhookDelivery:
    return WebhookDelivery.objects.get()


def test_a_delivered_event_carries_its_id_and_a_signature_standardwebhooks_verifies(tmp_path):
    with receiver(tmp_path, []) as hooks:
        endpoint = endpoint_to(hooks.url)
        event_id = emit(EventType.RUN_FINISHED, {"run": {"id": 7, "status": "completed"}})
        report = webhooks_send(config=config())
        [request] = hooks.verified(endpoint.secret)
    assert report.delivered == 1
    assert request["headers"]["webhook-id"] == event_id
    assert request["event"]["data"] == {"run": {"id": 7, "status": "completed"}}
    assert request["path"] == "/hooks"
    delivery = the_delivery()
    assert (delivery.state, delivery.attempts, delivery.last_status) == (WebhookState.DELIVERED, 1, 200)


def test_a_failed_attempt_waits_the_base_delay_then_twice_as_long(tmp_path, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 60
    with receiver(tmp_path, [], always="500") as hooks:
        endpoint_to(hooks.url)
        emit(EventType.RUN_FINISHED, {})
        send(at=NOW)
        first = the_delivery()
        send(at=first.next_attempt_at)
        second = the_delivery()
    assert first.state == WebhookState.PENDING
    assert first.last_status == 500
    assert timedelta(seconds=60) <= first.next_attempt_at - NOW <= timedelta(seconds=75)
    waited = second.next_attempt_at - first.next_attempt_at
    assert timedelta(seconds=120) <= waited <= timedelta(seconds=150)
    assert second.attempts == 2


def test_an_event_fails_for_good_after_webhook_max_attempts(tmp_path):
    with receiver(tmp_path, [], always="500") as hooks:
        endpoint_to(hooks.url)
        emit(EventType.RUN_FINISHED, {})
        for _ in range(3):
            send(retry_base=timedelta(0), max_attempts=3)
        received = hooks.requests()
    delivery = the_delivery()
    assert (delivery.state, delivery.attempts) == (WebhookState.FAILED, 3)
    assert delivery.last_error.endswith("(attempt 3 of 3)")
    assert len(received) == 3
    assert len({request["headers"]["webhook-id"] for request in received}) == 1


def test_timeouts_and_dropped_connections_are_failed_attempts_tried_again(tmp_path):
    with receiver(tmp_path, ["timeout", "drop"]) as hooks:
        endpoint = endpoint_to(hooks.url)
        event_id = emit(EventType.RUN_FINISHED, {})
        send(retry_base=timedelta(0))
        received = hooks.requests()
        verified = hooks.verified(endpoint.secret)
    assert [request["answer"] for request in received] == ["timeout", "drop", "200"]
    assert {request["headers"]["webhook-id"] for request in received} == {event_id}
    assert len(verified) == 1
    delivery = the_delivery()
    assert (delivery.state, delivery.attempts, delivery.last_error) == (WebhookState.DELIVERED, 3, "")


def test_a_timeout_is_recorded_as_the_attempts_error(tmp_path):
    with receiver(tmp_path, ["timeout"]) as hooks:
        endpoint_to(hooks.url)
        emit(EventType.RUN_FINISHED, {})
        send(at=NOW)
    assert "timed out" in the_delivery().last_error


def test_an_endpoint_failing_webhook_disable_after_times_in_a_row_is_disabled(tmp_path):
    with receiver(tmp_path, [], always="500") as hooks:
        endpoint = endpoint_to(hooks.url)
        for n in range(5):
            emit(EventType.RUN_FINISHED, {"run": {"id": n}})
        report = send(at=NOW, disable_after=3)
        received = len(hooks.requests())
    endpoint.refresh_from_db()
    assert received == 3  # the rest of the chunk was not tried once it was disabled
    assert not endpoint.is_active
    assert endpoint.disabled_at == NOW
    assert (
        "3 failed attempts in a row (WEBHOOK_DISABLE_AFTER); the last: HTTP 500" in endpoint.disabled_reason
    )
    assert report.endpoints_disabled == [hooks.url]
    assert webhook_status().disabled_endpoints[0].url == hooks.url
    assert webhook_status().health == "degraded"
    assert send(at=NOW + timedelta(days=1)).delivered == 0  # nothing is claimed for it


def test_a_delivered_event_forgets_the_failures_before_it(tmp_path):
    with receiver(tmp_path, ["500", "500"]) as hooks:
        endpoint = endpoint_to(hooks.url)
        emit(EventType.RUN_FINISHED, {})
        for _ in range(3):
            send(retry_base=timedelta(0), disable_after=3)
    endpoint.refresh_from_db()
    assert endpoint.is_active
    assert endpoint.consecutive_failures == 0


def test_an_endpoint_switched_on_again_gets_what_waited_for_it(tmp_path):
    with receiver(tmp_path, ["500"]) as hooks:
        endpoint = endpoint_to(hooks.url)
        emit(EventType.RUN_FINISHED, {})
        send(disable_after=1, retry_base=timedelta(0))
        endpoint.refresh_from_db()
        assert not endpoint.is_active
        endpoint_enable(endpoint=endpoint)
        endpoint.save()
        report = send(disable_after=1)
    assert report.delivered == 1
    assert the_delivery().attempts == 2


def test_a_redirect_is_not_followed(tmp_path):
    with receiver(tmp_path, ["302"]) as hooks:
        endpoint_to(hooks.url)
        emit(EventType.RUN_FINISHED, {})
        send()
        received = hooks.requests()
    assert [request["path"] for request in received] == ["/hooks"]
    assert the_delivery().last_status == 302
    assert the_delivery().state == WebhookState.PENDING


def test_only_the_first_bytes_of_an_answer_are_read(tmp_path):
    with receiver(tmp_path, ["big"]) as hooks:
        answer = post(hooks.url, body=b"{}", headers={}, timeout=2)
    assert answer.status == 200
    assert len(answer.body) == MAX_BODY


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("192.168.0.10", "a private address"),
        ("172.16.5.4", "a private address"),
        ("169.254.10.1", "a link-local address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("::ffff:10.0.0.1", "a private address"),
        ("0.0.0.0", "not a public unicast address"),
    ],
)
def test_private_and_metadata_addresses_are_refused_naming_the_rule(settings, address, rule):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(DestinationRefused, match=f"resolves to {address}, {rule}; set WEBHOOK_ALLOW_PRIVATE"):
        checked_addresses("https://hooks.example.com/x", resolver=lambda host, port: [address])


def test_a_public_address_is_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    assert checked_addresses("https://hooks.example.com/x", resolver=lambda h, p: ["93.184.216.34"]) == [
        "93.184.216.34"
    ]


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/x", "file:///etc/passwd", "gopher://a/"])
def test_only_http_and_https_urls_are_allowed(url):
    with pytest.raises(DestinationRefused, match="only http:// and https:// URLs are allowed"):
        checked_addresses(url)


def test_saving_an_endpoint_on_a_name_that_resolves_to_loopback_is_refused(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    endpoint = WebhookEndpoint(url="http://localhost:8000/hooks")
    with pytest.raises(ValidationError) as refused:
        endpoint.full_clean()
    [message] = refused.value.message_dict["url"]
    assert "'http://localhost:8000/hooks': localhost resolves to" in message
    assert "a loopback address" in message


def test_a_name_that_turned_private_after_saving_is_refused_when_sending(tmp_path, settings):
    with receiver(tmp_path, []) as hooks:
        endpoint_to(hooks.url.replace("127.0.0.1", "localhost"))
        emit(EventType.RUN_FINISHED, {})
        settings.WEBHOOK_ALLOW_PRIVATE = False
        report = send()
        received = hooks.requests()
    assert received == []
    delivery = the_delivery()
    assert delivery.state == WebhookState.FAILED
    assert report.failed == 1
    assert "a loopback address" in delivery.last_error


def test_the_admin_refuses_a_private_url_naming_the_field_and_the_rule(admin_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = admin_client.post(
        "/admin/reminders/webhookendpoint/add/", {"url": "http://10.0.0.8/hooks", "is_active": "on"}
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "10.0.0.8, a private address" in errors["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_the_admin_shows_the_secret_once_the_endpoint_is_added(admin_client):
    response = admin_client.post(
        "/admin/reminders/webhookendpoint/add/",
        {"url": "http://127.0.0.1:9/hooks", "is_active": "on", "event_types": ["run.finished"]},
        follow=True,
    )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.event_types == ["run.finished"]
    assert endpoint.secret in response.content.decode()
    change = admin_client.get(f"/admin/reminders/webhookendpoint/{endpoint.pk}/change/")
    assert endpoint.secret in change.content.decode()
    listing = admin_client.get("/admin/reminders/webhookendpoint/")
    assert "run.finished" in listing.content.decode()


@pytest.mark.processes
@pytest.mark.parametrize(
    ("name", "value"),
    [("WEBHOOK_RETRY_BASE_SECONDS", "-1"), ("WEBHOOK_MAX_ATTEMPTS", "0"), ("WEBHOOK_ALLOW_PRIVATE", "maybe")],
)
def test_send_webhooks_refuses_a_bad_setting_naming_it(name, value):
    result = run_manage("send_webhooks", **{name: value})
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{name}={value!r} is invalid" in result.stderr


PRIVATE_NETWORKS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16"]


@given(network=st.sampled_from(PRIVATE_NETWORKS), offset=st.integers(min_value=0), mapped=st.booleans())
def test_every_address_of_a_private_network_is_refused_written_either_way(network, offset, mapped):
    """Whatever address of these networks a name resolves to, as IPv4 or IPv4-mapped IPv6, it is refused."""
    block = ipaddress.ip_network(network)
    address = block[offset % block.num_addresses]
    written = ipaddress.ip_address(f"::ffff:{address}") if mapped else address
    assert address_rule(written) is not None


@given(address=st.ip_addresses(v=4))
def test_an_ipv4_address_is_allowed_only_when_it_is_a_global_unicast_one(address):
    assert (address_rule(address) is None) == (address.is_global and not address.is_multicast)


def test_a_lease_too_short_for_one_delivery_sends_nothing_and_says_which_variable():
    endpoint_to("http://127.0.0.1:9/hooks")
    emit(EventType.RUN_FINISHED, {})
    report = send(lease=timedelta(seconds=2), timeout=1.0)
    assert report.delivered == report.failed == 0
    assert report.released == 1
    assert the_delivery().state == WebhookState.PENDING
    assert report.errors[0].startswith("WEBHOOK_LEASE_SECONDS=2 is shorter than one delivery may take (3 s")
