"""The overdue check's two hot statements on PostgreSQL, prepared once per connection.

A run repeats the same read and the same insert once per batch. Django compiles a queryset each time it
is evaluated and binds parameters on the client, which at 100 invoices a batch cost as much as running
the query. Here:

- the read is the ORM queryset (``reminders.selectors.overdue_reminder_rows``) compiled once and wrapped
  in the keyset condition, so the overdue rule has one definition; ``tests/reminders/test_fastpath.py``
  checks that it returns exactly the rows of the queryset itself;
- the insert takes the batch as one array per column: the messages in binary (a text array would quote
  every element on the client), the numbers as array literals, and re-checks the overdue rule in the same
  statement, so an invoice paid, voided, paused or held after the read is not reminded (docs/SPEC.md §3,
  P19); the caller may append its own statement to it (a data-modifying CTE), which then commits or fails with
  the reminders at no extra round trip: the overdue check writes its counters so, without this module
  knowing its table;
- both run on a server-side-binding psycopg cursor that prepares them after a few uses, while the rest
  of Django keeps client-side binding (a prepared statement cannot take more than 65,535 parameters,
  which a bulk delete of 70,000 rows needs).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections
from django.db.models import F, QuerySet

from invoicing.models import Invoice
from reminders.rules import days_overdue_sql, reached_threshold_sql, reminder_message_sql

NOTIFICATION_COLUMNS = ("invoice_id", "threshold_days", "level", "days_overdue", "recipient", "message")
# What the insert is sent of each reminder; the recipient comes from the re-check's own join with the
# customer (the email at creation, as docs/SPEC.md §2 has it), which spares shipping one string per row.
SENT_COLUMNS = ("invoice_id", "threshold_days", "level", "days_overdue", "message")

_INSERT = """
INSERT INTO reminders_notification
    (invoice_id, threshold_days, level, days_overdue, recipient, message, run_id)
SELECT r.invoice_id, r.threshold_days, r.level, r.days_overdue, still.recipient, r.message, %b
FROM unnest(%s::bigint[], %s::integer[], %s::smallint[], %s::integer[], %b::text[])
    AS r(invoice_id, threshold_days, level, days_overdue, message)
JOIN ({still_overdue}) AS still ON still.id = r.invoice_id
WHERE {days_overdue} = r.days_overdue AND still.id BETWEEN %s AND %s
"""

# The insert as the first part of a data-modifying CTE: the caller's statement runs in the same round
# trip and sees how many rows went in as ``INSERTED_COUNT``; the statement returns that number.
INSERTED_COUNT = "(SELECT count(*) FROM inserted)"
_INSERT_THEN = "WITH inserted AS ({insert} RETURNING 1), then_ AS ({then}) SELECT " + INSERTED_COUNT


# A batch of the overdue check in one statement, for reminders at the highest threshold reached: the keyset
# read, what each invoice is owed (the rule of ``reminders.rules.owed_threshold``), the insert and the
# caller's statement (the run's counters), which sees the batch's counts as ``BATCH_COUNTS`` name them.
# Returns the batch's last id, how many invoices it examined, how many were owed a reminder, how many went
# in, and the invoices of those at ``final`` (the highest threshold). A due date Python cannot hold fails
# the statement as the read of it would (the caller then goes invoice by invoice).
_CHECK_BATCH = """
WITH batch AS MATERIALIZED (
    SELECT batch.*, CASE WHEN batch.due_date BETWEEN DATE '0001-01-01' AND DATE '9999-12-31'
        THEN {days} ELSE ('due date out of range: ' || batch.due_date)::integer END AS days
    FROM ({rows}) AS batch WHERE batch.id > %s ORDER BY batch.id LIMIT {size}
), owed AS (
    SELECT batch.*, reached.threshold, reached.level
    FROM batch CROSS JOIN LATERAL {reached} AS reached
    WHERE reached.threshold IS NOT NULL
        AND (batch.top_threshold IS NULL OR batch.top_threshold < reached.threshold)
), inserted AS (
    INSERT INTO reminders_notification
        (invoice_id, threshold_days, level, days_overdue, recipient, message, run_id)
    SELECT owed.id, owed.threshold, owed.level, owed.days, owed.customer_email, {message}, %s
    FROM owed ORDER BY owed.id
    RETURNING invoice_id, threshold_days
), then_ AS ({then})
SELECT (SELECT max(id) FROM batch), (SELECT count(*) FROM batch), (SELECT count(*) FROM owed),
    (SELECT count(*) FROM inserted),
    (SELECT array_agg(invoice_id ORDER BY invoice_id) FROM inserted WHERE threshold_days = %s)
