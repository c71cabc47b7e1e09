"""Reads on the invoicing domain for finance staff (SPEC §11)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import (
    Aggregate,
    BooleanField,
    Case,
    Count,
    DecimalField,
    F,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)

from invoicing.currency import in_minor_units
from invoicing.models import Customer, Invoice, OpenBalance, due_before


@dataclass(frozen=True)
class AgingBucket:
    """Days overdue from ``low`` to ``high`` (both included; ``None``: open-ended)."""

    key: str
    low: int | None
    high: int | None

    @property
    def overdue(self) -> bool:
        """Its invoices are past due (``due_before``): at least a day overdue."""
        return self.low is not None and self.low >= 1

    def due_dates(self, as_of: date) -> Q:
        """The due dates of an invoice this many days overdue on ``as_of``."""
        bounds = Q()
        if self.low is not None:
            bounds &= Q(due_date__lte=as_of - timedelta(days=self.low))
        if self.high is not None:
            bounds &= Q(due_date__gte=as_of - timedelta(days=self.high))
        return bounds


# "current" is everything not overdue yet, due today included (SPEC §3: due today is not overdue).
AGING_BUCKETS = (
    AgingBucket("current", None, 0),
    AgingBucket("1-30", 1, 30),
    AgingBucket("31-60", 31, 60),
    AgingBucket("61-90", 61, 90),
    AgingBucket("90+", 91, None),
)
BUCKET_KEYS = tuple(bucket.key for bucket in AGING_BUCKETS)


@dataclass(frozen=True)
class Share:
    amount: Decimal
    count: int


@dataclass(frozen=True)
class CurrencyOverdue:
    """What is overdue in one currency on ``as_of``: ``overdue`` counts every customer, ``paused`` is the
    part of it owed by customers whose reminders are paused (the overdue list and the reminders leave
    those out); ``reminded`` is the rest."""

    currency: str
    overdue: Share
    paused: Share

    @property
    def reminded(self) -> Share:
        return Share(self.overdue.amount - self.paused.amount, self.overdue.count - self.paused.count)


@dataclass(frozen=True)
class CurrencyAging:
    """The open balance of one currency on ``as_of``, by age. ``paused`` is the part owed by customers
    whose reminders are paused, ``held`` the invoices on hold on ``as_of`` (docs/SPEC.md §13): included in
    the buckets and the total, and also shown apart."""

    currency: str
    buckets: dict[str, Share]
    paused: Share
    overdue: CurrencyOverdue
    held: Share = Share(Decimal(0), 0)

    @property
    def total(self) -> Decimal:
        # The sum of the rounded buckets, so that the table always adds up.
        return sum((share.amount for share in self.buckets.values()), Decimal(0))

    @property
    def count(self) -> int:
        return sum(share.count for share in self.buckets.values())


def receivables_aging(*, as_of: date) -> list[CurrencyAging]:
    """The open balance per currency on ``as_of`` in the buckets of ``AGING_BUCKETS``, sorted by currency
    code, in one aggregate query. Amounts are in each currency's minor units (rounded half up)."""
    by_currency: dict[str, list[dict[str, Any]]] = {}
    for row in aging_queryset(as_of=as_of):
        by_currency.setdefault(row["currency"], []).append(row)
    return [_currency_aging(currency, rows) for currency, rows in by_currency.items()]


def aging_queryset(*, as_of: date, from_open_balance: bool | None = None) -> QuerySet[Any, Any]:
    """The one query of ``receivables_aging``: the amount and count of the open invoices of each currency,
    bucket (its index in ``AGING_BUCKETS``), paused-or-not and held-or-not on ``as_of``. One sum and one
    count per group, each row's bucket picked once. On PostgreSQL (``from_open_balance`` unless told) it
    sums ``OpenBalance``, which its triggers keep: a few thousand rows whatever the invoices' number;
    elsewhere the open invoices themselves."""
    bucket = Case(
        *(When(bucket.due_dates(as_of), then=Value(index)) for index, bucket in enumerate(AGING_BUCKETS)),
        output_field=IntegerField(),
    )
    held = Case(When(reminders_held_until__gte=as_of, then=True), default=False, output_field=BooleanField())
    if from_open_balance is None:
        from_open_balance = connection.vendor == "postgresql"
    rows: QuerySet[Any, Any]
    count: Aggregate
    if from_open_balance:
        rows, count = OpenBalance.objects.filter(invoices__gt=0), Sum("invoices")
    else:
        rows, count = Invoice.objects.open().annotate(paused=F("customer__reminders_paused")), Count("id")
    return (
        rows.order_by()
        .annotate(bucket=bucket, held=held)
        .values("currency", "bucket", "paused", "held")
        .annotate(amount=Sum("balance_due"), count=count)
        .order_by("currency")
    )


