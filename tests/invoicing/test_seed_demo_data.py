from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from invoicing.models import Customer, Invoice, InvoiceStatus
from scheduler.config import today

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


def test_the_same_seed_gives_the_same_invoices():
    seed("--customers", "5", "--invoices", "30", "--seed", "3")
    first = list(Invoice.objects.order_by("number").values_list("number", "due_date", "total", "status"))
    seed("--customers", "5", "--invoices", "30", "--seed", "3", "--reset")
    again = list(Invoice.objects.order_by("number").values_list("number", "due_date", "total", "status"))
    assert first == again
