from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from invoicing.models import Customer, Invoice, InvoiceStatus
from reminders.models import Message, MessageState, Notification
from scheduler.config import today
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.processes import needs_postgresql, run_manage
from tests.reminders.factories import NotificationFactory

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo_data", *args, stdout=out)
    return out.getvalue()


def test_demo_data_holds_every_kind_of_invoice_the_rule_tells_apart():
    output = seed("--customers", "50", "--invoices", "600", "--seed", "7")
    as_of = today()
    sent = Invoice.objects.filter(status=InvoiceStatus.SENT)
    assert (Customer.objects.count(), Invoice.objects.count()) == (50, 600)
    assert Customer.objects.filter(reminders_paused=True).exists()
    assert sent.filter(due_date__lt=as_of, amount_paid=0).exists()  # overdue
    assert sent.filter(due_date__lt=as_of, amount_paid__gt=0, balance_due__gt=0).exists()  # partly paid
    assert sent.filter(due_date=as_of).exists()  # due today
    assert sent.filter(due_date__gt=as_of).exists()  # not yet due
    for status in (InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.DRAFT):
        assert Invoice.objects.filter(status=status).exists()
    assert "Created 50 customers" in output


def test_demo_data_is_not_added_on_top_of_existing_invoices():
    seed("--customers", "5", "--invoices", "20")
    with pytest.raises(CommandError, match="20 invoices already exist; use --reset") as refused:
        seed("--customers", "5", "--invoices", "20")
    assert refused.value.returncode == 2
    assert Invoice.objects.count() == 20


def test_reset_replaces_the_demo_data():
    seed("--customers", "5", "--invoices", "20")
    seed("--customers", "3", "--invoices", "30", "--reset")
    assert (Customer.objects.count(), Invoice.objects.count()) == (3, 30)


def test_reset_after_reminders_were_sent_replaces_them_and_their_messages():
    seed("--customers", "5", "--invoices", "40", "--seed", "3")
    call_command("run_overdue_check", stdout=StringIO())
    call_command("send_reminders", stdout=StringIO())
    assert Message.objects.filter(state=MessageState.SENT).exists()
    seed("--customers", "3", "--invoices", "30", "--reset")
    assert (Customer.objects.count(), Notification.objects.count(), Message.objects.count()) == (3, 0, 0)


def test_the_same_seed_gives_the_same_invoices():
    seed("--customers", "5", "--invoices", "30", "--seed", "3")
    first = list(Invoice.objects.order_by("number").values_list("number", "due_date", "total", "status"))
    seed("--customers", "5", "--invoices", "30", "--seed", "3", "--reset")
    again = list(Invoice.objects.order_by("number").values_list("number", "due_date", "total", "status"))
    assert first == again


def test_reset_refuses_a_database_with_customers_the_demo_did_not_create():
    seed("--customers", "5", "--invoices", "20")
    real = CustomerFactory(email="accounts@acme.com")
    with pytest.raises(CommandError, match=r"1 customers whose email is not on a \.example domain") as no:
        seed("--reset")
    assert no.value.returncode == 2
    assert f"(ids {real.pk})" in str(no.value)
    assert "--delete-non-demo-data" in str(no.value)
    assert (Customer.objects.count(), Invoice.objects.count()) == (6, 20)


def test_reset_refuses_a_database_with_invoices_the_demo_did_not_create():
    for number in ("2026-0001", "2026-0002", "2026-0003", "2026-0004"):
        InvoiceFactory(number=number)
    with pytest.raises(CommandError, match=r"4 invoices whose number does not start with 'INV-'") as refused:
        seed("--reset")
    assert refused.value.returncode == 2
    assert "(2026-0001, 2026-0002, 2026-0003, …)" in str(refused.value)
    assert Invoice.objects.count() == 4


def test_reset_names_the_database_it_refused():
    InvoiceFactory(customer__email="ap@globex.com")
    with pytest.raises(CommandError) as refused:
        seed("--reset")
    assert f"{connection.vendor} database {connection.settings_dict['NAME']!r}" in str(refused.value)


def test_reset_deletes_data_the_demo_did_not_create_only_when_told_to():
    InvoiceFactory(number="2026-0001", customer__email="ap@globex.com")
    seed("--customers", "3", "--invoices", "10", "--reset", "--delete-non-demo-data")
    assert (Customer.objects.count(), Invoice.objects.count()) == (3, 10)
    assert not Invoice.objects.filter(number="2026-0001").exists()


def test_delete_non_demo_data_alone_deletes_nothing():
    InvoiceFactory(number="2026-0001", customer__email="ap@globex.com")
    with pytest.raises(CommandError, match="only applies with --reset") as refused:
        seed("--delete-non-demo-data")
    assert refused.value.returncode == 2
    assert Invoice.objects.count() == 1


def test_demo_data_is_recognised_as_demo_data_by_the_reset():
    seed("--customers", "20", "--invoices", "100", "--seed", "5")
    NotificationFactory(invoice=Invoice.objects.first())
    seed("--customers", "2", "--invoices", "4", "--reset")
    assert (Customer.objects.count(), Invoice.objects.count(), Notification.objects.count()) == (2, 4, 0)


@pytest.mark.processes
@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_refused_reset_exits_2_with_the_reason_on_stderr():
    InvoiceFactory(number="2026-0001", customer__email="ap@globex.com")
    refused = run_manage("seed_demo_data", "--reset")
    assert refused.returncode == 2
    assert "--reset refused" in refused.stderr
    assert "1 invoices whose number does not start with 'INV-' (2026-0001)" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert Invoice.objects.count() == 1
