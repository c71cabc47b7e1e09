"""P26 with real concurrent processes on PostgreSQL: payments of one invoice recorded at the same moment
count once per reference, and ``amount_paid`` never exceeds ``total``."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoicing.models import Payment
from tests.invoicing.factories import InvoiceFactory
from tests.processes import needs_postgresql, start_manage

pytestmark = [pytest.mark.processes, needs_postgresql, pytest.mark.django_db(transaction=True)]

PAY = """
from datetime import UTC, datetime
from decimal import Decimal
from django.core.exceptions import ValidationError
from invoicing.models import Invoice
from invoicing.services import payment_record
invoice = Invoice.objects.get(number="INV-P")
try:
    result = payment_record(invoice=invoice, reference="{reference}", amount=Decimal("{amount}"),
                            paid_at=datetime(2026, 3, 1, tzinfo=UTC))
    print("created" if result.created else "again")
except ValidationError:
    print("refused")
"""


def test_concurrent_payments_count_once_per_reference_and_never_exceed_the_total():
    invoice = InvoiceFactory(number="INV-P", total=Decimal("100.00"))
    # The same bank payment delivered four times, and three others that cannot all fit in the balance.
    payments = [("BANK-1", "40.00")] * 4 + [("BANK-2", "30.00"), ("BANK-3", "30.00"), ("BANK-4", "30.00")]
    processes = [
        start_manage("shell", "-c", PAY.format(reference=reference, amount=amount))
        for reference, amount in payments
    ]
    outputs = [process.communicate(timeout=120)[0].split()[-1] for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs

    invoice.refresh_from_db()
    recorded = dict(Payment.objects.filter(invoice=invoice).values_list("reference", "amount"))
    # Whichever order the row lock gave them: the repeated payment is recorded once or refused each time,
    # every accepted reference is one row, and each refusal is one the balance left could not take.
    assert sorted(outputs[:4]) in (["again", "again", "again", "created"], ["refused"] * 4)
    assert len(recorded) == outputs.count("created")
    assert invoice.amount_paid == sum(recorded.values()) <= invoice.total
    balance = invoice.total - invoice.amount_paid
    refused = [
        Decimal(amount) for (_, amount), out in zip(payments, outputs, strict=True) if out == "refused"
    ]
    assert all(amount > balance for amount in refused)
    assert outputs.count("refused") >= 1  # 40 + 30 + 30 + 30 cannot all fit in 100
