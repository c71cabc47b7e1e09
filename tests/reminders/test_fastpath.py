"""The prepared statements of ``reminders.fastpath`` against the ORM they stand in for (PostgreSQL only).

``hypothesis.extra.django.TestCase`` rolls the database back after every example (pytest-django#912).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from invoicing.models import InvoiceStatus
from reminders.fastpath import PreparedStatements
from reminders.models import Notification
from reminders.selectors import OverdueRow, ReminderPlan, overdue_reminder_rows
from reminders.services import reminders_insert
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.reminders.factories import NotificationFactory

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the fast path is PostgreSQL's")

AS_OF = date(2026, 3, 15)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

invoices = st.lists(
    st.fixed_dictionaries(
        {
            "gap": st.integers(min_value=1, max_value=4),
            "status": st.sampled_from([*[InvoiceStatus.SENT] * 4, *InvoiceStatus.values]),
            "days_before_as_of": st.integers(min_value=-2, max_value=40),
            "total": st.decimals(min_value=0, max_value=10_000, places=2),
            "paid_share": st.sampled_from([0, 0, 0, 1, 2, 4]),  # quarters of the total
            "paused": st.booleans(),
            "currency": st.sampled_from(["EUR", "JPY", "BHD"]),
            "name": st.text(min_size=1, max_size=20),
            "reminded": st.lists(st.sampled_from([1, 7, 30]), unique=True, max_size=3),
        }
    ),
    max_size=20,
)


def create(specs: list[dict]) -> None:
    next_id = 1
    for spec in specs:
        next_id += spec["gap"]
        customer = CustomerFactory(name=spec["name"].replace("\x00", "?"), reminders_paused=spec["paused"])
        days = spec["days_before_as_of"]
        invoice = InvoiceFactory(
            id=next_id,
            customer=customer,
            status=spec["status"],
            currency=spec["currency"],
            due_date=AS_OF - timedelta(days=days),
            total=spec["total"],
            amount_paid=(spec["total"] * spec["paid_share"] / 4).quantize(Decimal("0.01")),
        )
        for threshold in spec["reminded"]:
            NotificationFactory(invoice=invoice, threshold_days=threshold, days_overdue=max(threshold, days))


def orm_rows(first_threshold: int, **filters) -> list[tuple]:
    rows = overdue_reminder_rows(as_of=AS_OF, first_threshold=first_threshold).filter(**filters)
    return list(rows.order_by("id").values_list(*OverdueRow._fields))


def prepared(first_threshold: int) -> PreparedStatements:
    rows = overdue_reminder_rows(as_of=AS_OF, first_threshold=first_threshold)
    return PreparedStatements(
        rows, columns=OverdueRow._fields, as_of=AS_OF, min_days=first_threshold, using="default"
    )


class PreparedReadEqualsTheQueryset(TestCase):
    @SETTINGS
    @given(specs=invoices, first_threshold=st.sampled_from([1, 7, 30]), size=st.integers(1, 6))
    def test_keyset_batches_of_the_prepared_read_are_the_querysets_rows_in_id_order(
        self, specs, first_threshold, size
    ):
        """P3, P17: walking the prepared read in keyset batches returns exactly the ORM queryset's rows,
        each once, in id order, no batch longer than ``size``."""
        create(specs)
        statements = prepared(first_threshold)
        walked, after_id = [], 0
        while batch := statements.rows_after(after_id, size):
            assert len(batch) <= size
            assert batch == orm_rows(first_threshold, id__gt=after_id)[:size]
            walked += batch
            after_id = batch[-1][0]
        assert walked == orm_rows(first_threshold)

    @SETTINGS
    @given(specs=invoices, first_threshold=st.sampled_from([1, 7]))
    def test_ids_and_single_rows_of_the_prepared_read_match_the_queryset(self, specs, first_threshold):
        create(specs)
        statements = prepared(first_threshold)
        expected = orm_rows(first_threshold)
        assert statements.ids_after(0, 1000) == [row[0] for row in expected]
        for row in expected:
            assert statements.row(row[0]) == [row]


class PreparedInsert(TestCase):
    @SETTINGS
    @given(specs=invoices)
    def test_the_insert_writes_what_the_plan_owes_and_its_follow_up_sees_the_count(self, specs):
        """The insert of a whole walk creates exactly the owed reminders of the batches, and the
        statement given as ``then`` runs in it with the number inserted."""
        create(specs)
        plan = ReminderPlan(as_of=AS_OF, thresholds=(1, 7, 30), size=1000)
        batch = plan.batch_after(0)
        counted: list[int] = []

        def then(created: str) -> tuple[str, list[int]]:
            counted.append(1)
            return f"SELECT {created} + %s", [0]

        created = reminders_insert(plan=plan, owed=batch.owed, run_id=7, then=then)
        assert created == len(batch.owed)
        assert counted == ([1] if batch.owed else [])
        columns = ("invoice_id", "threshold_days", "level", "days_overdue", "recipient", "message")
        inserted = set(Notification.objects.filter(run_id=7).values_list(*columns))
        assert inserted == set(batch.owed)
