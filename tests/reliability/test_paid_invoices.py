"""Invoices paid (or voided) between two runs, or while a run is going, are never reminded afterwards
(docs/SPEC.md §3, P13): with real run processes on PostgreSQL, and as a property of the service on any
database."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from invoicing.models import Invoice, InvoiceStatus
from reminders.models import Notification
from scheduler.models import JobExecutionLog, RunStatus
from scheduler.services import overdue_check_run
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.processes import needs_postgresql, run_manage
from tests.reliability.conftest import (
    invoices_counted,
    load_invoices,
    reliability_size,
    report,
    run_log,
    wait_for,
    wait_for_progress,
)
from tests.reliability.runs import RUN_ENV, START, THRESHOLDS, outcome, run_args
from tests.scheduler.oracle import examined, make_config, owed

PAYMENTS = ("paid", "settled", "void")


def pay(invoice_ids: list[int], how: str) -> None:
    """``paid``: marked paid in full; ``settled``: paid in full, still marked sent; ``void``: voided."""
    invoices = Invoice.objects.filter(pk__in=invoice_ids)
    if how == "paid":
        invoices.update(status=InvoiceStatus.PAID, amount_paid=F("total"))
    elif how == "settled":
        invoices.update(amount_paid=F("total"))
    else:
        invoices.update(status=InvoiceStatus.VOID)


def next_log_id() -> int:
    return (JobExecutionLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1


def reminded_after_payment(paid_from: dict[int, int]) -> int:
    """Reminders given to paid invoices by runs that began after the payment (``paid_from``: invoice id ->
    first run id that must not remind it)."""
    rows = Notification.objects.filter(invoice__in=paid_from).values_list("invoice_id", "run_id")
    return sum(1 for invoice, execution in rows if execution >= paid_from[invoice])


def run_exactly(as_of: date, batch_size: int) -> None:
    """One run on ``as_of`` whose reminders are exactly what the oracle says is owed."""
    expected = owed(as_of, THRESHOLDS)
    first = next_log_id()
    finished = run_manage(*run_args(as_of, batch_size), timeout=600, **RUN_ENV)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    result = outcome(list(JobExecutionLog.objects.filter(pk__gte=first)), expected)
    assert result.exact, result


@pytest.mark.reliability
@pytest.mark.processes
@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_invoices_paid_between_runs_or_during_one_are_never_reminded_afterwards(
    size, rng, slow_batches, run_process
):
    load_invoices(rng, count=size.invoices, around=START)
    as_of = START
    paid_from: dict[int, int] = {}
    paid_between = paid_during = undecided = 0
    for _ in range(size.paid_rounds):
        as_of += timedelta(days=rng.randint(1, 12))
        open_now = sorted(examined(as_of, THRESHOLDS))
        chosen = rng.sample(open_now, len(open_now) // 10)
        pay(chosen, rng.choice(PAYMENTS))
        paid_from.update(dict.fromkeys(chosen, next_log_id()))
        paid_between += len(chosen)
        run_exactly(as_of, rng.choice(size.kill_batch_sizes))

        # Paid while a run walks the invoices: the ones it has not read yet must get nothing from it.
        as_of += timedelta(days=rng.randint(1, 12))
        batch_size = rng.choice(size.kill_batch_sizes)
        order = sorted(examined(as_of, THRESHOLDS))
        rank = {invoice: position for position, invoice in enumerate(order)}
        process = run_process(*run_args(as_of, batch_size), **RUN_ENV)
        run = run_log(process)
        batches = rng.randrange(math.ceil(len(order) / batch_size / 2) or 1)
        wait_for_progress(process, run.pk, batches * batch_size)
        ahead = order[invoices_counted(run.pk) + 2 * batch_size :]
        chosen = rng.sample(ahead, len(ahead) // 10)
        pay(chosen, rng.choice(PAYMENTS))
        # Read after the payment committed: the run had read at most one more batch than it counted.
        read_at_most = invoices_counted(run.pk) + batch_size
        assert process.wait(timeout=600) == 0, process.output_path.read_text()
        for invoice in chosen:
            unread = rank[invoice] >= read_at_most
            paid_from[invoice] = run.pk if unread else run.pk + 1
            paid_during += unread
            undecided += not unread
        assert JobExecutionLog.objects.get(pk=run.pk).status == RunStatus.COMPLETED

    # Long after: every open invoice has reached a new level, and the paid ones still get nothing.
    run_exactly(as_of + timedelta(days=45), rng.choice(size.kill_batch_sizes))
    violations = reminded_after_payment(paid_from)
    report(
        "invoices paid between runs and during a run",
        invoices=size.invoices,
        rounds=size.paid_rounds,
        paid_between_runs=paid_between,
        paid_during_a_run_before_it_read_them=paid_during,
        paid_during_a_run_as_it_read_them=undecided,
        reminded_after_payment=violations,
    )
    assert violations == 0


steps = st.lists(
    st.tuples(
        st.integers(0, 20),  # days to the next run
        st.lists(st.tuples(st.integers(0, 11), st.sampled_from((*PAYMENTS, "part"))), max_size=4),
    ),
    min_size=1,
    max_size=4,
)


@pytest.mark.reliability
class PaidInvoicesPropertyTest(TestCase):
    @settings(max_examples=reliability_size().examples, deadline=None)
    @given(due_in=st.lists(st.integers(-40, 10), min_size=12, max_size=12), steps=steps)
    def test_an_invoice_paid_between_runs_is_never_reminded_again(self, due_in, steps):
        """P13 over time: after each run the reminders are the oracle's; an invoice paid in full or
        voided gets none from any later run, one paid in part keeps being reminded."""
        customer = CustomerFactory()
        invoices = [
            InvoiceFactory(customer=customer, due_date=START + timedelta(days=days), total=Decimal("90.00"))
            for days in due_in
        ]
        config = make_config(REMINDER_DAYS=",".join(map(str, THRESHOLDS)))
        paid_from: dict[int, int] = {}
        as_of = START
        for days, payments in steps:
            for index, how in payments:
                invoice = invoices[index]
                if invoice.pk in paid_from:
                    continue  # paid or voided for good
                if how == "part":
                    Invoice.objects.filter(pk=invoice.pk).update(amount_paid=Decimal("30.00"))
                else:
                    pay([invoice.pk], how)
                    paid_from[invoice.pk] = next_log_id()
            as_of += timedelta(days=days)
            expected = owed(as_of, THRESHOLDS)
            log = overdue_check_run(triggered_by="command", as_of=as_of, config=config)
            assert outcome([log], expected).exact
        assert reminded_after_payment(paid_from) == 0


RACE_TABLES = """
CREATE TABLE race_payments (invoice_id bigint PRIMARY KEY, acked_at timestamptz NOT NULL);
CREATE TABLE race_inserts (
    invoice_id bigint NOT NULL, run_id bigint NOT NULL, started_at timestamptz NOT NULL
);
CREATE FUNCTION race_record_insert() RETURNS trigger AS $$ BEGIN
    INSERT INTO race_inserts SELECT invoice_id, run_id, statement_timestamp() FROM inserted;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER race_record_insert AFTER INSERT ON reminders_notification
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION race_record_insert();
"""
RACE_TEARDOWN = """
DROP TRIGGER IF EXISTS race_record_insert ON reminders_notification;
DROP FUNCTION IF EXISTS race_record_insert();
DROP TABLE IF EXISTS race_payments, race_inserts;
"""


@pytest.fixture
def race_record():
    """Each payment's acknowledged commit time and each reminder's inserting statement's start time."""
    with connection.cursor() as cursor:
        cursor.execute(RACE_TABLES)
    yield
    with connection.cursor() as cursor:
        cursor.execute(RACE_TEARDOWN)


