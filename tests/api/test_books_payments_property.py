"""P26 through the API: a payment is recorded once per reference, and ``amount_paid`` never exceeds
``total`` — for any sequence of payments, and for the same payment posted from two threads at once."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from invoicing.models import Invoice, Payment
from tests.api.conftest import BOOKS_PERMISSIONS, headers_with_permissions
from tests.invoicing.factories import InvoiceFactory
from tests.processes import needs_postgresql

URL = "/api/v1/invoices/INV-P/payments"
PAID_AT = "2026-03-11T09:30:00Z"


def pay(client: Client, headers: dict[str, str], reference: str, amount: str):
    body = {"reference": reference, "amount": amount, "paid_at": PAID_AT}
    return client.post(URL, body, content_type="application/json", headers=headers)


class PaymentsAreRecordedOncePerReference(TestCase):
    @settings(max_examples=40, deadline=None)
    @given(
        total=st.integers(1, 10_000),
        payments=st.lists(
            st.tuples(st.sampled_from(["B-1", "B-2", "B-3", "B-4"]), st.integers(1, 6_000)), max_size=12
        ),
    )
    def test_each_reference_once_and_never_above_the_total(self, total, payments):
        headers = headers_with_permissions("p26", BOOKS_PERMISSIONS)
        invoice = InvoiceFactory(number="INV-P", total=Decimal(total) / 100)
        first: dict[str, dict] = {}
        for reference, cents in payments:
            response = pay(self.client, headers, reference, str(Decimal(cents) / 100))
            if reference in first:
                assert response.status_code == 200
                assert response.json()["payment"] == first[reference]
            elif response.status_code == 201:
                first[reference] = response.json()["payment"]
            else:
                assert response.status_code == 400
                assert response.json()["errors"][0]["field"] == "amount"
        invoice.refresh_from_db()
        recorded = dict(Payment.objects.values_list("reference", "amount"))
        assert recorded.keys() == first.keys()
        assert invoice.amount_paid == sum(recorded.values(), Decimal(0)) <= invoice.total
        assert (invoice.status == "paid") == (invoice.amount_paid == invoice.total)


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_same_payment_from_two_threads_at_once_is_recorded_once():
    headers = headers_with_permissions("threads", BOOKS_PERMISSIONS)
    InvoiceFactory(number="INV-P", total=Decimal("100.00"))
    start = threading.Barrier(4)
    payments = [("BANK-1", "60.00"), ("BANK-1", "60.00"), ("BANK-2", "40.00"), ("BANK-3", "40.00")]
    codes: dict[int, int] = {}

    def post(index: int) -> None:
        try:
            start.wait()
            codes[index] = pay(Client(), headers, *payments[index]).status_code
        finally:
            connection.close()

    # The same bank payment twice at once, and two others that cannot both fit with it in the total.
    threads = [threading.Thread(target=post, args=(index,)) for index in range(len(payments))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    invoice = Invoice.objects.get(number="INV-P")
    recorded = dict(Payment.objects.values_list("reference", "amount"))
    assert len(codes) == 4
    # Recorded once (201, then 200 with the first record), or refused both times for want of balance.
    assert sorted([codes[0], codes[1]]) in ([200, 201], [400, 400])
    assert list(codes.values()).count(201) == len(recorded)
    assert invoice.amount_paid == sum(recorded.values(), Decimal(0)) <= invoice.total
    assert 400 in codes.values()  # 60 + 40 + 40 cannot all fit in 100
