"""Receivables aging (SPEC §11): P23, the bucket edges, minor units, one query."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from invoicing.currency import in_minor_units, minor_units
from invoicing.models import Customer, Invoice, InvoiceStatus
from invoicing.selectors import AGING_BUCKETS, BUCKET_KEYS, overdue_totals, receivables_aging
from tests.invoicing.factories import CustomerFactory, InvoiceFactory

AS_OF = date(2026, 3, 31)
CURRENCIES = ("EUR", "JPY", "BHD", "USD")
BUCKET_EDGES = [-1, 0, 1, 30, 31, 60, 61, 90, 91]


def expected_bucket(days_overdue: int) -> str:
    """The bucket of an invoice this many days overdue, stated apart from the selector's date ranges."""
    if days_overdue <= 0:
        return "current"
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    if days_overdue <= 90:
        return "61-90"
    return "90+"


def independent_aging(*, as_of: date) -> dict[str, dict[str, tuple[Decimal, int]]]:
    """Per currency, per bucket and for ``paused``: (exact amount, count), from the rows themselves."""
    result: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(lambda: [Decimal(0), 0]))
    rows = Invoice.objects.values_list(
        "currency", "status", "total", "amount_paid", "due_date", "customer__reminders_paused"
    )
    for currency, status, total, paid, due_date, paused in rows:
        balance = total - paid
        if status != InvoiceStatus.SENT or balance <= 0:
            continue
        shares = [expected_bucket((as_of - due_date).days), "total"] + (["paused"] if paused else [])
        for share in shares:
            result[currency][share][0] += balance
            result[currency][share][1] += 1
    return {currency: {k: (v[0], v[1]) for k, v in shares.items()} for currency, shares in result.items()}


def whole_minor_units(currency: str):
    places = min(minor_units(currency), 2)
    return st.integers(0, 10**8).map(lambda units: Decimal(units).scaleb(-places).quantize(Decimal("0.01")))


invoice_rows = st.lists(
    st.tuples(
        st.sampled_from(CURRENCIES),
        st.sampled_from([InvoiceStatus.SENT] * 4 + InvoiceStatus.values),  # mostly open ones
        # days overdue on as_of (negative: not yet due), the buckets' edges more often than not
        st.one_of(st.sampled_from(BUCKET_EDGES), st.integers(-150, 200)),
        st.integers(0, 3),  # which customer (customer 0 is paused)
        st.data(),
    ),
    min_size=1,
    max_size=40,
)


class AgingPropertyTests(TestCase):
    @settings(max_examples=80, deadline=None)
    @given(rows=invoice_rows, as_of=st.sampled_from([AS_OF, date(2024, 2, 29), date(2027, 1, 1)]))
    def test_p23_buckets_sum_to_the_open_balance_and_each_invoice_is_in_exactly_one(self, rows, as_of):
        """P23: per currency the buckets add up to the open balance; every open invoice is counted in
        exactly one bucket; the figures equal an independent computation from the rows. The overdue
        figure is the sum of the overdue buckets, and without its paused part it is the overdue list."""
        customers = [Customer.objects.create(name=f"C{i}", email=f"c{i}@x.example") for i in range(4)]
        Customer.objects.filter(pk=customers[0].pk).update(reminders_paused=True)
        for n, (currency, status, days, who, data) in enumerate(rows):
            total = data.draw(whole_minor_units(currency))
            paid = data.draw(
                st.sampled_from([Decimal(0), Decimal(0), total, (total / 2).quantize(Decimal("0.01"))])
            )
            if currency == "JPY":
                paid = paid.quantize(Decimal(1))
            due = as_of - timedelta(days=days)
            Invoice.objects.create(
                customer=customers[who],
                number=f"P-{n}",
                issue_date=due,
                due_date=due,
                currency=currency,
                total=total,
                amount_paid=paid,
                status=status,
            )

        aging = receivables_aging(as_of=as_of)
        expected = independent_aging(as_of=as_of)

        assert [row.currency for row in aging] == sorted(expected)
        for row in aging:
            want = expected[row.currency]
            assert row.total == want["total"][0]
            assert row.count == want["total"][1]
            assert sum(share.amount for share in row.buckets.values()) == row.total
            for key in BUCKET_KEYS:
                assert (row.buckets[key].amount, row.buckets[key].count) == want.get(key, (0, 0))
            assert (row.paused.amount, row.paused.count) == want.get("paused", (0, 0))

        open_ids = set(Invoice.objects.open().values_list("id", flat=True))
        in_buckets = [
            set(Invoice.objects.open().filter(bucket.due_dates(as_of)).values_list("id", flat=True))
            for bucket in AGING_BUCKETS
        ]
        assert sum(len(ids) for ids in in_buckets) == len(open_ids)
        assert set().union(*in_buckets) == open_ids

        # The desk's one overdue figure: the overdue buckets, every customer's; its paused part; the rest
        # is exactly what the overdue list (the reminders' rule) holds.
        overdue = {row.currency: row for row in overdue_totals(as_of=as_of)}
        for row in aging:
            late = [row.buckets[key] for key in BUCKET_KEYS if key != "current"]
            want_count = sum(share.count for share in late)
            if not want_count:
                assert row.currency not in overdue
                assert row.overdue.overdue.count == row.overdue.paused.count == 0
                continue
            figure = overdue[row.currency]
            assert row.overdue == figure  # the dashboard's figure (in the aging query) is the list's
            assert figure.overdue.count == want_count
            assert figure.overdue.amount == in_minor_units(
                sum(expected[row.currency].get(key, (Decimal(0), 0))[0] for key in BUCKET_KEYS[1:]),
                row.currency,
            )
            listed = Invoice.objects.overdue(as_of=as_of).filter(currency=row.currency)
            assert figure.reminded.count == listed.count()
            assert figure.paused.count == figure.overdue.count - listed.count()


pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("due_date", "bucket"),
    [
        (AS_OF + timedelta(days=5), "current"),
        (AS_OF, "current"),
        (AS_OF - timedelta(days=1), "1-30"),
        (AS_OF - timedelta(days=30), "1-30"),
        (AS_OF - timedelta(days=31), "31-60"),
        (AS_OF - timedelta(days=60), "31-60"),
        (AS_OF - timedelta(days=61), "61-90"),
        (AS_OF - timedelta(days=90), "61-90"),
        (AS_OF - timedelta(days=91), "90+"),
        (date(1900, 1, 1), "90+"),
    ],
)
def test_an_invoice_lands_in_the_bucket_of_its_days_overdue(due_date, bucket):
    InvoiceFactory(due_date=due_date, issue_date=due_date)
    [eur] = receivables_aging(as_of=AS_OF)
    assert {key: share.count for key, share in eur.buckets.items() if share.count} == {bucket: 1}


def test_paid_void_draft_and_fully_paid_invoices_owe_nothing():
    InvoiceFactory(status=InvoiceStatus.PAID)
    InvoiceFactory(status=InvoiceStatus.VOID)
    InvoiceFactory(status=InvoiceStatus.DRAFT)
    InvoiceFactory(total=Decimal("50.00"), amount_paid=Decimal("50.00"))
    assert receivables_aging(as_of=AS_OF) == []


def test_paused_customers_still_owe_and_their_share_is_shown_apart():
    paused = CustomerFactory(reminders_paused=True)
    InvoiceFactory(customer=paused, total=Decimal("70.00"))
    InvoiceFactory(total=Decimal("30.00"))
    [eur] = receivables_aging(as_of=AS_OF)
    assert (eur.total, eur.count) == (Decimal("100.00"), 2)
    assert (eur.paused.amount, eur.paused.count) == (Decimal("70.00"), 1)


def test_overdue_counts_paused_customers_and_shows_their_part_apart():
    paused = CustomerFactory(reminders_paused=True)
    InvoiceFactory(customer=paused, total=Decimal("70.00"), due_date=AS_OF - timedelta(days=3))
    InvoiceFactory(total=Decimal("30.00"), due_date=AS_OF - timedelta(days=1))
    InvoiceFactory(total=Decimal("1000.00"), due_date=AS_OF)
    [eur] = overdue_totals(as_of=AS_OF)
    assert (eur.overdue.amount, eur.overdue.count) == (Decimal("100.00"), 2)
    assert (eur.paused.amount, eur.paused.count) == (Decimal("70.00"), 1)
    assert (eur.reminded.amount, eur.reminded.count) == (Decimal("30.00"), 1)


def test_the_overdue_figure_is_one_query():
    for currency in CURRENCIES:
        InvoiceFactory.create_batch(2, currency=currency, due_date=AS_OF - timedelta(days=5))
    with CaptureQueriesContext(connection) as captured:
        assert len(overdue_totals(as_of=AS_OF)) == len(CURRENCIES)
    assert len(captured.captured_queries) == 1


def test_amounts_are_in_the_minor_units_of_each_currency():
    InvoiceFactory(currency="JPY", total=Decimal("123456.50"))
    InvoiceFactory(currency="BHD", total=Decimal("1.25"))
    bhd, jpy = receivables_aging(as_of=AS_OF)
    assert str(jpy.total) == "123457"
    assert str(bhd.total) == "1.250"
    assert in_minor_units(Decimal("2.5"), "JPY") == Decimal(3)


def test_currencies_are_sorted_by_code():
    for currency in ["USD", "CHF", "EUR"]:
        InvoiceFactory(currency=currency)
    assert [row.currency for row in receivables_aging(as_of=AS_OF)] == ["CHF", "EUR", "USD"]


def test_aging_is_one_query_whatever_the_number_of_currencies():
    for currency in CURRENCIES:
        InvoiceFactory.create_batch(2, currency=currency)
    with CaptureQueriesContext(connection) as captured:
        receivables_aging(as_of=AS_OF)
    assert len(captured.captured_queries) == 1