def _overdue_aggregates(as_of: date) -> dict[str, Any]:
    """The overdue figure's sums over open invoices, with the paused customers' part."""
    late = due_before(as_of)
    aggregates: dict[str, Any] = {}
    for name, condition in {"overdue": late, "overdue_paused": late & _PAUSED}.items():
        aggregates[f"{name}_amount"] = Sum("balance_due", filter=condition, default=_ZERO)
        aggregates[f"{name}_count"] = Count("id", filter=condition)
    return aggregates


_PAUSED = Q(customer__reminders_paused=True)


_ZERO = Value(Decimal(0), output_field=DecimalField(max_digits=14, decimal_places=2))


def _share(row: Mapping[str, Any], name: str) -> Share:
    return Share(in_minor_units(row[f"{name}_amount"], row["currency"]), row[f"{name}_count"])


def _total(currency: str, rows: list[dict[str, Any]]) -> Share:
    """The rows' amounts added, then rounded to the currency's minor units once."""
    amount = sum((row["amount"] for row in rows), Decimal(0))
    return Share(in_minor_units(amount, currency), sum(row["count"] for row in rows))


def _currency_aging(currency: str, rows: list[dict[str, Any]]) -> CurrencyAging:
    buckets = {
        bucket.key: _total(currency, [row for row in rows if row["bucket"] == index])
        for index, bucket in enumerate(AGING_BUCKETS)
    }
    late = [row for row in rows if AGING_BUCKETS[row["bucket"]].overdue]
    overdue = CurrencyOverdue(
        currency=currency,
        overdue=_total(currency, late),
        paused=_total(currency, [row for row in late if row["paused"]]),
    )
    paused = _total(currency, [row for row in rows if row["paused"]])
    held = _total(currency, [row for row in rows if row["held"]])
    return CurrencyAging(currency=currency, buckets=buckets, paused=paused, overdue=overdue, held=held)


def _currency_overdue(row: Mapping[str, Any]) -> CurrencyOverdue:
    return CurrencyOverdue(
        currency=row["currency"], overdue=_share(row, "overdue"), paused=_share(row, "overdue_paused")
    )


def overdue_totals(*, as_of: date) -> list[CurrencyOverdue]:
    """The desk's one "overdue" figure per currency (the invoice list's; the dashboard reads the same
    sums in its aging query), with the paused customers' part, sorted by currency code, in one aggregate
    query; amounts in each currency's minor units."""
    rows = (
        Invoice.objects.past_due(as_of=as_of)
        .order_by()
        .values("currency")
        .annotate(**_overdue_aggregates(as_of))
        .order_by("currency")
    )
    return [_currency_overdue(row) for row in rows]


def _every_word(words: Sequence[str], *columns: str) -> Q:
    """Each of ``words`` in one of ``columns`` (any case)."""
    return Q.create(
        [Q.create([(f"{column}__icontains", word) for column in columns], connector=Q.OR) for word in words]
    )


def customers_matching(words: Sequence[str]) -> QuerySet[Customer]:
    """Customers with each of ``words`` in their name or email, in any case (the desk's search; each
    column has a trigram index on PostgreSQL)."""
    return Customer.objects.filter(_every_word(words, "name", "email"))


def invoices_by_number(words: Sequence[str]) -> QuerySet[Invoice, Any]:
    """The ids of the invoices whose number holds each of ``words``, in any case."""
    return Invoice.objects.filter(_every_word(words, "number")).order_by().values("id")


def invoices_matching(words: Sequence[str]) -> QuerySet[Invoice, Any]:
    """The ids of the invoices whose number, or whose customer (``customers_matching``), holds each of
    ``words``: a union, so that each part reads its own index (one ``OR`` across the join reads every
    invoice). The words are matched within one of the two, never some here and some there: a word as
    common as the customers' "Ltd" would otherwise take every invoice into the union."""
    customers = customers_matching(words).order_by().values("id")
    by_customer = Invoice.objects.filter(customer__in=customers).order_by().values("id")
    return invoices_by_number(words).union(by_customer)


# Each step reads the next currency above the last from invoice_currency_idx: one index probe per
# currency instead of a DISTINCT over every invoice.
_CURRENCIES = """
WITH RECURSIVE found (currency) AS (
    SELECT MIN(currency) FROM {table}
    UNION ALL
    SELECT (SELECT MIN(currency) FROM {table} WHERE currency > found.currency)
    FROM found WHERE found.currency IS NOT NULL
)
SELECT currency FROM found WHERE currency IS NOT NULL
"""


def invoice_currencies() -> list[str]:
    """The currencies of all invoices, sorted by code."""
    table = connection.ops.quote_name(Invoice._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(_CURRENCIES.format(table=table))
        return [currency for (currency,) in cursor.fetchall()]
