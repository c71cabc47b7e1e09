"""Properties of delivery (SPEC §8): P21 (re-checked invoices are cancelled, never sent) and P22 (the
backoff of transient errors), with Hypothesis."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from invoicing.models import Customer, Invoice, InvoiceStatus
from reminders.models import Message, MessageState
from reminders.outbox import MAX_JITTER, MAX_RETRY_DELAY, cancel_reason, reminders_send, retry_delay
from tests.invoicing.factories import CustomerFactory, InvoiceFactory, held_fields
from tests.reminders.factories import NotificationFactory
from tests.reminders.smtp import SmtpServer

AS_OF = date(2026, 3, 1)


@given(
    attempts=st.integers(min_value=1, max_value=60),
    base=st.integers(min_value=0, max_value=3600).map(lambda seconds: timedelta(seconds=seconds)),
    jitter=st.floats(min_value=0, max_value=MAX_JITTER),
)
def test_backoff_doubles_per_attempt_up_to_the_cap_stretched_by_jitter(attempts, base, jitter):
    """P22: the wait after the n-th failed attempt is base * 2^(n-1), capped, times 1 to 1.25."""
    plain = timedelta(
        seconds=min(base.total_seconds() * 2 ** (attempts - 1), MAX_RETRY_DELAY.total_seconds())
    )
    delay = retry_delay(attempts=attempts, base=base, jitter=jitter)
    assert plain <= delay <= plain * (1 + MAX_JITTER)
    assert retry_delay(attempts=attempts + 1, base=base) >= retry_delay(attempts=attempts, base=base)


class CancelRuleAgreesWithTheOverdueRule(TestCase):
    @given(
        status=st.sampled_from(InvoiceStatus.values),
        paid=st.sampled_from([Decimal("0.00"), Decimal("40.00"), Decimal("100.00")]),
        paused=st.booleans(),
        days=st.integers(min_value=-6, max_value=40),
        threshold=st.sampled_from([-3, 0, 1, 7, 30]),
        held_for=st.sampled_from([None, -1, 0, 5]),
    )
    @settings(max_examples=80, deadline=None)
    def test_a_reminder_is_sent_exactly_when_its_invoice_is_remindable_at_its_threshold(
        self, status, paid, paused, days, threshold, held_for
    ):
        """P21, P27, P28: the sender's re-check and the check's rule (courtesy thresholds and holds
        included) agree."""
        invoice = InvoiceFactory(
            status=status,
            amount_paid=paid,
            customer=CustomerFactory(reminders_paused=paused),
            due_date=AS_OF - timedelta(days=days),
            issue_date=AS_OF - timedelta(days=days + 30),
            **held_fields(None if held_for is None else AS_OF + timedelta(days=held_for)),
        )
        invoice.refresh_from_db()
        row = {
            "status": invoice.status,
            "balance_due": invoice.balance_due,
            "paused": paused,
            "held_until": invoice.reminders_held_until,
            "due_date": invoice.due_date,
            "threshold_days": threshold,
            "recipient": invoice.customer.email,
            "customer_email": invoice.customer.email,
            "suppressed_address": "",
        }
        owed = Invoice.objects.remindable(as_of=AS_OF, min_days=threshold).filter(pk=invoice.pk).exists()
        assert (cancel_reason(row, AS_OF) == "") == owed


CHANGES = {
    "paid": lambda invoice: Invoice.objects.filter(pk=invoice.pk).update(
        status=InvoiceStatus.PAID, amount_paid=invoice.total
    ),
    "void": lambda invoice: Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.VOID),
    "paused": lambda invoice: Customer.objects.filter(pk=invoice.customer_id).update(reminders_paused=True),
    "unchanged": lambda invoice: None,
}


class SettledBetweenRunAndSendIsNeverSent(TestCase):
    """P21 against a real SMTP server: what happened to each invoice after its reminder was recorded
    decides alone whether the reminder is received."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.folder = tempfile.TemporaryDirectory()
        cls.server = SmtpServer(Path(cls.folder.name)).start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.stop()
        cls.folder.cleanup()
        super().tearDownClass()

    @given(st.lists(st.sampled_from(sorted(CHANGES)), min_size=1, max_size=5))
    @settings(max_examples=15, deadline=None)
    def test_paid_void_or_paused_is_cancelled_and_only_the_others_are_received(self, changes):
        today = date.today()
        reminders = []
        for change in changes:
            invoice = InvoiceFactory(
                due_date=today - timedelta(days=10), issue_date=today - timedelta(days=40)
            )
            reminders.append(NotificationFactory(invoice=invoice, days_overdue=10, run_id=0))
            CHANGES[change](invoice)
        before = self.server.message_ids()
        with override_settings(
            EMAIL_BACKEND="reminders.mail.SMTPEmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=self.server.port,
            DEFAULT_FROM_EMAIL="billing@shop.example",
        ):
            reminders_send()
        # Counted, not compared as sets: SQLite hands out the ids of rolled-back examples again.
        received = self.server.message_ids() - before
        for reminder, change in zip(reminders, changes, strict=True):
            reminder.refresh_from_db()
            message = Message.objects.get(pk=reminder.delivery_id)
            expected = MessageState.SENT if change == "unchanged" else MessageState.CANCELLED
            assert message.state == expected
            assert reminder.cancel_reason == ("" if change == "unchanged" else change)
            assert (message.message_id in received) == (change == "unchanged")
        assert Message.objects.filter(state=MessageState.SENDING).count() == 0
