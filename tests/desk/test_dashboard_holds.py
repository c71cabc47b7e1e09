"""The dashboard's invoices on hold (docs/SPEC.md §13): count and amount per currency, today."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from invoicing.models import InvoiceStatus
from invoicing.selectors import receivables_aging
from tests.invoicing.factories import InvoiceFactory, held_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def holds():
    today = timezone.localdate()
    InvoiceFactory(total=Decimal("1250.00"), **held_fields(today + timedelta(days=9)))
    InvoiceFactory(total=Decimal("100.50"), due_date=today + timedelta(days=5), **held_fields(today))
    InvoiceFactory(total=Decimal("7000.00"), currency="JPY", **held_fields(today + timedelta(days=1)))
    InvoiceFactory(total=Decimal("999.00"), **held_fields(today - timedelta(days=1)))  # ended yesterday
    InvoiceFactory(
        total=Decimal("80.00"), status=InvoiceStatus.PAID, amount_paid=Decimal("80.00"), **held_fields(today)
    )
    InvoiceFactory(total=Decimal("55.00"))


def test_the_aging_counts_what_is_on_hold_today_per_currency(holds):
    held = {
        row.currency: (row.held.amount, row.held.count)
        for row in receivables_aging(as_of=timezone.localdate())
    }
    assert held == {"EUR": (Decimal("1350.50"), 2), "JPY": (Decimal("7000"), 1)}


def test_the_dashboard_shows_count_and_amount_on_hold_per_currency_with_a_link(superuser_client, holds):
    page = superuser_client.get(reverse("admin:index")).content.decode()
    on_hold = re.search(r'<p id="on-hold">(.*?)</p>', page, re.S).group(1)
    assert '<span data-currency="EUR"><strong>EUR 1,350.50</strong> (2 invoices)</span>' in on_hold
    assert '<span data-currency="JPY"><strong>JPY 7,000</strong> (1 invoice)</span>' in on_hold
    assert f"{reverse('admin:invoicing_invoice_changelist')}?held=yes" in on_hold


def test_the_dashboard_says_nothing_of_holds_when_none_is_on_hold(superuser_client):
    InvoiceFactory(**held_fields(timezone.localdate() - timedelta(days=1)))
    assert 'id="on-hold"' not in superuser_client.get(reverse("admin:index")).content.decode()