"""

# What the caller's statement may use of the batch: SQL expressions of its counts.
BATCH_COUNTS = {
    "examined": "(SELECT count(*) FROM batch)",
    "owed": "(SELECT count(*) FROM owed)",
    "created": INSERTED_COUNT,
}


def _integer_array(values: Sequence[int]) -> str:
    """``values`` as a PostgreSQL array literal, joined in C: psycopg's array dumper packs each element
    in Python, which costs more than the server's parsing of the literal."""
    return "{" + ",".join(map(str, values)) + "}"


def _prepare(wanted: bool) -> bool:
    # True prepares the statement on its first use and reuses it on the connection after (psycopg keeps
    # the last hundred); None would defer to the connection's threshold, which Django sets to never.
    # False never prepares: for a pooler that cannot keep prepared statements.
    return wanted and bool(settings.DATABASE_PREPARED_STATEMENTS)


class PreparedStatements:
    """The compiled read and insert of one run, on the database ``using``: SQL built once per run, sent
    with server-side binding and planned for each batch's values. They are not prepared: a generic plan
    cannot see a batch's id range or size, which the custom plans use (the check's figures in
    docs/benchmarks.md are for custom plans)."""

    # Passed to ``execute_prepared`` for every statement of a run.
    prepare = False

    def __init__(
        self, rows: QuerySet[Any, Any], *, columns: Sequence[str], as_of: date, min_days: int, using: str
    ) -> None:
        self.using = using
        self.as_of = as_of
        inner, self.read_params = rows.order_by().query.sql_with_params()
        self.rows_sql = inner
        selected = ", ".join(f"batch.{column}" for column in columns)
        batch = f"FROM ({inner}) AS batch"
        self.read_sql = f"SELECT {selected} {batch} WHERE batch.id > %s ORDER BY batch.id LIMIT %s"
        self.ids_sql = f"SELECT batch.id {batch} WHERE batch.id > %s ORDER BY batch.id LIMIT %s"
        self.one_sql = f"SELECT {selected} {batch} WHERE batch.id = %s"
        still, self.still_params = (
            Invoice.objects.remindable(as_of=as_of, min_days=min_days)
            .order_by()
            .values("id", "due_date", recipient=F("customer__email"))
            .query.sql_with_params()
        )
        # The reminder's days overdue must still be the invoice's: its due date has not moved since the read.
        days = days_overdue_sql(due_date="still.due_date", as_of="%s")
        self.insert_sql = _INSERT.format(still_overdue=still, days_overdue=days)

    def check_batch(
        self,
        after_id: int,
        *,
        size: int,
        thresholds: Sequence[int],
        run_id: int,
        then: tuple[str, Sequence[Any]],
    ) -> tuple[int | None, int, int, int, list[int]]:
        """Remind, in one statement, the next ``size`` candidates after ``after_id`` of the highest
        threshold reached that none of their reminders has reached, and run ``then`` (SQL using
        ``BATCH_COUNTS``, and its parameters) with it. Returns the last id examined (None: none was),
        the counts examined, owed and inserted, and the invoices reminded at the highest threshold."""
        then_sql, then_params = then
        days = days_overdue_sql(due_date="batch.due_date", as_of="%s")
        message = reminder_message_sql(
            customer="owed.customer_name",
            number="owed.number",
            days="owed.days",
            currency="owed.currency",
            balance="owed.balance_due",
        )
        sql = _CHECK_BATCH.format(
            days=days,
            rows=self.rows_sql,
            size=int(size),
            reached=reached_threshold_sql("batch.days", "%s::integer[]"),
            message=message,
            then=then_sql,
        )
        params = [
            self.as_of,
            *self.read_params,
            after_id,
            _integer_array(thresholds),
            run_id,
            *then_params,
            thresholds[-1],
        ]
        with (
            execute_prepared(self.using, sql, params, prepare=self.prepare) as cursor,
            connections[self.using].wrap_database_errors,
        ):
            row = cursor.fetchone()
        if row is None:
            raise AssertionError("the batch's statement returns one row")
        last_id, examined, owed, created, finals = row
        return last_id, examined, owed, created, finals or []

    def rows_after(self, after_id: int, size: int) -> list[tuple[Any, ...]]:
        return fetch_prepared(
            self.using, self.read_sql, [*self.read_params, after_id, size], prepare=self.prepare
        )

    def ids_after(self, after_id: int, size: int) -> list[int]:
        return [
            row[0]
            for row in fetch_prepared(
                self.using, self.ids_sql, [*self.read_params, after_id, size], prepare=self.prepare
            )
        ]

    def row(self, invoice_id: int) -> list[tuple[Any, ...]]:
        return fetch_prepared(self.using, self.one_sql, [*self.read_params, invoice_id], prepare=self.prepare)

    def insert(
        self, columns: Sequence[list[Any]], run_id: int, *, then: tuple[str, Sequence[Any]] | None = None
    ) -> int:
        """Insert the reminders given column by column (``SENT_COLUMNS``); those whose invoice is no
        longer overdue as read are left out. ``then`` (SQL and its parameters) runs in the same statement
        after the insert and may use ``INSERTED_COUNT``. Returns the number inserted."""
        *numbers, messages = columns
        ids = numbers[0]
        # The batch's id range bounds the re-check: without it the planner may walk the open invoices
        # from the first one for every batch.
        arrays = [*map(_integer_array, numbers), messages]
        params = [run_id, *arrays, *self.still_params, self.as_of, ids[0], ids[-1]]
        if then is None:
            with execute_prepared(self.using, self.insert_sql, params, prepare=self.prepare) as cursor:
                return cursor.rowcount
        then_sql, then_params = then
        sql = _INSERT_THEN.format(insert=self.insert_sql, then=then_sql)
        with (
            execute_prepared(self.using, sql, [*params, *then_params], prepare=self.prepare) as cursor,
            connections[self.using].wrap_database_errors,
        ):
            row = cursor.fetchone()
        return int(row[0]) if row else 0


