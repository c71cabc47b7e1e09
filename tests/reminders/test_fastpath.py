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
from reminders.rules import Escalation
from reminders.selectors import OverdueRow, ReminderPlan, overdue_reminder_rows
from reminders.services import reminders_insert
from tests.invoicing.factories import CustomerFactory, InvoiceFactory, held_fields
from tests.reminders.factories import NotificationFactory

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the fast path is PostgreSQL's")

AS_OF = date(2026, 3, 15)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

invoices = st.lists(
    st.fixed_dictionaries(
        {
            "gap": st.integers(min_value=1, max_value=4),
            "status": st.sampled_from([*[InvoiceStatus.SENT] * 4, *InvoiceStatus.values]),
            "days_before_as_of": st.integers(min_value=-6, max_value=40),
            "total": st.decimals(min_value=0, max_value=10_000, places=2),
            "paid_share": st.sampled_from([0, 0, 0, 1, 2, 4]),  # quarters of the total
            "paused": st.booleans(),
            "currency": st.sampled_from(["EUR", "JPY", "BHD"]),
            "name": st.text(min_size=1, max_size=20),
            "reminded": st.lists(st.sampled_from([-3, 1, 7, 30]), unique=True, max_size=3),
            "held_for": st.sampled_from([None, None, -1, 0, 3]),
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
            **held_fields(None if spec["held_for"] is None else AS_OF + timedelta(days=spec["held_for"])),
            due_date=AS_OF - timedelta(days=days),
            total=spec["total"],
            amount_paid=(spec["total"] * spec["paid_share"] / 4).quantize(Decimal("0.01")),
        )
        for threshold in spec["reminded"]:
            NotificationFactory(invoice=invoice, threshold_days=threshold, days_overdue=max(threshold, days))


def orm_rows(first_threshold: int, escalation: Escalation = Escalation.HIGHEST, **filters) -> list[tuple]:
    rows = overdue_reminder_rows(as_of=AS_OF, first_threshold=first_threshold, escalation=escalation)
    return list(rows.filter(**filters).order_by("id").values_list(*OverdueRow._fields))


def prepared(first_threshold: int, escalation: Escalation = Escalation.HIGHEST) -> PreparedStatements:
    rows = overdue_reminder_rows(as_of=AS_OF, first_threshold=first_threshold, escalation=escalation)
    return PreparedStatements(
        rows, columns=OverdueRow._fields, as_of=AS_OF, min_days=first_threshold, using="default"
    )


class PreparedReadEqualsTheQueryset(TestCase):
    @SETTINGS
    @given(
        specs=invoices,
        first_threshold=st.sampled_from([-3, 0, 1, 7, 30]),
        size=st.integers(1, 6),
        escalation=st.sampled_from(Escalation),
    )
    def test_keyset_batches_of_the_prepared_read_are_the_querysets_rows_in_id_order(
        self, specs, first_threshold, size, escalation
    ):
        """P3, P17, P27, P28: walking the prepared read in keyset batches returns exactly the ORM
        queryset's rows, each once, in id order, no batch longer than ``size``; courtesy thresholds,
        holds and escalation in sequence included."""
        create(specs)
        statements = prepared(first_threshold, escalation)
        walked, after_id = [], 0
        while batch := statements.rows_after(after_id, size):
            assert len(batch) <= size
            assert batch == orm_rows(first_threshold, escalation, id__gt=after_id)[:size]
            walked += batch
            after_id = batch[-1][0]
        assert walked == orm_rows(first_threshold, escalation)

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
    @given(
        specs=invoices,
        thresholds=st.sampled_from([(1, 7, 30), (-3, 0, 7), (-5, 1)]),
        escalation=st.sampled_from(Escalation),
    )
    def test_the_insert_writes_what_the_plan_owes_and_its_follow_up_sees_the_count(
        self, specs, thresholds, escalation
    ):
        """The insert of a whole walk creates exactly the owed reminders of the batches, and the
        statement given as ``then`` runs in it with the number inserted."""
        create(specs)
        plan = ReminderPlan(as_of=AS_OF, thresholds=thresholds, size=1000, escalation=escalation)
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
