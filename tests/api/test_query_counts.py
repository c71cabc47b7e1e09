"""The queries of each API read the load benchmark requests (benchmarks/api_load.py): as many for a page
of 100 as for a page of 1, for five currencies as for one, for an invoice with many reminders and
payments as for one with none, and for the status with a long history as with none."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from invoicing.models import Payment
from tests.invoicing.factories import InvoiceFactory
from tests.reminders.factories import NotificationFactory, delivered
from tests.scheduler.factories import JobExecutionLogFactory

pytestmark = pytest.mark.django_db

STATUS = "/api/v1/scheduler/status"
EXECUTIONS = "/api/v1/scheduler/executions"
AGING = "/api/v1/receivables/aging"


def queries(client, url, headers, **params) -> int:
    client.get(url, params, headers=headers)  # the token's use and the throttle's key recorded once
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params, headers=headers)
    assert response.status_code == 200, response.content
    return len(captured)


def test_a_page_of_runs_takes_as_many_queries_for_100_runs_as_for_1(client, staff_headers):
    JobExecutionLogFactory.create_batch(120)
    one = queries(client, EXECUTIONS, staff_headers, per_page=1)
    assert queries(client, EXECUTIONS, staff_headers, per_page=100) == one
    # The token, the throttle's read and write, the runs' lowest and highest ids, the cached total, the page.
    assert one == 6


def test_one_run_takes_as_many_queries_whatever_its_errors(client, staff_headers):
    quiet = JobExecutionLogFactory()
    noisy = JobExecutionLogFactory(
        errors=[{"invoice_id": n, "number": f"INV-{n}", "error": "boom"} for n in range(50)], error_count=50
    )
    assert queries(client, f"{EXECUTIONS}/{noisy.pk}", staff_headers) == queries(
        client, f"{EXECUTIONS}/{quiet.pk}", staff_headers
    )


def test_the_aging_takes_as_many_queries_for_five_currencies_as_for_one(client, books_headers, settings):
    settings.API_AGING_CACHE_SECONDS = 0  # its read on every request (the default)
    InvoiceFactory(status="sent", currency="EUR")
    one = queries(client, AGING, books_headers)
    for currency in ["USD", "GBP", "CHF", "JPY"]:
        InvoiceFactory.create_batch(3, status="sent", currency=currency)
    assert queries(client, AGING, books_headers) == one


def test_an_invoice_takes_as_many_queries_with_reminders_and_payments_as_without(client, books_headers):
    bare = InvoiceFactory(status="sent")
    busy = InvoiceFactory(status="sent", total=Decimal("500.00"))
    for threshold in (1, 7, 14, 30):
        delivered(NotificationFactory(invoice=busy, threshold_days=threshold), state="sent")
    for n in range(3):
        Payment.objects.create(invoice=busy, reference=f"P-{n}", amount=Decimal(10), paid_at=timezone.now())
    url = "/api/v1/invoices/{}"
    assert queries(client, url.format(busy.number), books_headers) == queries(
        client, url.format(bare.number), books_headers
    )


def test_the_status_takes_as_many_queries_with_a_long_history_as_with_none(client, staff_headers, settings):
    settings.API_STATUS_CACHE_SECONDS = 0  # its read, as once every 5 s
    empty = queries(client, STATUS, staff_headers)
    now = timezone.now()
    for n in range(30):
        JobExecutionLogFactory(started_at=now - timedelta(hours=n), dry_run=n % 5 == 0)
    for reminder in NotificationFactory.create_batch(10):
        delivered(reminder, state="sent", sent_at=now)
    assert queries(client, STATUS, staff_headers) == empty
    # The token, the throttle's read and write; the schedules, the heartbeats, three runs, the outbox's and
    # the webhooks' figures.
    assert empty == 3 + 13


@pytest.mark.parametrize(
    ("url", "own"),
    [
        (EXECUTIONS, 3),  # the runs' lowest and highest ids, the cached total, the page
        (STATUS, 1),  # the cached status (its 13 queries once every API_STATUS_CACHE_SECONDS)
        (AGING, 1 + 2),  # the cached figures (the aggregate on the first request); the permissions
        ("/api/v1/invoices/INV-1", 3 + 2),  # the invoice, its reminders, its payments; the permissions
    ],
)
def test_each_read_takes_the_token_the_throttles_read_and_write_and_its_own_queries(
    client, books_headers, url, own
):
    InvoiceFactory(number="INV-1", status="sent")
    JobExecutionLogFactory()
    assert queries(client, url, books_headers) == 1 + 2 + own
