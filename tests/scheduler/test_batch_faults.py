"""Faults a batch meets on PostgreSQL that are not the run's end (SPEC §4): a row the driver cannot load
is that invoice's error alone, and a deadlock or serialization failure retries the batch.

Each test runs in the test's transaction, which PostgreSQL rolls back with its DDL (dropped constraints,
triggers, sequences): the next test finds the schema as migrated.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection

from reminders.models import Notification
from scheduler.models import JobExecutionLog, RunStatus
from scheduler.services import overdue_check_run
from tests.invoicing.factories import InvoiceFactory
from tests.scheduler.oracle import make_config

AS_OF = date(2026, 3, 15)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="BC dates and SQLSTATEs are PostgreSQL's"),
]


def run(batch_size: int = 5) -> JobExecutionLog:
    log = overdue_check_run(triggered_by="command", as_of=AS_OF, batch_size=batch_size, config=make_config())
    log.refresh_from_db()
    return log


def overdue_invoices(count: int) -> list:
    return InvoiceFactory.create_batch(count, due_date=AS_OF - timedelta(days=5))


def store_a_date_python_cannot_load(invoice_id: int) -> None:
    """What an older schema, or a hand-written UPDATE before the constraints, may have left."""
    with connection.cursor() as cursor:
        # Django's foreign keys are deferred: their checks, pending since the invoices were created,
        # must run before the table can be altered.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE invoicing_invoice DROP CONSTRAINT invoice_issue_date_in_range, "
            "DROP CONSTRAINT invoice_due_date_in_range"
        )
        cursor.execute(
            "UPDATE invoicing_invoice SET issue_date = '0044-03-15 BC', due_date = '0044-03-15 BC' "
            "WHERE id = %s",
            [invoice_id],
        )
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def fail_reminder_inserts(times: int, sqlstate: str) -> None:
    """The next ``times`` reminder inserts fail with ``sqlstate``. A sequence counts them: it is not
    rolled back with the failed statement, as a counter row would be."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE SEQUENCE injected_fault_count")
        cursor.execute(
            "CREATE FUNCTION injected_fault() RETURNS trigger AS $$ BEGIN "
            f"IF nextval('injected_fault_count') <= {int(times)} THEN "
            f"RAISE EXCEPTION 'injected %', '{sqlstate}' USING ERRCODE = '{sqlstate}'; END IF; "
            "RETURN NULL; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER injected_fault BEFORE INSERT ON reminders_notification "
            "FOR EACH STATEMENT EXECUTE FUNCTION injected_fault()"
        )


def faults_raised() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value FROM injected_fault_count")
        return cursor.fetchone()[0]


def test_a_row_the_driver_cannot_load_is_that_invoices_error_alone():
    """Issue 10 item 5: a BC due date fails the batch's read; the batch is read again invoice by
    invoice, so only that invoice is in the run's errors and every other overdue invoice is reminded."""
    invoices = overdue_invoices(12)
    bad = invoices[6]
    store_a_date_python_cannot_load(bad.pk)

    log = run(batch_size=5)

    assert log.status == RunStatus.COMPLETED_WITH_ERRORS
    assert [(error["invoice_id"], error["number"]) for error in log.errors] == [(bad.pk, bad.number)]
    assert "DataError" in log.errors[0]["error"]
    notified = set(Notification.objects.values_list("invoice_id", flat=True))
    assert notified == {invoice.pk for invoice in invoices} - {bad.pk}
    assert (log.invoices_processed, log.notifications_created, log.error_count) == (12, 11, 1)


def test_the_next_run_still_reminds_the_others_and_names_the_bad_invoice_again():
    invoices = overdue_invoices(4)
    store_a_date_python_cannot_load(invoices[0].pk)
    run()
    InvoiceFactory(due_date=AS_OF - timedelta(days=2))
    again = run()
    assert (again.status, again.notifications_created, again.already_notified) == (
        RunStatus.COMPLETED_WITH_ERRORS,
        1,
        3,
    )
    assert [error["invoice_id"] for error in again.errors] == [invoices[0].pk]


@pytest.mark.parametrize(("sqlstate", "name"), [("40P01", "deadlock"), ("40001", "serialization failure")])
def test_a_batch_meeting_a_transient_conflict_is_retried_whole_and_the_run_completes(sqlstate, name):
    """Issue 10 item 2: a deadlock (or serialization failure) against a payer is no invoice's fault and
    no lost connection: the batch is tried again, the run ends `completed` with every reminder."""
    invoices = overdue_invoices(7)
    fail_reminder_inserts(times=2, sqlstate=sqlstate)

    log = run(batch_size=5)

    assert faults_raised() == 4, f"the injected {name} was not met"  # 2 failed, then 2 batches inserted
    assert (log.status, log.error_count, log.errors) == (RunStatus.COMPLETED, 0, [])
    assert set(Notification.objects.values_list("invoice_id", flat=True)) == {i.pk for i in invoices}
    assert (log.invoices_processed, log.notifications_created) == (7, 7)
