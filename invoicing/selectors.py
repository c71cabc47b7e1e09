"""Reads on the invoicing domain that the overdue check repeats many times."""

from __future__ import annotations

from typing import Any

from django.db import connections

from invoicing.models import InvoiceQuerySet

# Stands for ``after_id`` while the SQL is compiled; no invoice id is negative.
_AFTER_ID = -7_700_000_000_077


class ReminderBatches:
    """Keyset batches of ``invoices`` (``InvoiceQuerySet.reminder_batch``), compiled to SQL once.

    Django compiles a queryset each time it is evaluated; at 100 invoices a batch that cost as much as
    running the query itself. Here ``after_id`` is the only thing that changes between batches, so the
    SQL is compiled once and only that parameter is swapped. Rows go through the same converters the ORM
    applies (dates and decimals on SQLite), so they are the dicts ``values()`` would give.
    """

    def __init__(self, invoices: InvoiceQuerySet, *, size: int) -> None:
        self.size = size
        self.using = invoices.db
        self.compiler = invoices.reminder_batch(after_id=_AFTER_ID, size=size).query.get_compiler(self.using)
        sql, params = self.compiler.as_sql()
        self.sql, self.params = sql, list(params)
        self.after_id_index = self.params.index(_AFTER_ID)
        self.converters = self.compiler.get_converters([column for column, _, _ in self.compiler.select])

    def after(self, after_id: int) -> list[dict[str, Any]]:
        """The next batch: at most ``size`` invoices with an id above ``after_id``, by id."""
        params = self.params.copy()
        params[self.after_id_index] = after_id
        with connections[self.using].cursor() as cursor:
            cursor.execute(self.sql, params)
            names = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
        if self.converters:
            rows = self.compiler.apply_converters(rows, self.converters)
        return [dict(zip(names, row, strict=True)) for row in rows]
