"""A disabled webhook endpoint in the status API, the health details and the dashboard (SPEC §14)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reminders.models import WebhookEndpoint

pytestmark = pytest.mark.django_db
REASON = "20 failed attempts in a row (WEBHOOK_DISABLE_AFTER); the last: HTTP 503"


@pytest.fixture
def disabled() -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        url="https://hooks.example.com/overdue",
        is_active=False,
        disabled_at=datetime(2026, 2, 2, 3, 14, tzinfo=UTC),
        disabled_reason=REASON,
    )


def test_the_status_names_a_disabled_endpoint_and_why(client, staff_headers, disabled):
    webhooks = client.get("/api/v1/scheduler/status", headers=staff_headers).json()["webhooks"]
    assert webhooks["health"] == "degraded"
    [endpoint] = webhooks["disabled_endpoints"]
    assert (endpoint["id"], endpoint["url"], endpoint["reason"]) == (disabled.pk, disabled.url, REASON)


def test_health_details_say_degraded_without_turning_health_itself(client, staff_headers):
    before = client.get("/api/v1/scheduler/health", headers=staff_headers)
    assert before.json()["webhooks_health"] == "ok"
    WebhookEndpoint.objects.create(
        url="https://hooks.example.com/x", is_active=False, disabled_at=datetime(2026, 2, 2, tzinfo=UTC)
    )
    after = client.get("/api/v1/scheduler/health", headers=staff_headers)
    assert after.json()["webhooks_health"] == "degraded"
    assert after.status_code == before.status_code
    assert after.json()["status"] == before.json()["status"]


def test_the_dashboard_shows_the_disabled_endpoint_with_a_link_to_it(superuser_client, disabled):
    page = superuser_client.get("/admin/").content.decode()
    assert f"/admin/reminders/webhookendpoint/{disabled.pk}/change/" in page
    assert "webhook-health" in page
    assert REASON in page