def race_figures(run_id: int) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE i.started_at > p.acked_at), "
            "count(*) FILTER (WHERE i.started_at <= p.acked_at) "
            "FROM race_inserts i JOIN race_payments p USING (invoice_id) WHERE i.run_id = %s",
            [run_id],
        )
        after, before = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM race_payments")
        (payments,) = cursor.fetchone()
    return {"paid": payments, "reminded_before_payment": before, "reminded_after_payment": after}


@pytest.mark.reliability
@pytest.mark.processes
@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_no_reminder_is_inserted_after_its_invoices_payment_committed(
    size, rng, slow_batches, race_record, run_process, tmp_path
):
    """P19 with a real payer: a `run_overdue_check --batch-size 10` process while another process pays
    invoices just ahead of the run's committed progress (some three per transaction, in the opposite
    order: the deadlock case).

    Why the check is sound: the payer records ``clock_timestamp()`` in a statement sent after its COMMIT
    returned, so the payment was visible to every snapshot taken after that moment (``acked_at``). A
    trigger records, for each reminder, ``statement_timestamp()`` of the INSERT that wrote it
    (``started_at``); the statement takes its snapshot after it started. So ``started_at > acked_at``
    means the insert could see the payment, and a reminder written then is a reminder after payment.
    The check before the fix (read, then insert without looking again) fails this at full size: a
    payment landing between a batch's read and its insert.
    """
    load_invoices(rng, count=size.invoices, around=START)
    as_of = START + timedelta(days=60)
    expected = owed(as_of, THRESHOLDS)
    order = sorted(examined(as_of, THRESHOLDS))
    order_file, ready_file = tmp_path / "order.json", tmp_path / "payer-ready"
    order_file.write_text(json.dumps(order))
    arguments = f"after_log={next_log_id() - 1}, order_file={str(order_file)!r}, "
    arguments += f"ready_file={str(ready_file)!r}, batch_size=10, seed={rng.randrange(2**32)}"
    payer = run_process("shell", "-c", f"from tests.reliability.payer import main; main({arguments})")
    wait_for(lambda: True if ready_file.exists() or payer.poll() is not None else None)

    process = run_process(*run_args(as_of, 10), **RUN_ENV)
    assert process.wait(timeout=900) == 0, process.output_path.read_text()
    assert payer.wait(timeout=60) == 0, payer.output_path.read_text()

    run = JobExecutionLog.objects.get(pid=process.pid)
    figures = race_figures(run.pk)
    reminded = set(Notification.objects.filter(run_id=run.pk).values_list("invoice_id", flat=True))
    paid = {invoice for (invoice,) in connection.cursor().execute("SELECT invoice_id FROM race_payments")}
    retried = process.output_path.read_text().count("trying it again")
    report(
        "payments racing a run (batch size 10)",
        invoices=size.invoices,
        examined=run.invoices_processed,
        payments_raced=figures["paid"],
        reminded_before_payment=figures["reminded_before_payment"],
        reminded_after_payment=figures["reminded_after_payment"],
        batches_retried=retried,
    )
    assert (run.status, run.error_count) == (RunStatus.COMPLETED, 0), run.errors
    assert figures["paid"] > 0, payer.output_path.read_text()
    assert figures["reminded_after_payment"] == 0
    assert reminded <= expected.keys()
    assert expected.keys() - paid <= reminded  # nothing lost among the invoices nobody paid
    assert run.notifications_created == len(reminded)
