"""Writes on the invoicing domain that span many rows."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import QuerySet

from invoicing.models import Customer, Invoice, InvoiceStatus, Notification

DEMO_CHUNK = 5_000
# What marks a row as the demo's own: `seed_demo_data --reset` deletes only a database holding nothing else.
DEMO_INVOICE_PREFIX = "INV-"
DEMO_EMAIL_DOMAIN = ".example"  # reserved (RFC 2606): no real customer has an address there
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK")
FIRST_NAMES = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Hooli", "Vandelay")
LAST_NAMES = ("Industries", "Trading", "Logistics", "Foods", "Labs", "Holdings", "Partners", "GmbH", "SA")

# (weight, status, days the due date lies before as_of: (min, max), share of total already paid)
DEMO_SPREAD: tuple[tuple[int, str, tuple[int, int], float], ...] = (
    (25, InvoiceStatus.SENT, (1, 120), 0.0),  # overdue, by 1 day to 4 months
    (5, InvoiceStatus.SENT, (1, 60), 0.4),  # overdue and partly paid
    (4, InvoiceStatus.SENT, (0, 0), 0.0),  # due today: not overdue yet
    (30, InvoiceStatus.SENT, (-60, -1), 0.0),  # not yet due
    (20, InvoiceStatus.PAID, (-30, 120), 1.0),
    (8, InvoiceStatus.VOID, (-30, 120), 0.0),
    (8, InvoiceStatus.DRAFT, (-30, -1), 0.0),
)


class DemoDataExists(Exception):
    """Demo data would be added on top of existing invoices."""


class NonDemoDataFound(Exception):
    """A reset would delete customers or invoices the demo did not create."""


@dataclass(frozen=True)
class DemoDataSummary:
    customers: int
    invoices: int
    paused_customers: int


def demo_data_reset(*, delete_non_demo_data: bool = False) -> None:
    """Delete every notification, invoice and customer (run logs are kept: they are history).

    Raises ``NonDemoDataFound``, deleting nothing, when a customer or invoice is not the demo's own,
    unless ``delete_non_demo_data``.
    """
    with transaction.atomic():
        if not delete_non_demo_data:
            _refuse_non_demo_data()
        Notification.objects.all().delete()
        Invoice.objects.all().delete()
        Customer.objects.all().delete()


def _refuse_non_demo_data() -> None:
    found = []
    customers = Customer.objects.exclude(email__iendswith=DEMO_EMAIL_DOMAIN)
    if count := customers.count():
        examples = _examples(customers, "pk", count)
        found.append(f"{count} customers whose email is not on a {DEMO_EMAIL_DOMAIN} domain (ids {examples})")
    invoices = Invoice.objects.exclude(number__startswith=DEMO_INVOICE_PREFIX)
    if count := invoices.count():
        examples = _examples(invoices, "number", count)
        prefix = DEMO_INVOICE_PREFIX
        found.append(f"{count} invoices whose number does not start with {prefix!r} ({examples})")
    if found:
        raise NonDemoDataFound(
            f"the {connection.vendor} database {connection.settings_dict['NAME']!r} holds data the demo did "
            f"not create: {' and '.join(found)}. Nothing was deleted."
        )


def _examples(rows: QuerySet, field: str, count: int, shown: int = 3) -> str:
    values = rows.order_by(field).values_list(field, flat=True)[:shown]
    return ", ".join(str(value) for value in values) + (", …" if count > shown else "")


def _demo_customers(rng: random.Random, count: int) -> list[Customer]:
    customers = []
    for i in range(count):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} {i + 1}"
        email = f"billing+{i + 1}@{name.split()[0].lower()}{DEMO_EMAIL_DOMAIN}"
        # Every 25th customer is on hold, and the first always is, so a demo shows one.
        customers.append(Customer(name=name, email=email, reminders_paused=i % 25 == 0))
    return customers


def _demo_invoice(rng: random.Random, number: int, customer_id: int, as_of: date) -> Invoice:
    weights = [row[0] for row in DEMO_SPREAD]
    _, status, (low, high), paid_share = rng.choices(DEMO_SPREAD, weights=weights)[0]
    due_date = as_of - timedelta(days=rng.randint(low, high))
    total = Decimal(rng.randint(5_000, 500_000)) / 100
    amount_paid = (total * Decimal(str(paid_share))).quantize(Decimal("0.01"))
    return Invoice(
        customer_id=customer_id,
        number=f"{DEMO_INVOICE_PREFIX}{number:07d}",
        issue_date=due_date - timedelta(days=30),
        due_date=due_date,
        currency=rng.choice(CURRENCIES),
        total=total,
        amount_paid=amount_paid,
        status=status,
    )


def _chunks(total: int, size: int) -> Iterator[range]:
    for start in range(0, total, size):
        yield range(start, min(start + size, total))


def demo_data_create(
    *,
    customers: int,
    invoices: int,
    seed: int,
    as_of: date,
    reset: bool = False,
    delete_non_demo_data: bool = False,
    on_progress: Callable[[int], None] = lambda done: None,
) -> DemoDataSummary:
    """Create a realistic spread of customers and invoices around ``as_of`` with bulk inserts.

    Raises ``DemoDataExists`` when invoices exist and ``reset`` is false, rather than doubling them, and
    ``NonDemoDataFound`` when a reset would delete data the demo did not create (``demo_data_reset``).
    """
    if reset:
        demo_data_reset(delete_non_demo_data=delete_non_demo_data)
    elif Invoice.objects.exists():
        raise DemoDataExists(
            f"{Invoice.objects.count()} invoices already exist; use --reset to replace them."
        )
    rng = random.Random(seed)
    created = Customer.objects.bulk_create(_demo_customers(rng, customers), batch_size=DEMO_CHUNK)
    customer_ids = [customer.pk for customer in created]
    for chunk in _chunks(invoices, DEMO_CHUNK):
        batch = [_demo_invoice(rng, n + 1, rng.choice(customer_ids), as_of) for n in chunk]
        Invoice.objects.bulk_create(batch)
        on_progress(len(batch))
    paused = sum(customer.reminders_paused for customer in created)
    return DemoDataSummary(customers=customers, invoices=invoices, paused_customers=paused)


class Reminder(NamedTuple):
    """A notification to insert: the row, without the Python model object (too slow at 100,000s)."""

    invoice_id: int
    level: int
    days_overdue: int
    recipient: str
    message: str


NOTIFICATION_INSERT_PG = """
INSERT INTO invoicing_notification (invoice_id, level, days_overdue, recipient, message, execution_id)
SELECT invoice_id, level, days_overdue, recipient, message, %s
FROM unnest(%s::bigint[], %s::smallint[], %s::integer[], %s::text[], %s::text[])
    AS r(invoice_id, level, days_overdue, recipient, message)
"""


def notifications_insert(*, reminders: list[Reminder], execution_id: int) -> int:
    """Insert ``reminders`` in one statement and return how many rows were inserted.

    A reminder that breaks a constraint fails the whole statement (nothing is ignored): the caller
    decides what to retry. On PostgreSQL the rows travel as arrays, one parameter per column.
    """
    if not reminders:
        return 0
    if connection.vendor != "postgresql":
        Notification.objects.bulk_create(
            Notification(execution_id=execution_id, **reminder._asdict()) for reminder in reminders
        )
        return len(reminders)
    columns = [list(column) for column in zip(*reminders, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(NOTIFICATION_INSERT_PG, [execution_id, *columns])
        return cursor.rowcount
