"""P18: changing OVERDUE_INVOICE_REMINDER_DAYS between runs (adding, removing or moving thresholds) never
repeats a reminder nor gives one below a threshold the invoice already had (SPEC §2, §3)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from invoicing.models import Invoice
from reminders.models import Notification
from scheduler.models import JobExecutionLog, RunStatus
from scheduler.services import overdue_check_run
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.reliability.conftest import reliability_size
from tests.scheduler.oracle import examined, make_config, notifications_of, owed

START = date(2026, 6, 1)  # runs move forward from here, and a real run judges no future date
# Invoices due from 90 days before the first run to 30 days after it: over the runs they cross every
# threshold the lists below can hold.
DUE_OFFSETS = range(-90, 31, 8)

threshold_lists = st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=5, unique=True).map(
    sorted
)
run_sequences = st.lists(
    st.tuples(threshold_lists, st.integers(min_value=0, max_value=20)),  # (thresholds, days forward)
    min_size=2,
    max_size=6,
)


def run_on(as_of: date, thresholds: list[int], batch_size: int = 4) -> JobExecutionLog:
    config = make_config(REMINDER_DAYS=",".join(map(str, thresholds)))
    return overdue_check_run(triggered_by="command", as_of=as_of, batch_size=batch_size, config=config)


def thresholds_by_invoice() -> dict[int, set[int]]:
    had: dict[int, set[int]] = {}
    for invoice_id, threshold in Notification.objects.values_list("invoice_id", "threshold_days"):
        had.setdefault(invoice_id, set()).add(threshold)
    return had


def assert_run_keeps_the_promises(log: JobExecutionLog, before: dict[int, set[int]]) -> None:
    """What one run may add given the thresholds each invoice ``before`` it had."""
    log.refresh_from_db()
    assert (log.status, log.error_count) == (RunStatus.COMPLETED, 0), log.errors
    new = list(Notification.objects.filter(run_id=log.pk).values_list("invoice_id", "threshold_days"))
    per_invoice = Counter(invoice for invoice, _ in new)
    assert max(per_invoice.values(), default=0) <= 1, f"several reminders for one invoice in a run: {new}"
    for invoice, threshold in new:
        had = before.get(invoice, set())
        assert threshold not in had, f"invoice {invoice} reminded twice for {threshold} days"
        assert all(threshold > old for old in had), f"invoice {invoice}: {threshold} days after {had}"
    assert log.notifications_created == len(new)
    assert log.already_notified + log.notifications_created == log.invoices_processed


class ThresholdChangesProperty(TestCase):
    @settings(
        max_examples=reliability_size().examples * 2,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(runs=run_sequences)
    def test_threshold_changes_never_repeat_or_regress_a_reminder(self, runs):
        """P18 (and P11, P12): over any sequence of threshold lists and later and later dates, every run
        creates exactly the oracle's reminders, at most one per invoice, never one for a threshold the
        invoice had nor one below a threshold it had; its counters equal the rows; no (invoice,
        threshold) is ever reminded twice."""
        customer = CustomerFactory()
        for offset in DUE_OFFSETS:
            InvoiceFactory(customer=customer, due_date=START + timedelta(days=offset))
        as_of = START
        for thresholds, days_forward in runs:
            as_of += timedelta(days=days_forward)
            before = thresholds_by_invoice()
            expected = owed(as_of, tuple(thresholds))
            expected_examined = examined(as_of, tuple(thresholds))
            log = run_on(as_of, thresholds)
            assert_run_keeps_the_promises(log, before)
            assert notifications_of(log.pk) == expected
            assert log.invoices_processed == len(expected_examined)
        pairs = Counter(Notification.objects.values_list("invoice_id", "threshold_days"))
        assert max(pairs.values(), default=1) == 1


class ThresholdChangesExamples(TestCase):
    def test_adding_a_first_threshold_does_not_repeat_the_thirty_day_reminder(self):
        """The reproduction of the defect: `7,30` on 2026-11-30, then `1,7,30` on 2026-12-01. Positions
        moved (30 days went from level 2 to level 3); a position-keyed reminder repeated the 30-day one."""
        as_of = date(2026, 11, 30)
        invoices = [InvoiceFactory(due_date=as_of - timedelta(days=days)) for days in (3, 8, 29, 30, 45)]
        first = run_on(as_of, [7, 30])
        second = run_on(as_of + timedelta(days=1), [1, 7, 30])

        reminders = {
            invoice.number: list(invoice.notifications.order_by("id").values_list("threshold_days", "level"))
            for invoice in Invoice.objects.filter(pk__in=[invoice.pk for invoice in invoices])
        }
        assert reminders == {
            invoices[0].number: [(1, 1)],  # 4 days overdue on the second day: its first reminder
            invoices[1].number: [(7, 1)],  # 9 days: had 7, nothing new
            invoices[2].number: [(7, 1), (30, 3)],  # reached 30 on the second day
            invoices[3].number: [(30, 2)],
            invoices[4].number: [(30, 2)],
        }
        assert (first.notifications_created, second.notifications_created) == (4, 2)
        assert (second.status, second.error_count, second.already_notified) == (RunStatus.COMPLETED, 0, 3)

    def test_removing_a_threshold_gives_no_lower_reminder_after_a_higher_one(self):
        """An invoice reminded at 30 days gets nothing when 30 leaves the list and 14 stays."""
        as_of = date(2026, 10, 31)
        invoice = InvoiceFactory(due_date=as_of - timedelta(days=35))
        run_on(as_of, [7, 30])
        later = run_on(as_of + timedelta(days=10), [7, 14])
        assert list(invoice.notifications.values_list("threshold_days", flat=True)) == [30]
        assert (later.notifications_created, later.already_notified) == (0, 1)

    def test_moving_a_threshold_up_gives_the_new_one_once_reached(self):
        as_of = date(2026, 10, 31)
        invoice = InvoiceFactory(due_date=as_of - timedelta(days=20))
        run_on(as_of, [14])
        run_on(as_of + timedelta(days=1), [21])  # 21 days overdue: 21 > 14, a new reminder
        run_on(as_of + timedelta(days=2), [14, 21])  # nothing new: it has 21
        assert sorted(invoice.notifications.values_list("threshold_days", flat=True)) == [14, 21]
