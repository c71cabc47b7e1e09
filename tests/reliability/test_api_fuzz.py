"""The monitoring API fuzzed with schemathesis against its own OpenAPI schema (``/api/schema/``), in
process through the WSGI application: no 5xx, and every response conforms to the schema."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import schemathesis
from django.contrib.auth.models import Permission
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.tokens import api_token_create
from config.wsgi import application
from scheduler.dispatch import new_request_id
from scheduler.models import JobExecutionLog, RunStatus
from tests.reliability.conftest import reliability_size, report
from tests.scheduler.factories import JobExecutionLogFactory

pytestmark = [pytest.mark.reliability, pytest.mark.django_db]


@pytest.fixture
def api_schema(db):
    # As Django's test client does: a request must not close the connection that holds the test's
    # transaction (the WSGI handler closes old connections when a request starts and finishes).
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


@pytest.fixture
def staff_bearer(django_user_model) -> dict[str, str]:
    """A staff user's token, and runs of every status and trigger, real and dry, for the API to show."""
    user = django_user_model.objects.create_user(username="ops", is_staff=True)
    # And the books' endpoints to write to and read from (the invoicing model permissions).
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="invoicing"))
    now = timezone.now()
    triggers = JobExecutionLog.Trigger.values
    for minutes, status in enumerate(RunStatus.values):
        started = now - timedelta(minutes=minutes)
        JobExecutionLogFactory(
            status=status,
            triggered_by=triggers[minutes % len(triggers)],
            dry_run=minutes % 3 == 0,
            request_id=new_request_id() if triggers[minutes % len(triggers)] == "api" else None,
            started_at=started,
            finished_at=None if status == RunStatus.RUNNING else started + timedelta(seconds=3),
            errors=[{"invoice_id": 7, "number": "INV-7", "error": "refused"}] if minutes % 2 else [],
            error_count=minutes % 2,
        )
    return {"Authorization": f"Bearer {api_token_create(username=user.username).key}"}


def no_server_error_but_a_documented_unavailability(ctx, response, case) -> None:
    """schemathesis' server-error check, except the 503 that the health endpoint documents (it means
    "the scheduler is not healthy", and the schema describes its body)."""
    documented = response.status_code == 503 and case.path.endswith("/health")
    if response.status_code >= 500 and not documented:
        raise AssertionError(f"{case.method} {case.formatted_path}: server error {response.status_code}")


# "As its schema says": every response's status, content type, headers and body. Not schemathesis'
# checks on what requests are accepted: a page past the last one is schema-valid yet refused with the
# documented 400, by design; an empty ``status=`` is schema-invalid yet read as no filter.
CHECKS = [
    no_server_error_but_a_documented_unavailability,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Below the default throttle rate (600 a minute), which the schema does not describe.
EXAMPLES = 100 if reliability_size().name == "small" else 500


def test_api_answers_generated_requests_without_5xx_and_as_its_schema_says(api_schema, staff_bearer):
    """Valid and invalid requests for every operation of the served schema; schemathesis checks each
    response: not a server error, status code, content type, headers and body as documented."""
    answered: Counter[tuple[str, str, int]] = Counter()
    list_parameters: Counter[str] = Counter()
    cases = st.one_of(
        api_schema.as_strategy(GenerationMode.POSITIVE), api_schema.as_strategy(GenerationMode.NEGATIVE)
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        database=None,
    )
    @given(case=cases)
    def exchange(case):
        response = case.call_and_validate(headers=staff_bearer, checks=CHECKS)
        answered[(case.method, case.path, response.status_code)] += 1
        if case.path.endswith("/executions"):
            list_parameters.update(list(case.query or {}))

    exchange()

    statuses = Counter()
    for (_, _, code), count in answered.items():
        statuses[code] += count
    report(
        "API fuzzed against its OpenAPI schema",
        operations=len({(method, path) for method, path, _ in answered}),
        requests=sum(answered.values()),
        status_codes=dict(sorted(statuses.items())),
        list_parameters_sent=dict(sorted(list_parameters.items())),
        server_errors=sum(count for code, count in statuses.items() if code >= 500 and code != 503),
        schema_violations=0,
    )
