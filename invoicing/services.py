"""Writes on the invoicing domain that span many rows."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import CharField, F, QuerySet, Value
from django.db.models.functions import Concat

from common.dates import FIRST_DATE, LAST_DATE
from invoicing.currency import amount_problem
from invoicing.models import Customer, HoldReason, Invoice, InvoiceStatus, Payment

DEMO_CHUNK = 5_000
# What marks a row as the demo's own: `seed_demo_data --reset` deletes only a database holding nothing else.
DEMO_INVOICE_PREFIX = "INV-"
DEMO_EMAIL_DOMAIN = ".example"  # reserved (RFC 2606): no real customer has an address there
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK")
FIRST_NAMES = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Hooli", "Vandelay")
LAST_NAMES = ("Industries", "Trading", "Logistics", "Foods", "Labs", "Holdings", "Partners", "GmbH", "SA")

# The demo's customer who reads German (SPEC §13), with several overdue invoices, some with a pay link.
DEMO_GERMAN_CUSTOMER = ("Müller & Söhne GmbH", "buchhaltung@mueller-soehne.example")
DEMO_GERMAN_OVERDUE = 4
DEMO_PAY_LINK = "https://pay.example/"  # every third invoice has one

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

# The last invoices of the demo show the dunning policy (docs/SPEC.md §13), each owed to the first customer
# whose reminders are not paused: (days the due date lies before as_of, days it is held past as_of or None).
DEMO_POLICY_EXAMPLES: tuple[tuple[int, int | None], ...] = (
    (-2, None),  # due in 2 days: a courtesy reminder once a threshold is -2 or lower
    (10, 14),  # 10 days overdue, in dispute: held for two more weeks
)
DEMO_HOLD_NOTE = "The customer disputes the delivered quantity."


class DemoDataExists(Exception):
    """Demo data would be added on top of existing invoices."""


class NonDemoDataFound(Exception):
    """A reset would delete customers or invoices the demo did not create."""


@dataclass(frozen=True)
class DemoDataSummary:
    customers: int
    invoices: int
    paused_customers: int
    examples: tuple[Invoice, ...] = ()


def demo_data_reset(*, delete_non_demo_data: bool = False) -> None:
    """Delete every invoice and customer; their reminders must be deleted first.

    Raises ``NonDemoDataFound``, deleting nothing, when a customer or invoice is not the demo's own,
    unless ``delete_non_demo_data``.
    """
    with transaction.atomic():
        if not delete_non_demo_data:
            _refuse_non_demo_data()
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
        payment_url=f"{DEMO_PAY_LINK}{DEMO_INVOICE_PREFIX}{number:07d}" if number % 3 == 0 else "",
    )


def _demo_german_customer(customer: Customer, as_of: date) -> None:
    """The last demo customer reads German: it gets the first overdue invoices of the demo, so that its
    statement lists several, some with their pay link."""
    customer.name, customer.email = DEMO_GERMAN_CUSTOMER
    customer.language = "de"
    customer.save(update_fields=["name", "email", "language"])
    overdue = Invoice.objects.filter(
        status=InvoiceStatus.SENT, due_date__lt=as_of, amount_paid=0, customer__reminders_paused=False
    ).order_by("id")
    moved = list(overdue.values_list("id", flat=True)[:DEMO_GERMAN_OVERDUE])
    Invoice.objects.filter(id__in=moved).update(customer=customer, payment_url="")
    Invoice.objects.filter(id__in=moved[::2]).update(
        payment_url=Concat(Value(DEMO_PAY_LINK), "number", output_field=CharField())
    )


def _demo_policy_invoice(
    number: int, customer_id: int, as_of: date, days_late: int, held_for: int | None
) -> Invoice:
    due_date = as_of - timedelta(days=days_late)
    hold = (
        {
            "reminders_held_until": as_of + timedelta(days=held_for),
            "hold_reason": HoldReason.DISPUTE,
            "hold_note": DEMO_HOLD_NOTE,
        }
        if held_for is not None
        else {}
    )
    return Invoice(
        customer_id=customer_id,
        number=f"{DEMO_INVOICE_PREFIX}{number:07d}",
        issue_date=due_date - timedelta(days=30),
        due_date=due_date,
        currency="EUR",
        total=Decimal("1250.00"),
        status=InvoiceStatus.SENT,
        **hold,
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
    on_progress: Callable[[int], None] = lambda done: None,
) -> DemoDataSummary:
    """Create a realistic spread of customers and invoices around ``as_of`` with bulk inserts.

    Raises ``DemoDataExists`` when invoices exist, rather than doubling them.
    """
    if Invoice.objects.exists():
        raise DemoDataExists(
            f"{Invoice.objects.count()} invoices already exist; use --reset to replace them."
        )
    rng = random.Random(seed)
    created = Customer.objects.bulk_create(_demo_customers(rng, customers), batch_size=DEMO_CHUNK)
    customer_ids = [customer.pk for customer in created]
    examples = DEMO_POLICY_EXAMPLES[:invoices]
    random_invoices = invoices - len(examples)
    for chunk in _chunks(random_invoices, DEMO_CHUNK):
        batch = [_demo_invoice(rng, n + 1, rng.choice(customer_ids), as_of) for n in chunk]
        Invoice.objects.bulk_create(batch)
        on_progress(len(batch))
    _demo_german_customer(created[-1], as_of)
    reminded = next((customer.pk for customer in created if not customer.reminders_paused), customer_ids[0])
    shown = Invoice.objects.bulk_create(
        _demo_policy_invoice(random_invoices + n + 1, reminded, as_of, *example)
        for n, example in enumerate(examples)
    )
    on_progress(len(shown))
    paused = sum(customer.reminders_paused for customer in created)
    return DemoDataSummary(
        customers=customers, invoices=invoices, paused_customers=paused, examples=tuple(shown)
    )


@dataclass(frozen=True)
class PaymentResult:
    payment: Payment
    created: bool  # False: this reference was recorded before, and ``payment`` is that first record


def payment_record(*, invoice: Invoice, reference: str, amount: Decimal, paid_at: datetime) -> PaymentResult:
    """Add ``amount`` to the invoice's ``amount_paid``; the invoice becomes ``paid`` when nothing is owed.

    Idempotent by ``reference``: the same payment sent again is recorded once, and the first record is
    returned. Raises ``ValidationError`` (field, value, rule) for a blank reference, an amount that is
    not positive or not in the currency's minor units, a void invoice, or an amount above the balance.
    """
    if not reference.strip():
        raise _invalid("reference", reference, "must not be blank")
    with transaction.atomic():
        # The row lock orders concurrent payments of one invoice: each sees the balance the last left.
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if first := Payment.objects.filter(invoice=locked, reference=reference).first():
            return PaymentResult(payment=first, created=False)
        _refuse_payment(locked, amount)
        payment = Payment.objects.create(invoice=locked, reference=reference, amount=amount, paid_at=paid_at)
        paid = locked.amount_paid + amount == locked.total
        Invoice.objects.filter(pk=locked.pk).update(
            amount_paid=F("amount_paid") + amount,
            **({"status": InvoiceStatus.PAID} if paid else {}),
        )
    invoice.refresh_from_db()
    return PaymentResult(payment=payment, created=True)


def _refuse_payment(invoice: Invoice, amount: Decimal) -> None:
    if problem := amount_problem(amount, invoice.currency):
        raise _invalid("amount", amount, problem)
    if amount <= 0:
        raise _invalid("amount", amount, "must be above 0")
    if invoice.status == InvoiceStatus.VOID:
        raise _invalid("invoice", invoice.number, "is void: a void invoice takes no payment")
    balance = invoice.total - invoice.amount_paid
    if amount > balance:
        raise _invalid(
            "amount",
            amount,
            f"is above the balance due of invoice {invoice.number} ({invoice.currency} {balance}): "
            "a payment may not exceed what is owed",
        )


def _invalid(field: str, value: object, rule: str) -> ValidationError:
    return ValidationError({field: ValidationError(f"{field}={value!s}: {rule}.", code="invalid")})


def hold_problems(*, until: date | None, reason: str, note: str) -> list[tuple[str, object, str]]:
    """What is wrong with a hold (docs/SPEC.md §13) as (field, value, rule): a date needs a reason of
    ``HoldReason``; no date means no hold, so no reason and no note either."""
    if until is None:
        return [
            (name, value, "needs reminders_held_until: without a date there is no hold")
            for name, value in (("hold_reason", reason), ("hold_note", note))
            if value
        ]
    problems: list[tuple[str, object, str]] = []
    if not FIRST_DATE <= until <= LAST_DATE:
        problems.append(("reminders_held_until", until, f"must be from {FIRST_DATE} to {LAST_DATE}"))
    if reason not in HoldReason.values:
        rule = f"is required with reminders_held_until, one of {', '.join(HoldReason.values)}"
        problems.append(("hold_reason", reason, rule))
    return problems


def invoices_hold(*, ids: Sequence[int], until: date, reason: str, note: str = "") -> int:
    """Hold reminders for the invoices ``ids`` through ``until`` (docs/SPEC.md §13); returns how many.
    Raises ``ValidationError`` naming the field for a reason not in ``HoldReason`` or a date outside §2's.
    Reminders already waiting in the outbox are left out by the sender's re-check."""
    if problems := hold_problems(until=until, reason=reason, note=note):
        field, value, rule = problems[0]
        raise _invalid(field, value, rule)
    return Invoice.objects.filter(pk__in=ids).update(
        reminders_held_until=until, hold_reason=reason, hold_note=note.strip()
    )


def invoice_hold_put(*, number: str, until: date | None, reason: str, note: str) -> bool:
    """Set the invoice ``number``'s hold as given (``until`` None: no hold), checked by
    ``hold_problems`` first; returns whether it changed."""
    if problems := hold_problems(until=until, reason=reason, note=note):
        field, value, rule = problems[0]
        raise _invalid(field, value, rule)
    wanted = {"reminders_held_until": until, "hold_reason": reason, "hold_note": note}
    return bool(Invoice.objects.filter(number=number).exclude(**wanted).update(**wanted))


def invoices_release(*, ids: Sequence[int]) -> int:
    """End the hold of the invoices ``ids``: the next run reminds them as owed (the highest threshold
    reached, docs/SPEC.md §13); returns how many were held."""
    return Invoice.objects.filter(pk__in=ids, reminders_held_until__isnull=False).update(
        reminders_held_until=None, hold_reason="", hold_note=""
    )
