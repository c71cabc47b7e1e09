"""README.md and docs/*.md show what the program does.

Every ```json block there is an API response, tagged by the line before it with the request it answers
(``Response to `GET /api/v1/scheduler/status` (200):``), or a request body (``Request to `PUT
/api/v1/customers/C-1001`:``) that the response after it answers. Its keys, nested ones included, must be
the keys of the real response to that request; an error (``{"detail": …}``) must be the real one word
for word. Requests with a body are sent in the document's order: each response is the one its request
gets after the document's earlier requests. The README's demo output must be lines the demo's commands
print. docs/SPEC.md is the specification, not a description of the program, and is left out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from reminders.mail import EmlFolderBackend
from reminders.models import WebhookEndpoint
from scheduler.models import JobExecutionLog, RunStatus
from tests.api.conftest import BOOKS_PERMISSIONS, headers_with_permissions
from tests.invoicing.factories import InvoiceFactory
from tests.scheduler.conftest import create_check_schedule, save_heartbeat
from tests.scheduler.factories import JobExecutionLogFactory

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "SPEC.md")]
TAG = re.compile(r"Response to `(?P<method>GET|POST|PUT) (?P<path>/api/\S+)`[^()`]*\((?P<status>\d{3})\):")
REQUEST_TAG = re.compile(r"Request to `(?P<method>POST|PUT) (?P<path>/api/\S+)`:")
# A webhook's body (docs/webhooks.md) is no API response: compared with a real event's body instead.
EVENT_TAG = re.compile(r"Body of an? `(?P<event>[a-z]+\.[a-z]+)` event:")
ENDPOINTS = {
    "/api/v1/scheduler/status",
    "/api/v1/scheduler/executions",
    "/api/v1/scheduler/executions/{id}",
    "/api/v1/scheduler/health",
    "/api/v1/scheduler/run",
    "/api/v1/receivables/aging",
    "/api/v1/customers/C-1001",
    "/api/v1/invoices/INV-2026-0042",
    "/api/v1/invoices/INV-2026-0042/payments",
    "/api/v1/invoices/bulk",
}


@dataclass(frozen=True)
class Example:
    where: str
    tag: re.Match[str] | None
    text: str
    body: str | None = None  # the request body documented just before it
    earlier: tuple[tuple[str, str, str], ...] = ()  # (method, path, body) of the document's writes before it

    def __str__(self) -> str:
        return self.where


def documented_examples() -> list[Example]:
    examples = []
    for document in DOCUMENTS:
        lines = document.read_text().splitlines()
        body, writes = None, []
        for number, line in enumerate(lines):
            if line.strip() != "```json":
                continue
            before = next((text for text in reversed(lines[:number]) if text.strip()), "").strip()
            end = lines.index("```", number + 1)
            text = "\n".join(lines[number + 1 : end])
            if REQUEST_TAG.fullmatch(before):
                body = text
                continue
            if EVENT_TAG.fullmatch(before):
                continue
            tag = TAG.fullmatch(before)
            where = f"{document.relative_to(ROOT)}:{number + 1}"
            examples.append(Example(where=where, tag=tag, text=text, body=body, earlier=tuple(writes)))
            if tag and body is not None:
                writes.append((tag["method"], tag["path"], body))
            body = None
    return examples


def key_differences(documented: Any, real: Any, where: str = "") -> list[str]:
    """Where the documented JSON's keys differ from the real response's, recursively; a documented
    list's items are each compared with the response's first item."""
    if isinstance(documented, dict):
        if not isinstance(real, dict):
            return [f"{where or 'the body'}: the doc shows an object, the response has {real!r}"]
        differences = [
            f"{where}.{key}: in the response, missing from the doc" for key in real.keys() - documented.keys()
        ]
        differences += [
            f"{where}.{key}: in the doc, not in the response" for key in documented.keys() - real.keys()
        ]
        for key in documented.keys() & real.keys():
            differences += key_differences(documented[key], real[key], f"{where}.{key}")
        return differences
    if isinstance(documented, list) and documented:
        if not isinstance(real, list) or not real:
            return [f"{where}: the doc shows items, the test's response has {real!r}"]
        differences = []
        for index, item in enumerate(documented):
            differences += key_differences(item, real[0], f"{where}[{index}]")
        return differences
    return []


@pytest.fixture
def api(client):
    """A staff token, and runs, a schedule, a cluster heartbeat and invoices for every part of a response."""
    headers = headers_with_permissions("ops", BOOKS_PERMISSIONS)
    JobExecutionLogFactory(
        status=RunStatus.COMPLETED_WITH_ERRORS,
        triggered_by=JobExecutionLog.Trigger.SCHEDULE,
        started_at=datetime(2026, 2, 2, 0, 0, 2, tzinfo=UTC),
        scheduled_for=datetime(2026, 2, 2, tzinfo=UTC),
        error_count=1,
        errors=[{"invoice_id": 48213, "number": "INV-048213", "error": "DataError: value too long"}],
    )
    JobExecutionLogFactory(
        status=RunStatus.FAILED,
        triggered_by=JobExecutionLog.Trigger.SCHEDULE,
        started_at=datetime(2026, 2, 3, 0, 0, 2, tzinfo=UTC),
        traceback="Traceback (most recent call last): …",
    )
    WebhookEndpoint.objects.create(
        url="https://hooks.example.com/overdue",
        is_active=False,
        disabled_at=datetime(2026, 2, 2, 3, 14, 8, tzinfo=UTC),
        disabled_reason="20 failed attempts in a row (WEBHOOK_DISABLE_AFTER); the last: HTTP 503",
    )
    save_heartbeat()
    create_check_schedule(next_run=timezone.now() + timedelta(hours=1))
    InvoiceFactory(due_date=date(2026, 3, 1))
    return client, headers


def send(client, headers, method: str, path: str, body: str | None = None) -> Any:
    kwargs = {"data": body, "content_type": "application/json"} if body is not None else {}
    return getattr(client, method.lower())(path, headers=headers, **kwargs)


def response_to(client, headers, example: Example) -> tuple[int, Any]:
    assert example.tag is not None
    for method, path, body in example.earlier:
        send(client, headers, method, path, body)
    path = example.tag["path"]
    if "{id}" in path:
        path = path.replace("{id}", str(JobExecutionLog.objects.filter(error_count__gt=0).get().pk))
    response = send(client, headers, example.tag["method"], path, example.body)
    return response.status_code, response.json()


@pytest.mark.parametrize("example", documented_examples(), ids=str)
@pytest.mark.django_db
def test_a_documented_response_has_the_keys_of_the_real_one(api, example: Example):
    assert example.tag, (
        f"{example}: a ```json block without the line that says what it answers, e.g. "
        "Response to `GET /api/v1/scheduler/status` (200):"
    )
    documented = json.loads(example.text)
    status, real = response_to(*api, example)
    assert status == int(example.tag["status"]), f"{example}: {real}"
    if set(documented) == {"detail"}:
        assert documented == real, example
    else:
        assert key_differences(documented, real) == [], example


def test_every_endpoint_has_a_documented_response():
    documented = {example.tag["path"].split("?")[0] for example in documented_examples() if example.tag}
    assert documented >= ENDPOINTS


def test_a_missing_or_an_extra_key_in_a_nested_object_is_a_difference():
    real = {"a": 1, "b": {"c": 2, "d": [{"e": 3, "f": 4}]}}
    assert key_differences({"a": 0, "b": {"c": 0, "d": [{"e": 0, "f": 0}]}}, real) == []
    assert key_differences({"a": 0, "b": {"c": 0, "d": [{"e": 0}]}}, real) == [
        ".b.d[0].f: in the response, missing from the doc"
    ]
    assert key_differences({"a": 0, "b": {"c": 0, "x": 0, "d": []}}, real) == [
        ".b.x: in the doc, not in the response"
    ]
    assert key_differences({"a": {"z": 0}, "b": {"c": 0, "d": []}}, real) == [
        ".a: the doc shows an object, the response has 1"
    ]


# --- the bodies of webhook events ------------------------------------------------------------------------


def documented_events() -> list[tuple[str, str, str]]:
    """(where, event type, JSON) of each documented event body."""
    found = []
    for document in DOCUMENTS:
        lines = document.read_text().splitlines()
        for number, line in enumerate(lines):
            before = next((text for text in reversed(lines[:number]) if text.strip()), "").strip()
            if line.strip() == "```json" and (tag := EVENT_TAG.fullmatch(before)):
                end = lines.index("```", number + 1)
                where = f"{document.relative_to(ROOT)}:{number + 1}"
                found.append((where, tag["event"], "\n".join(lines[number + 1 : end])))
    return found


@pytest.fixture
def real_events(monkeypatch) -> dict[str, Any]:
    """One real body of each event type, as queued for an endpoint that receives every event."""
    from reminders.events import message_event_emit
    from reminders.models import EventType, Message, MessageState, Notification, WebhookDelivery
    from scheduler.services import overdue_check_run

    WebhookEndpoint.objects.create(url="https://hooks.example.com/all")
    invoice = InvoiceFactory(due_date=timezone.localdate() - timedelta(days=40), customer__reference="C-1")
    overdue_check_run(triggered_by="command")
    message = Message.objects.create(customer=invoice.customer, state=MessageState.FAILED)
    Notification.objects.filter(invoice=invoice).update(delivery=message)
    for kind in (EventType.MESSAGE_FAILED, EventType.MESSAGE_BOUNCED):
        message_event_emit(event_type=kind, message_pk=message.pk, reason="550 no such user")
    monkeypatch.setattr("scheduler.services._walk", lambda *args: 1 / 0)
    overdue_check_run(triggered_by="command")
    return {delivery.event_type: delivery.payload for delivery in WebhookDelivery.objects.all()}


@pytest.mark.parametrize(
    ("where", "event", "text"),
    [pytest.param(*found, id=f"{found[0]}-{found[1]}") for found in documented_events()],
)
@pytest.mark.django_db
def test_a_documented_event_body_has_the_keys_of_a_real_one(real_events, where, event, text):
    assert event in real_events, f"{where}: no such event {event!r}"
    assert key_differences(json.loads(text), real_events[event]) == [], where


def test_every_event_type_has_a_documented_body():
    from reminders.models import EventType

    assert {event for _, event, _ in documented_events()} == set(EventType.values)


# --- the README's demo output --------------------------------------------------------------------------

VARIABLE = [
    (re.compile(r"Run #\d+"), "Run #N"),
    (re.compile(r"as of \d{4}-\d{2}-\d{2}"), "as of DATE"),
    (re.compile(r"on hold until \d{4}-\d{2}-\d{2}"), "on hold until DATE"),
    (re.compile(r"errors in \d+\.\d+ s\."), "errors in N s."),
    (re.compile(r"into \S+/sent-mail/"), "into CLONE/sent-mail/"),
    # The latest email sent is whichever of the last chunks a connection finished last.
    (re.compile(r"<reminder-\d+@(\S+)> to \S+:$"), r"<reminder-N@\1> to ADDRESS:"),
    # A message's id comes from a sequence that PostgreSQL does not reset between tests.
    (re.compile(r"<message-\d+@"), "<message-N@"),
    # The demo's invoices are due some days before today: their due dates move on with the calendar.
    (re.compile(r"due on [A-Z][a-z]+ \d{1,2}, \d{4}"), "due on DATE"),
    (re.compile(r"fällig am \d{1,2}\. \w+ \d{4}"), "fällig am DATE"),
    # An amount and its currency are held together by a no-break space; the README shows a space.
    (re.compile("\xa0"), " "),
    (
        re.compile(r"^Subject: (.*) invoice INV-\d+ is \d+ days overdue$"),
        r"Subject: \1 invoice INV-N is N days overdue",
    ),
]


def without_variable_parts(line: str) -> str:
    for pattern, replacement in VARIABLE:
        line = pattern.sub(replacement, line)
    return line


def readme_demo_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("`make demo` ends like this", 1)[1].split("```\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and line != "..."]


@pytest.mark.django_db
def test_the_readme_shows_lines_the_demo_prints_in_the_order_it_prints_them(settings, tmp_path):
    settings.EMAIL_BACKEND = f"{EmlFolderBackend.__module__}.{EmlFolderBackend.__qualname__}"
    settings.EMAIL_FILE_PATH = str(tmp_path / "sent-mail")
    settings.EMAIL_URL_IS_SET = True  # the demo names filemail:///sent-mail on purpose
    out = StringIO()
    for command in [
        ["seed_demo_data", "--reset"],
        ["run_overdue_check"],
        ["send_reminders"],
        ["show_notifications", "--limit", "5", "--sample"],
    ]:
        call_command(*command, stdout=out)
    printed = [without_variable_parts(line) for line in out.getvalue().splitlines()]
    position = 0
    for line in readme_demo_lines():
        wanted = without_variable_parts(line)
        assert wanted in printed[position:], f"README's demo line not printed (in this order): {line!r}"
        position = printed.index(wanted, position) + 1
