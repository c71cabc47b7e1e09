from datetime import date, timedelta
from decimal import Decimal

import factory

from invoicing.models import Customer, Invoice, InvoiceStatus


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.Sequence(lambda n: f"billing{n}@customer.example")
    reminders_paused = False


class InvoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invoice

    customer = factory.SubFactory(CustomerFactory)
    number = factory.Sequence(lambda n: f"INV-{n:06d}")
    due_date = date(2026, 1, 31)
    issue_date = factory.LazyAttribute(lambda invoice: invoice.due_date - timedelta(days=30))
    currency = "EUR"
    total = Decimal("100.00")
    amount_paid = Decimal("0.00")
    status = InvoiceStatus.SENT


def held_fields(until: date | None, reason: str = "dispute") -> dict[str, object]:
    """An invoice's hold fields: held through ``until`` for ``reason``, or not held when None."""
    if until is None:
        return {}
    return {"reminders_held_until": until, "hold_reason": reason, "hold_note": f"Held ({reason})."}
