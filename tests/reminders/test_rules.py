import unicodedata
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.dates import FIRST_DATE, LAST_DATE
from reminders.rules import (
    days_overdue,
    days_overdue_sql,
    money,
    plain_text,
    reached_threshold,
    reached_threshold_sql,
    reminder_message,
    reminder_message_sql,
)

UNSAFE = {"Cc", "Cf", "Zl", "Zp"}


@given(st.text())
def test_plain_text_replaces_exactly_the_control_separator_and_format_characters(value):
    """P6: the printable shortcut gives what the character-by-character rule gives, for any text."""
    expected = "".join(" " if unicodedata.category(char) in UNSAFE else char for char in value)
    assert plain_text(value) == expected


def test_plain_text_removes_line_breaks_and_bidi_overrides():
    assert plain_text("Acme\r\nBcc: x\u202e") == "Acme  Bcc: x "


@given(st.decimals(min_value=0, max_value=10**9, places=3))
def test_money_rounds_to_the_currencys_minor_units_half_up(amount):
    assert money(amount, "EUR") == f"EUR {amount.quantize(Decimal('0.01'), rounding='ROUND_HALF_UP')}"
    assert money(amount, "JPY") == f"JPY {amount.quantize(Decimal('1'), rounding='ROUND_HALF_UP')}"
    assert money(amount, "BHD") == f"BHD {amount.quantize(Decimal('0.001'), rounding='ROUND_HALF_UP')}"


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("1234.50", "EUR", "EUR 1234.50"),
        ("123456.50", "JPY", "JPY 123457"),
        ("123456.49", "JPY", "JPY 123456"),
        ("12.34", "BHD", "BHD 12.340"),
        ("0.01", "USD", "USD 0.01"),
    ],
)
def test_money_is_shown_in_the_currencys_own_minor_units(amount, currency, shown):
    assert money(Decimal(amount), currency) == shown


@given(st.text())
def test_plain_text_keeps_no_control_separator_or_invisible_character(value):
    cleaned = plain_text(value)
    assert len(cleaned) == len(value)
    assert not any(char in cleaned for char in "\r\n\x00\x0b\x0c\u2028\u2029\u202e\u200b")


def test_a_name_with_line_breaks_cannot_start_a_new_line_in_the_message():
    message = reminder_message(
        customer="Acme\r\nBcc: victim@example.com",
        number="INV-1\n\x00",
        days=3,
        currency="EUR",
        balance=Decimal("10.00"),
    )
    assert "\n" not in message
    assert "\r" not in message
    assert "\x00" not in message
    assert message.startswith("Dear Acme  Bcc: victim@example.com, invoice INV-1   is 3 days overdue.")


@pytest.mark.parametrize(
    ("days", "reached"),
    [(0, None), (1, (1, 1)), (6, (1, 1)), (7, (7, 2)), (29, (7, 2)), (30, (30, 3)), (400, (30, 3))],
)
def test_reached_threshold_is_the_highest_at_or_below_the_days_with_its_level(days, reached):
    assert reached_threshold(days, (1, 7, 30)) == reached


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL form is PostgreSQL's (the fast path)")
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(
    st.lists(
        st.tuples(
            st.dates(min_value=FIRST_DATE, max_value=LAST_DATE),
            st.dates(min_value=FIRST_DATE, max_value=LAST_DATE),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_days_overdue_in_sql_is_days_overdue(pairs: list[tuple[date, date]]) -> None:
    """One rule, two forms: the re-check of the fast path's insert and the rest of the check agree."""
    expression = days_overdue_sql(due_date="pair.due_date", as_of="pair.as_of")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {expression} FROM unnest(%s::date[], %s::date[]) WITH ORDINALITY "
            "AS pair(due_date, as_of, position) ORDER BY position",
            [[due for due, _ in pairs], [as_of for _, as_of in pairs]],
        )
        in_sql = [row[0] for row in cursor.fetchall()]
    assert in_sql == [days_overdue(due_date=due, as_of=as_of) for due, as_of in pairs]


# Text a PostgreSQL column can hold: no NUL, no lone surrogate.
STORED_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL form is PostgreSQL's (the fast path)")
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            STORED_TEXT,
            STORED_TEXT,
            st.integers(min_value=-4_000_000, max_value=4_000_000),
            st.sampled_from(["EUR", "JPY", "BHD", "CLF", "CHF", "ISK", "XXX", "ZZZ"]),
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999999999.99"), places=2),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_reminder_message_in_sql_is_reminder_message(rows) -> None:
    """The overdue check's one-statement batch writes the message the Python rule writes, for any
    customer name and invoice number (unsafe characters included), days on either side of the due date,
    and currencies of 0, 2, 3 and 4 minor units or unknown to babel."""
    expression = reminder_message_sql(
        customer="row.customer",
        number="row.number",
        days="row.days",
        currency="row.currency",
        balance="row.balance",
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {expression} FROM unnest(%s::text[], %s::text[], %s::integer[], %s::text[], "
            "%s::numeric(14, 2)[]) WITH ORDINALITY "
            "AS row(customer, number, days, currency, balance, position) "
            "ORDER BY position",
            [list(column) for column in zip(*rows, strict=True)],
        )
        in_sql = [row[0] for row in cursor.fetchall()]
    assert in_sql == [
        reminder_message(customer=name, number=number, days=days, currency=currency, balance=balance)
        for name, number, days, currency, balance in rows
    ]


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL form is PostgreSQL's (the fast path)")
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(
    st.lists(st.integers(min_value=-60, max_value=400), min_size=1, max_size=6, unique=True).map(sorted),
    st.lists(st.integers(min_value=-100, max_value=500), min_size=1, max_size=20),
)
def test_reached_threshold_in_sql_is_reached_threshold(thresholds, days) -> None:
    expression = reached_threshold_sql("d.days", "%s::integer[]")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT reached.threshold, reached.level FROM unnest(%s::integer[]) WITH ORDINALITY "
            f"AS d(days, position) CROSS JOIN LATERAL {expression} AS reached ORDER BY d.position",
            [days, thresholds],
        )
        in_sql = [None if threshold is None else (threshold, level) for threshold, level in cursor.fetchall()]
    assert in_sql == [reached_threshold(day, thresholds) for day in days]
