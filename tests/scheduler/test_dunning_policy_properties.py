"""Properties of docs/SPEC.md §13 for the overdue check: thresholds before the due date (P27, with P12 and
P18), escalation in sequence, and holds on one invoice (P28). Each run is checked against the oracle of
``tests/scheduler/oracle.py``; ``hypothesis.extra.django.TestCase`` rolls back between examples."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from invoicing.models import Invoice, InvoiceStatus
from invoicing.selectors import overdue_totals, receivables_aging
from reminders.models import Notification
from reminders.selectors import ReminderPlan
from reminders.services import reminders_insert
from scheduler.models import RunStatus
from scheduler.services import overdue_check_run
from tests.invoicing.factories import CustomerFactory, InvoiceFactory, held_fields
from tests.scheduler.oracle import examined, make_config, notifications_of, owed
from tests.scheduler.test_threshold_changes import assert_run_keeps_the_promises, thresholds_by_invoice

START = date(2026, 6, 1)
PROPERTY_SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

# Thresholds of both signs, zero included.
signed_thresholds = st.lists(st.integers(-10, 20), min_size=1, max_size=5, unique=True).map(
    lambda days: tuple(sorted(days))
)
# Due dates around the first run: some far past due, some not due for two weeks.
due_offsets = st.lists(st.integers(-30, 15), min_size=1, max_size=12)
steps = st.lists(st.integers(0, 12), min_size=1, max_size=5)


def run_on(as_of: date, thresholds: tuple[int, ...], *, escalation: str = "highest", **options):
    config = make_config(REMINDER_DAYS=",".join(map(str, thresholds)), escalation=escalation)
    return overdue_check_run(triggered_by="command", as_of=as_of, batch_size=3, config=config, **options)


def invoices_due(offsets: list[int], **fields) -> list[Invoice]:
    customer = CustomerFactory()
    return [
        InvoiceFactory(customer=customer, due_date=START + timedelta(days=offset), **fields)
        for offset in offsets
    ]


def assert_levels_never_go_down() -> None:
    for invoice in Invoice.objects.all():
        reminders = list(invoice.notifications.order_by("run_id").values_list("threshold_days", flat=True))
        assert reminders == sorted(set(reminders)), f"invoice {invoice.pk} got thresholds {reminders}"


class ThresholdsBeforeTheDueDate(TestCase):
    @PROPERTY_SETTINGS
    @given(offsets=due_offsets, days=signed_thresholds, forward=steps)
    def test_a_threshold_is_reached_iff_as_of_minus_due_date_reaches_it_for_any_mix_of_signs(
        self, offsets, days, forward
    ):
        """P27 with P12: on later and later days, each run gives exactly the oracle's reminders (threshold
        t reached iff as_of - due_date >= t, the highest reached only), never a lower one after a higher."""
        invoices_due(offsets)
        as_of = START
        for step in forward:
            as_of += timedelta(days=step)
            expected, expected_examined = owed(as_of, days), examined(as_of, days)
            log = run_on(as_of, days)
            assert (log.status, log.error_count) == (RunStatus.COMPLETED, 0), log.errors
            assert notifications_of(log.pk) == expected
            for invoice_id, threshold, days_overdue in Notification.objects.filter(run_id=log.pk).values_list(
                "invoice_id", "threshold_days", "days_overdue"
            ):
                assert days_overdue >= threshold
                assert days_overdue == (as_of - Invoice.objects.get(pk=invoice_id).due_date).days
            log.refresh_from_db()
            assert log.invoices_processed == len(expected_examined)
            assert log.notifications_created == len(expected)
        assert_levels_never_go_down()

    @PROPERTY_SETTINGS
    @given(
        offsets=due_offsets,
        runs=st.lists(st.tuples(signed_thresholds, st.integers(0, 8)), min_size=2, max_size=5),
    )
    def test_threshold_changes_of_any_sign_never_repeat_or_regress_a_reminder(self, offsets, runs):
        """P18 with thresholds of both signs: changing the list between runs never repeats a threshold an
        invoice had nor gives one below it."""
        invoices_due(offsets)
        as_of = START
        for thresholds, days_forward in runs:
            as_of += timedelta(days=days_forward)
            before = thresholds_by_invoice()
            expected = owed(as_of, thresholds)
            log = run_on(as_of, thresholds)
            assert_run_keeps_the_promises(log, before)
            assert notifications_of(log.pk) == expected
        pairs = Counter(Notification.objects.values_list("invoice_id", "threshold_days"))
        assert max(pairs.values(), default=1) == 1

    @PROPERTY_SETTINGS
    @given(offsets=due_offsets, days=signed_thresholds, step=st.integers(0, 10))
    def test_the_dry_run_counts_courtesy_reminders_as_the_real_run_creates_them(self, offsets, days, step):
        """P15 with thresholds before the due date."""
        invoices_due(offsets)
        as_of = START + timedelta(days=step)
        dry = run_on(as_of, days, dry_run=True)
        assert not Notification.objects.exists()
        real = run_on(as_of, days)
        assert (dry.notifications_created, dry.invoices_processed) == (
            real.notifications_created,
            real.invoices_processed,
        )


class EscalationInSequence(TestCase):
    @PROPERTY_SETTINGS
    @given(offsets=due_offsets, days=signed_thresholds, forward=steps)
    def test_reminders_go_one_threshold_after_another_each_no_sooner_than_its_gap(
        self, offsets, days, forward
    ):
        """In sequence (§13): an invoice's first reminder is the first threshold whatever its age; each
        next one is the next threshold, once reached and at least the gap between the two thresholds
        after the one before. So going live never opens with a final notice."""
        invoices_due(offsets)
        as_of = START
        for step in forward:
            as_of += timedelta(days=step)
            expected = owed(as_of, days, in_sequence=True)
            log = run_on(as_of, days, escalation="in_sequence")
            assert (log.status, log.error_count) == (RunStatus.COMPLETED, 0), log.errors
            assert notifications_of(log.pk) == expected
        for invoice in Invoice.objects.all():
            had = list(
                invoice.notifications.order_by("threshold_days").values_list("threshold_days", "days_overdue")
            )
            assert [threshold for threshold, _ in had] == list(days[: len(had)])
            for (before, days_then), (after, days_later) in pairwise(had):
                assert days_later - days_then >= after - before
                assert days_later >= after

    def test_going_live_on_old_invoices_starts_with_the_first_reminder(self):
        """An invoice 40 days overdue when the check starts gets the 1-day reminder first, the 7-day one
        no sooner than 6 days later, and the 30-day one 23 days after that."""
        [invoice] = invoices_due([-40])
        created = {}
        for day in range(0, 40):
            log = run_on(START + timedelta(days=day), (1, 7, 30), escalation="in_sequence")
            for threshold in Notification.objects.filter(run_id=log.pk).values_list(
                "threshold_days", flat=True
            ):
                created[threshold] = day
        assert created == {1: 0, 7: 6, 30: 29}
        assert list(invoice.notifications.order_by("id").values_list("level", flat=True)) == [1, 2, 3]

    def test_the_default_escalation_catches_up_with_the_highest_threshold(self):
        [invoice] = invoices_due([-40])
        run_on(START, (1, 7, 30))
        assert list(invoice.notifications.values_list("threshold_days", flat=True)) == [30]


held_days = st.one_of(st.none(), st.integers(-5, 20))


class HeldInvoices(TestCase):
    @PROPERTY_SETTINGS
    @given(
        invoices=st.lists(st.tuples(st.integers(-30, 10), held_days), min_size=1, max_size=10),
        days=signed_thresholds,
        forward=steps,
    )
    def test_a_held_invoice_gets_nothing_through_its_date_and_the_highest_threshold_reached_after(
        self, invoices, days, forward
    ):
        """P28: no run creates a reminder for an invoice held on its as_of; the first run after the hold
        gives the highest threshold reached then (catch-up), as if the hold had been an outage."""
        customer = CustomerFactory()
        for offset, held in invoices:
            until = None if held is None else START + timedelta(days=held)
            InvoiceFactory(customer=customer, due_date=START + timedelta(days=offset), **held_fields(until))
        as_of = START
        for step in forward:
            as_of += timedelta(days=step)
            before = thresholds_by_invoice()
            expected = owed(as_of, days)
            log = run_on(as_of, days)
            assert notifications_of(log.pk) == expected
            for invoice in Invoice.objects.filter(notifications__run_id=log.pk):
                assert not (invoice.reminders_held_until and invoice.reminders_held_until >= as_of)
                if invoice.reminders_held_until and invoice.pk not in before:
                    reached = max(t for t in days if t <= (as_of - invoice.due_date).days)
                    assert invoice.notifications.get(run_id=log.pk).threshold_days == reached

    def test_hold_through_a_date_then_catch_up(self):
        """Held through the 10th: nothing on the 10th, the 30-day reminder on the 11th (it is 31 days
        overdue then), not the 1- and 7-day ones it missed."""
        [invoice] = invoices_due([-20], **held_fields(START + timedelta(days=10), "promise_to_pay"))
        thresholds = (1, 7, 30)
        held_day = run_on(START + timedelta(days=10), thresholds)
        after = run_on(START + timedelta(days=11), thresholds)
        assert (held_day.invoices_processed, held_day.notifications_created) == (0, 0)
        assert list(invoice.notifications.values_list("run_id", "threshold_days", "level")) == [
            (after.pk, 30, 3)
        ]

    def test_a_held_invoice_is_not_examined_and_the_others_are(self):
        held, free = invoices_due([-5, -5])
        Invoice.objects.filter(pk=held.pk).update(**held_fields(START))
        log = run_on(START, (1,))
        assert (log.invoices_processed, log.notifications_created) == (1, 1)
        assert list(Notification.objects.values_list("invoice_id", flat=True)) == [free.pk]

    def test_a_hold_set_after_the_read_keeps_the_reminder_out(self):
        """The insert re-checks the hold like a payment (P19's re-check): an invoice held between the
        batch's read and its insert gets nothing."""
        [invoice] = invoices_due([-5])
        plan = ReminderPlan(as_of=START, thresholds=(1,), size=10)
        batch = plan.batch_after(0)
        assert [row.id for row in batch.rows] == [invoice.pk]
        Invoice.objects.filter(pk=invoice.pk).update(**held_fields(START))
        assert reminders_insert(plan=plan, owed=batch.owed, run_id=7) == 0
        assert not Notification.objects.exists()


class NotYetDueIsNotOverdue(TestCase):
    @PROPERTY_SETTINGS
    @given(offsets=due_offsets)
    def test_an_invoice_not_yet_due_is_never_overdue_whatever_the_thresholds(self, offsets):
        """§13: a courtesy reminder does not make an invoice overdue: the overdue list holds only
        invoices due before as_of, and the courtesy-reminded ones stay out of it."""
        invoices_due(offsets)
        run_on(START, (-10, 1))
        overdue = set(Invoice.objects.overdue(as_of=START).values_list("pk", flat=True))
        reminded = set(Notification.objects.values_list("invoice_id", flat=True))
        assert overdue == {
            invoice.pk for invoice in Invoice.objects.filter(due_date__lt=START, status=InvoiceStatus.SENT)
        }
        assert {
            invoice.pk for invoice in Invoice.objects.filter(pk__in=reminded, due_date__gte=START)
        }.isdisjoint(overdue)

    def test_a_courtesy_reminded_invoice_stays_current_in_the_aging_and_out_of_the_overdue_figures(self):
        """§13: the aging's overdue buckets and the desk's overdue figure leave out an invoice not yet due,
        though it got a courtesy reminder."""
        soon, late = invoices_due([2, -5])
        log = run_on(START, (-3, 1))
        assert set(Notification.objects.filter(run_id=log.pk).values_list("invoice_id", "days_overdue")) == {
            (soon.pk, -2),
            (late.pk, 5),
        }
        [aging] = receivables_aging(as_of=START)
        assert (aging.buckets["current"].count, aging.buckets["1-30"].count) == (1, 1)
        assert (aging.overdue.overdue.count, aging.overdue.overdue.amount) == (1, late.total)
        [figure] = overdue_totals(as_of=START)
        assert figure.overdue.count == 1
        assert list(Invoice.objects.overdue(as_of=START)) == [late]
