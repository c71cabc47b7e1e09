"""Deletes of more than 65,535 rows under the default settings (issue 10 item 6): a prepared statement
takes at most 65,535 parameters, and Django deletes by listing the ids. The check's own statements are
prepared (``DATABASE_PREPARED_STATEMENTS``, on by default); Django's queries must not be."""

from __future__ import annotations

import random
import time
from datetime import date
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from invoicing.models import Customer, Invoice
from reminders.models import Notification
from scheduler.services import overdue_check_run
from tests.processes import needs_postgresql
from tests.reliability.conftest import load_invoices
from tests.scheduler.oracle import make_config

# Past what one prepared statement can take: 65,535 parameters.
OVER_PARAMETER_LIMIT = 70_000
RESET_INVOICES = 100_000

pytestmark = [pytest.mark.django_db, needs_postgresql]


@pytest.fixture(autouse=True)
def default_prepared_statements():
    assert settings.DATABASE_PREPARED_STATEMENTS is True, "these tests are about the default setting"


def test_seed_demo_data_resets_100000_invoices_and_their_reminders():
    call_command(
        "seed_demo_data", "--invoices", str(RESET_INVOICES), "--customers", "1000", stdout=StringIO()
    )
    run = overdue_check_run(triggered_by="command", config=make_config(BATCH_SIZE="1000"))
    assert run.notifications_created > 0  # the reset must delete reminders too
    started = time.monotonic()

    call_command("seed_demo_data", "--invoices", "50", "--customers", "5", "--reset", stdout=StringIO())

    print(f"\nreset of {RESET_INVOICES} invoices: {time.monotonic() - started:.1f} s")
    assert (Invoice.objects.count(), Customer.objects.count(), Notification.objects.count()) == (50, 5, 0)


def test_the_admin_deletes_more_than_65535_selected_invoices(staff_client):
    """ "Select all" then "Delete selected" over 70,000 invoices without reminders: Django lists every id
    in its queries. (Selecting ids one by one posts a field per id, over DATA_UPLOAD_MAX_NUMBER_FIELDS.)"""
    load_invoices(random.Random(10), count=OVER_PARAMETER_LIMIT, around=date(2026, 3, 1))
    kept = Invoice.objects.order_by("id").last()
    Invoice.objects.filter(pk=kept.pk).update(number="KEEP-1")
    first_page = Invoice.objects.exclude(pk=kept.pk).values_list("pk", flat=True)[:100]
    started = time.monotonic()

    response = staff_client.post(
        reverse("admin:invoicing_invoice_changelist") + "?q=R-",
        {
            "action": "delete_selected",
            "select_across": "1",
            "_selected_action": list(first_page),
            "post": "yes",
        },
    )

    print(f"\nadmin delete of {OVER_PARAMETER_LIMIT} invoices: {time.monotonic() - started:.1f} s")
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(Invoice.objects.values_list("number", flat=True)) == ["KEEP-1"]


def test_django_queries_bind_on_the_client_whatever_the_setting():
    """What keeps the deletes working: only the check's own cursor prepares its statements."""
    assert not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")
    assert Invoice.objects.filter(pk__in=range(OVER_PARAMETER_LIMIT)).count() == 0
