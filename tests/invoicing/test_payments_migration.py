"""The migration that adds ``amount_paid <= total`` names the invoices that break it instead of failing on
the constraint."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.invoicing.factories import InvoiceFactory

BEFORE = [("invoicing", "0002_invoice_dates_in_range")]
AFTER = [("invoicing", "0003_customer_reference_payments")]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="migrates back and forth on PostgreSQL"),
]


def test_migration_names_overpaid_invoices_and_applies_once_they_are_corrected():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        fine = InvoiceFactory.build(number="INV-FINE")
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO invoicing_customer (name, email, reminders_paused) "
                "VALUES ('A', 'a@a.example', false) RETURNING id"
            )
            customer_id = cursor.fetchone()[0]
            for number, paid in (("INV-FINE", "10.00"), ("INV-OVER", "900.00")):
                cursor.execute(
                    "INSERT INTO invoicing_invoice (customer_id, number, issue_date, due_date, currency, "
                    "total, amount_paid, status) VALUES (%s, %s, %s, %s, 'EUR', 800, %s, 'sent')",
                    [customer_id, number, fine.issue_date, fine.due_date, paid],
                )
        executor.loader.build_graph()
        with pytest.raises(RuntimeError, match=r"INV-OVER \(paid 900\.00 of 800\.00\)") as refused:
            executor.migrate(AFTER)
        assert "INV-FINE" not in str(refused.value)
        with connection.cursor() as cursor:
            cursor.execute("UPDATE invoicing_invoice SET amount_paid = 800 WHERE number = 'INV-OVER'")
        executor.loader.build_graph()
        executor.migrate(AFTER)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
