"""The overdue check's two hot statements on PostgreSQL, prepared once per connection.

A run repeats the same read and the same insert once per batch. Django compiles a queryset each time it
is evaluated and binds parameters on the client, which at 100 invoices a batch cost as much as running
the query. Here:

- the read is the ORM queryset (``reminders.selectors.overdue_reminder_rows``) compiled once and wrapped
  in the keyset condition, so the overdue rule has one definition; ``tests/reminders/test_fastpath.py``
  checks that it returns exactly the rows of the queryset itself;
- the insert takes the batch as one array per column and re-checks the overdue rule in the same
  statement, so an invoice paid, voided or paused after the read is not reminded (docs/SPEC.md §3, P19);
- both run on a server-side-binding psycopg cursor that prepares them after a few uses, while the rest
  of Django keeps client-side binding (a prepared statement cannot take more than 65,535 parameters,
  which a bulk delete of 70,000 rows needs).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections
from django.db.models import QuerySet

from invoicing.models import Invoice

NOTIFICATION_COLUMNS = ("invoice_id", "threshold_days", "level", "days_overdue", "recipient", "message")

_INSERT = """
INSERT INTO reminders_notification
    (invoice_id, threshold_days, level, days_overdue, recipient, message, run_id)
SELECT r.invoice_id, r.threshold_days, r.level, r.days_overdue, r.recipient, r.message, %s
FROM unnest(%s::bigint[], %s::integer[], %s::smallint[], %s::integer[], %s::text[], %s::text[])
    AS r(invoice_id, threshold_days, level, days_overdue, recipient, message)
JOIN ({still_overdue}) AS still ON still.id = r.invoice_id
WHERE still.due_date = %s::date - r.days_overdue
"""


def _prepare() -> bool | None:
    # None lets psycopg prepare after its threshold; False never prepares (a pooler that cannot keep them).
    return None if settings.DATABASE_PREPARED_STATEMENTS else False


class PreparedStatements:
    """The compiled read and insert of one run, on the database ``using``."""

    def __init__(self, rows: QuerySet[Any, Any], *, columns: Sequence[str], as_of: date, using: str) -> None:
        self.using = using
        self.as_of = as_of
        inner, self.read_params = rows.order_by().query.sql_with_params()
        selected = ", ".join(f"batch.{column}" for column in columns)
        batch = f"FROM ({inner}) AS batch"
        self.read_sql = f"SELECT {selected} {batch} WHERE batch.id > %s ORDER BY batch.id LIMIT %s"
        self.ids_sql = f"SELECT batch.id {batch} WHERE batch.id > %s ORDER BY batch.id LIMIT %s"
        self.one_sql = f"SELECT {selected} {batch} WHERE batch.id = %s"
        still, self.still_params = (
            Invoice.objects.overdue(as_of=as_of).order_by().values("id", "due_date").query.sql_with_params()
        )
        self.insert_sql = _INSERT.format(still_overdue=still)

    def _execute(self, sql: str, params: Sequence[Any]) -> psycopg.Cursor[Any]:
        wrapper = connections[self.using]
        wrapper.ensure_connection()
        if wrapper.queries_logged:
            # Counted like Django's own queries (DEBUG, CaptureQueriesContext): P17 counts them.
            wrapper.queries_log.append({"sql": sql, "params": params, "time": "0.000"})  # type: ignore[dict-item]
        # Django's wrapper turns psycopg's errors into django.db's, as for its own cursors.
        with wrapper.wrap_database_errors:
            cursor = psycopg.Cursor(wrapper.connection)
            return cursor.execute(sql, params, prepare=_prepare())

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        wrapper = connections[self.using]
        with self._execute(sql, params) as cursor, wrapper.wrap_database_errors:
            return cursor.fetchall()

    def rows_after(self, after_id: int, size: int) -> list[tuple[Any, ...]]:
        return self._fetch(self.read_sql, [*self.read_params, after_id, size])

    def ids_after(self, after_id: int, size: int) -> list[int]:
        return [row[0] for row in self._fetch(self.ids_sql, [*self.read_params, after_id, size])]

    def row(self, invoice_id: int) -> list[tuple[Any, ...]]:
        return self._fetch(self.one_sql, [*self.read_params, invoice_id])

    def insert(self, columns: Sequence[list[Any]], run_id: int) -> int:
        """Insert the reminders given column by column; those whose invoice is no longer overdue as read
        are left out. Returns the number inserted."""
        with self._execute(self.insert_sql, [run_id, *columns, *self.still_params, self.as_of]) as cursor:
            return cursor.rowcount
