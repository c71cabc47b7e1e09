"""Properties of docs/SPEC.md §8 for the overdue check, with Hypothesis choosing the data.

``hypothesis.extra.django.TestCase`` rolls the database back after every example (pytest-django's ``db``
fixture would not, pytest-dev/pytest-django#912).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from invoicing.models import Invoice, InvoiceStatus
from reminders.models import Notification
from scheduler.models import RunStatus
from scheduler.services import overdue_check_run
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.scheduler.oracle import examined, make_config, notifications_of, owed

AS_OF = date(2026, 3, 15)
PROPERTY_SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

invoice_specs = st.lists(
    st.fixed_dictionaries(
        {
            "gap": st.integers(min_value=1, max_value=5),
            # Weighted towards the invoices the rule is about, so boundaries are met often.
            "status": st.sampled_from([*[InvoiceStatus.SENT] * 5, *InvoiceStatus.values]),
            "days_before_as_of": st.integers(min_value=-2, max_value=20),
            # No overpayment: the database refuses amount_paid above total.
            "paid": st.sampled_from(["none", "none", "none", "part", "all"]),
            "paused": st.sampled_from([False, False, False, True]),
        }
    ),
    max_size=25,
)
thresholds = st.lists(st.integers(min_value=1, max_value=15), min_size=1, max_size=4, unique=True).map(
    lambda days: tuple(sorted(days))
)
PAID = {"none": Decimal("0"), "part": Decimal("40.50"), "all": Decimal("100")}


def create_invoices(specs: list[dict], as_of: date = AS_OF) -> None:
    """Invoices with ids that leave gaps, so keyset batches meet missing ids."""
    active, paused = CustomerFactory(), CustomerFactory(reminders_paused=True)
    next_id = 1
    for spec in specs:
        next_id += spec["gap"]
        InvoiceFactory(
            id=next_id,
            customer=paused if spec["paused"] else active,
            status=spec["status"],
            due_date=as_of - timedelta(days=spec["days_before_as_of"]),
            total=Decimal("100"),
            amount_paid=PAID[spec["paid"]],
        )


def run(*, reminder_days: tuple[int, ...] = (1,), **options):
    config = make_config(REMINDER_DAYS=",".join(map(str, reminder_days)))
    return overdue_check_run(triggered_by="command", config=config, **options)


class OverdueCheckProperties(TestCase):
    @PROPERTY_SETTINGS
    @given(specs=invoice_specs, batch_size=st.integers(min_value=1, max_value=7), days=thresholds)
    def test_run_notifies_exactly_the_overdue_invoices_once_for_any_batch_size_and_id_gaps(
        self, specs, batch_size, days
    ):
        """P3, P7, P11, P13: selection equals the rule of §3, each invoice is examined exactly once
        whatever the batch size and id gaps, and the log's counters equal the database."""
        create_invoices(specs)
        expected, expected_examined = owed(AS_OF, days), examined(AS_OF, days)

        log = run(as_of=AS_OF, batch_size=batch_size, reminder_days=days)

        assert log.status == RunStatus.COMPLETED
        assert notifications_of(log.pk) == expected
        log.refresh_from_db()
        assert log.invoices_processed == len(expected_examined)
        assert log.notifications_created == Notification.objects.filter(run_id=log.pk).count()
        assert log.already_notified == len(expected_examined) - len(expected)
        assert log.error_count == 0

    @PROPERTY_SETTINGS
    @given(specs=invoice_specs, batch_size=st.integers(min_value=1, max_value=7))
    def test_a_second_run_creates_nothing_new(self, specs, batch_size):
        """P5: re-running on the same day finds everything already notified."""
        create_invoices(specs)
        first = run(as_of=AS_OF, batch_size=batch_size)
        second = run(as_of=AS_OF, batch_size=batch_size)
        assert second.notifications_created == 0
        assert second.already_notified == first.invoices_processed
        assert Notification.objects.count() == first.notifications_created

    @PROPERTY_SETTINGS
    @given(
        specs=invoice_specs,
        days=thresholds,
        steps=st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=5),
    )
    def test_levels_are_the_highest_reached_once_each_and_never_lower_after_higher(self, specs, days, steps):
        """P12: across runs on later and later days (gaps stand for outages), each run gives an invoice at
        most its highest level reached, never one it or a higher one already has."""
        create_invoices(specs, as_of=AS_OF)
        as_of = AS_OF
        for step in steps:
            as_of += timedelta(days=step)
            expected = owed(as_of, days)
            log = run(as_of=as_of, batch_size=3, reminder_days=days)
            assert notifications_of(log.pk) == expected
        for invoice in Invoice.objects.all():
            levels = list(invoice.notifications.order_by("run_id").values_list("level", flat=True))
            assert levels == sorted(set(levels)), f"invoice {invoice.pk} got levels {levels}"

    @PROPERTY_SETTINGS
    @given(specs=invoice_specs, batch_size=st.integers(min_value=1, max_value=7), days=thresholds)
    def test_dry_run_counts_what_a_real_run_creates_and_writes_nothing(self, specs, batch_size, days):
        """P15"""
        create_invoices(specs)
        dry = run(as_of=AS_OF, batch_size=batch_size, reminder_days=days, dry_run=True)
        assert Notification.objects.count() == 0
        real = run(as_of=AS_OF, batch_size=batch_size, reminder_days=days)
        assert dry.dry_run
        assert dry.notifications_created == real.notifications_created
        assert dry.invoices_processed == real.invoices_processed


class QueriesPerBatch(TestCase):
    def queries_for(self, overdue: int, batch_size: int) -> list[str]:
        Invoice.objects.all().delete()
        InvoiceFactory.create_batch(overdue, due_date=AS_OF - timedelta(days=3))
        with CaptureQueriesContext(connection) as queries:
            run(as_of=AS_OF, batch_size=batch_size)
        Notification.objects.all().delete()
        # Savepoints stand for the batch's transaction inside the test's own; they are not queries.
        # The prepared statements of PostgreSQL are logged with their parameters apart.
        return [
            q["sql"].replace("LIMIT %s", f"LIMIT {q['params'][-1]}") if "params" in q else q["sql"]
            for q in queries.captured_queries
            if "SAVEPOINT" not in q["sql"]
        ]

    def test_queries_per_batch_are_constant_and_no_batch_reads_more_than_its_size(self):
        """P17: 4 batches cost exactly 1 query each more than 1 batch does on PostgreSQL (one statement
        reads the batch, inserts its reminders and writes the counters), 4 elsewhere (the read; the
        re-check, the bulk insert and the counters apart), and every read is limited to the batch size."""
        per_batch = 1 if connection.vendor == "postgresql" else 4
        one_batch = self.queries_for(overdue=5, batch_size=5)
        four_batches = self.queries_for(overdue=20, batch_size=5)
        assert len(four_batches) - len(one_batch) == 3 * per_batch
        reads = [sql for sql in four_batches if "top_threshold" in sql]
        assert len(reads) == 5  # 4 full batches and the empty read that ends the walk
        inserts = [sql for sql in four_batches if "INSERT INTO" in sql and "reminders_notification" in sql]
        if connection.vendor == "postgresql":  # one statement: read, insert and counters together
            assert all("LIMIT 5" in sql for sql in reads)
            assert inserts == reads
            assert all("UPDATE" in sql and "scheduler_jobexecutionlog" in sql for sql in inserts)
        else:
            assert all(sql.rstrip().endswith("LIMIT 5") for sql in reads)
            assert len(inserts) == 4
