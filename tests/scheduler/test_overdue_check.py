"""The overdue check service: error isolation, exit paths, the run lock, dead runs, time zones, content."""

from __future__ import annotations

import logging
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import psycopg
import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from reminders.models import Notification
from scheduler.locks import RUN_LOCK_KEY, run_lock_for_database
from scheduler.models import JobExecutionLog, RunStatus
from scheduler.services import overdue_check_run
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.scheduler.factories import JobExecutionLogFactory
from tests.scheduler.oracle import make_config

pytestmark = pytest.mark.django_db
AS_OF = date(2026, 3, 15)


def run(**options) -> JobExecutionLog:
    options.setdefault("config", make_config())
    return overdue_check_run(triggered_by="command", **options)


def overdue_invoices(count: int, **fields) -> list:
    return InvoiceFactory.create_batch(count, due_date=AS_OF - timedelta(days=5), **fields)


def refuse_reminders_to(invoice_id: int) -> None:
    """A real database trigger that makes inserting a reminder for one invoice fail."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION refuse_reminder() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.invoice_id = {int(invoice_id)} THEN "
                "RAISE EXCEPTION 'reminders to invoice % are refused', NEW.invoice_id; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER refuse_reminder BEFORE INSERT ON reminders_notification "
                "FOR EACH ROW EXECUTE FUNCTION refuse_reminder()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER refuse_reminder BEFORE INSERT ON reminders_notification "
                f"WHEN NEW.invoice_id = {int(invoice_id)} "
                "BEGIN SELECT RAISE(ABORT, 'reminders to this invoice are refused'); END"
            )


@contextmanager
def lock_held_elsewhere() -> Iterator[None]:
    """Hold the run lock as another process would: another session, or another open lock file."""
    if connection.vendor == "postgresql":
        with psycopg.connect(dbname=connection.settings_dict["NAME"], **_pg_params()) as other:
            other.execute("SELECT pg_advisory_lock(%s)", [RUN_LOCK_KEY])
            yield
    else:
        other = run_lock_for_database()
        assert other.acquire()
        try:
            yield
        finally:
            other.release()


def lock_is_free() -> bool:
    if connection.vendor == "postgresql":
        with psycopg.connect(dbname=connection.settings_dict["NAME"], **_pg_params()) as other:
            return other.execute("SELECT pg_try_advisory_lock(%s)", [RUN_LOCK_KEY]).fetchone()[0]
    other = run_lock_for_database()
    free = other.acquire()
    other.release()
    return free


def _pg_params() -> dict:
    settings_dict = connection.settings_dict
    return {
        "user": settings_dict["USER"] or "postgres",
        "host": settings_dict["HOST"] or "127.0.0.1",
        "port": settings_dict["PORT"] or 5432,
        "autocommit": True,
    }


def test_one_bad_invoice_does_not_stop_the_others():
    """P8: the database refuses one invoice's reminder; the rest of its batch and the others are notified,
    and the bad one is recorded in the log with its id, number and the error."""
    invoices = overdue_invoices(7)
    bad = invoices[3]
    refuse_reminders_to(bad.pk)

    log = run(as_of=AS_OF, batch_size=5)

    assert log.status == RunStatus.COMPLETED_WITH_ERRORS
    notified = set(Notification.objects.values_list("invoice_id", flat=True))
    assert notified == {invoice.pk for invoice in invoices} - {bad.pk}
    log.refresh_from_db()
    assert (log.invoices_processed, log.notifications_created, log.error_count) == (7, 6, 1)
    [error] = log.errors
    assert (error["invoice_id"], error["number"]) == (bad.pk, bad.number)
    assert "refused" in error["error"]


def test_the_bad_invoice_is_tried_again_by_the_next_run():
    invoices = overdue_invoices(3)
    refuse_reminders_to(invoices[0].pk)
    run(as_of=AS_OF)
    on_table = " ON reminders_notification" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER refuse_reminder{on_table}")
    log = run(as_of=AS_OF)
    assert (log.status, log.notifications_created, log.already_notified) == (RunStatus.COMPLETED, 1, 2)


def test_a_completed_run_releases_the_lock_and_finishes_its_log():
    """P10, the ordinary path."""
    overdue_invoices(3)
    log = run(as_of=AS_OF)
    log.refresh_from_db()
    assert log.status == RunStatus.COMPLETED
    assert log.finished_at is not None
    assert lock_is_free()


def test_a_run_that_breaks_ends_failed_with_its_traceback_and_releases_the_lock():
    """P10, the failure path: the batch query itself fails (a column it reads is gone)."""
    overdue_invoices(3)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE invoicing_customer RENAME COLUMN name TO name_gone")

    log = run(as_of=AS_OF)

    log.refresh_from_db()
    assert log.status == RunStatus.FAILED
    assert log.finished_at is not None
    assert log.traceback.startswith("Traceback")
    assert "name" in log.traceback
    assert Notification.objects.count() == 0
    assert lock_is_free()


class Interrupt:
    """A progress display whose terminal is closed by Ctrl-C after the first batch."""

    def start(self, total: int) -> None:
        self.total = total

    def advance(self, invoices: int) -> None:
        raise KeyboardInterrupt


def test_an_interrupted_run_is_finished_failed_keeps_its_committed_batch_and_releases_the_lock():
    """P10, the interrupt path."""
    overdue_invoices(6)
    with pytest.raises(KeyboardInterrupt):
        run(as_of=AS_OF, batch_size=4, progress=Interrupt())
    log = JobExecutionLog.objects.get()
    assert log.status == RunStatus.FAILED
    assert "KeyboardInterrupt" in log.traceback
    assert log.notifications_created == Notification.objects.count() == 4
    assert lock_is_free()


def test_a_run_that_finds_the_lock_taken_is_skipped_and_writes_nothing():
    """P14, in one process: another holder of the lock means this run does nothing."""
    overdue_invoices(3)
    with lock_held_elsewhere():
        log = run(as_of=AS_OF)
    assert log.status == RunStatus.SKIPPED
    assert log.finished_at is not None
    assert Notification.objects.count() == 0


def test_a_dry_run_needs_no_lock():
    overdue_invoices(3)
    with lock_held_elsewhere():
        log = run(as_of=AS_OF, dry_run=True)
    assert (log.status, log.notifications_created) == (RunStatus.COMPLETED, 3)
    assert Notification.objects.count() == 0


def test_the_log_line_of_a_run_says_what_it_created_and_of_a_dry_run_what_it_would_create(caplog):
    overdue_invoices(2)
    caplog.set_level(logging.INFO, logger="scheduler.services")
    dry = run(as_of=AS_OF, dry_run=True)
    real = run(as_of=AS_OF)
    finished = [r.getMessage() for r in caplog.records if "invoices examined" in r.getMessage()]
    assert finished == [
        f"Dry run #{dry.pk} completed: 2 invoices examined, 2 notifications would be created, "
        "0 already notified, 0 errors.",
        f"Run #{real.pk} completed: 2 invoices examined, 2 notifications created, "
        "0 already notified, 0 errors.",
    ]


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_the_running_log_of_a_dead_process_is_marked_abandoned_by_the_next_run():
    dead = JobExecutionLogFactory(
        status=RunStatus.RUNNING, finished_at=None, host=socket.gethostname(), pid=dead_pid()
    )
    log = run(as_of=AS_OF)
    dead.refresh_from_db()
    assert dead.status == RunStatus.ABANDONED
    assert dead.finished_at is not None
    assert f"run #{log.pk}" in dead.traceback


def test_a_skipped_run_does_not_judge_other_runs():
    dead = JobExecutionLogFactory(status=RunStatus.RUNNING, finished_at=None, pid=dead_pid())
    with lock_held_elsewhere():
        run(as_of=AS_OF)
    dead.refresh_from_db()
    assert dead.status == RunStatus.RUNNING


def test_paid_void_draft_and_paused_invoices_get_nothing():
    """P13"""
    overdue_invoices(1, status="paid")
    overdue_invoices(1, status="void")
    overdue_invoices(1, status="draft")
    overdue_invoices(1, amount_paid=Decimal("100.00"))
    overdue_invoices(1, customer=CustomerFactory(reminders_paused=True))
    log = run(as_of=AS_OF)
    assert (log.invoices_processed, log.notifications_created) == (0, 0)
    assert Notification.objects.count() == 0


def test_an_invoice_paid_after_a_run_gets_no_later_level():
    [invoice] = overdue_invoices(1)
    config = make_config(REMINDER_DAYS="1,7")
    overdue_check_run(triggered_by="command", as_of=AS_OF, config=config)
    invoice.status = "paid"
    invoice.amount_paid = invoice.total
    invoice.save()
    log = overdue_check_run(triggered_by="command", as_of=AS_OF + timedelta(days=10), config=config)
    assert log.notifications_created == 0
    assert list(invoice.notifications.values_list("level", flat=True)) == [1]


def test_the_reminder_names_customer_number_days_and_balance_and_keeps_the_email_of_the_day():
    """P6"""
    customer = CustomerFactory(name="Globex Trading", email="ap@globex.example")
    InvoiceFactory(
        customer=customer,
        number="INV-2026-0042",
        currency="EUR",
        total=Decimal("1500.00"),
        amount_paid=Decimal("265.50"),
        due_date=AS_OF - timedelta(days=8),
    )
    log = run(as_of=AS_OF)
    customer.email = "new@globex.example"
    customer.save()

    notification = Notification.objects.get()
    assert notification.run_id == log.pk
    assert notification.recipient == "ap@globex.example"
    assert notification.days_overdue == 8
    for part in ("Globex Trading", "INV-2026-0042", "8 days overdue", "EUR 1234.50"):
        assert part in notification.message


def test_with_levels_an_invoice_eight_days_overdue_is_at_level_two():
    overdue_invoices(1)  # 5 days overdue on AS_OF
    InvoiceFactory(due_date=AS_OF - timedelta(days=8))
    overdue_check_run(triggered_by="command", as_of=AS_OF, config=make_config(REMINDER_DAYS="1,7,30"))
    assert sorted(Notification.objects.values_list("days_overdue", "level")) == [(5, 1), (8, 2)]


def test_catch_up_after_an_outage_sends_only_the_highest_level():
    InvoiceFactory(due_date=AS_OF - timedelta(days=40))
    overdue_check_run(triggered_by="command", as_of=AS_OF, config=make_config(REMINDER_DAYS="1,7,30"))
    assert list(Notification.objects.values_list("level", flat=True)) == [3]


ZONES = ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/New_York", "Asia/Kolkata", "Europe/Paris"]


class AsOfInTheConfiguredZone(TestCase):
    @settings(max_examples=40, deadline=None)
    @given(
        instant=st.datetimes(
            min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
        ),
        zone=st.sampled_from(ZONES),
    )
    def test_as_of_is_the_local_date_and_an_invoice_due_that_day_is_not_overdue(self, instant, zone):
        """P4: as_of is today's date in OVERDUE_INVOICE_TIMEZONE when the run starts; an invoice due on
        it is not overdue, one due the day before is 1 day overdue."""
        local_today = instant.astimezone(ZoneInfo(zone)).date()
        due_today = InvoiceFactory(due_date=local_today)
        due_yesterday = InvoiceFactory(due_date=local_today - timedelta(days=1))

        with mock.patch("django.utils.timezone.now", return_value=instant):
            log = overdue_check_run(triggered_by="command", config=make_config(TIMEZONE=zone))

        assert log.as_of == local_today
        assert not due_today.notifications.exists()
        assert list(due_yesterday.notifications.values_list("days_overdue", flat=True)) == [1]