def execute_prepared(
    using: str, sql: str, params: Sequence[Any], *, prepare: bool = True
) -> psycopg.Cursor[Any]:
    """Run ``sql`` on PostgreSQL through a server-side-binding cursor, prepared on the connection at its
    first use when ``prepare`` (and ``DATABASE_PREPARED_STATEMENTS``) say so, seen by Django's query log
    and execute wrappers like any query of its own."""
    wrapper = connections[using]
    wrapper.ensure_connection()
    if wrapper.queries_logged:
        # Counted like Django's own queries (DEBUG, CaptureQueriesContext): P17 counts them.
        wrapper.queries_log.append({"sql": sql, "params": params, "time": "0.000"})  # type: ignore[dict-item]
    cursor = psycopg.Cursor(wrapper.connection)

    def run(sql: str, params: Sequence[Any], many: bool, context: dict[str, Any]) -> psycopg.Cursor[Any]:
        # Django's wrapper turns psycopg's errors into django.db's, as for its own cursors.
        with wrapper.wrap_database_errors:
            return cursor.execute(sql, params, prepare=_prepare(prepare))

    # Seen by connection.execute_wrapper() like any query of Django's (the benchmark counts them).
    executor: Callable[..., psycopg.Cursor[Any]] = run
    for outer in reversed(wrapper.execute_wrappers):
        executor = functools.partial(outer, executor)
    return executor(sql, params, False, {"connection": wrapper, "cursor": cursor})


def fetch_prepared(
    using: str, sql: str, params: Sequence[Any], *, prepare: bool = True
) -> list[tuple[Any, ...]]:
    with (
        execute_prepared(using, sql, params, prepare=prepare) as cursor,
        connections[using].wrap_database_errors,
    ):
        return cursor.fetchall()
