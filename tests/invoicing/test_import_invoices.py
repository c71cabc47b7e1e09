"""``manage.py import_invoices`` and ``export_invoices`` (docs/SPEC.md §12, P25), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from invoicing.imports import SHOWN_ERRORS
from invoicing.models import Customer, Invoice, InvoiceStatus
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.invoicing.imports import COLUMNS, import_file, row, snapshot, write_csv

pytestmark = pytest.mark.django_db


def test_import_creates_customers_by_reference_and_invoices_by_number(tmp_path):
    path = write_csv(
        tmp_path / "books.csv",
        [
            row(),
            row(number="INV-2", total="99.00", amount_paid="99.00", status="paid"),
            row(
                customer_reference="C-2",
                customer_name="Globex",
                customer_email="ap@globex.example",
                number="INV-3",
                currency="JPY",
                total="1000",
            ),
        ],
    )
    outcome = import_file(path)
    assert outcome.code == 0, outcome.err
    assert "Invoices: 3 created, 0 updated, 0 unchanged." in outcome.out
    assert "Customers: 2 created, 0 updated, 0 unchanged." in outcome.out
    acme = Customer.objects.get(reference="C-1")
    assert (acme.name, acme.email, acme.reminders_paused) == ("Acme Industries", "ap@acme.example", False)
    invoice = Invoice.objects.get(number="INV-1")
    assert invoice.customer == acme
    assert (invoice.issue_date, invoice.due_date, invoice.currency) == (
        date(2026, 1, 1),
        date(2026, 1, 31),
        "EUR",
    )
    assert (invoice.total, invoice.amount_paid, invoice.status) == (Decimal("1234.50"), 0, InvoiceStatus.SENT)
    assert Invoice.objects.get(number="INV-3").customer.reference == "C-2"


def test_same_file_twice_changes_nothing_the_second_time(tmp_path):
    path = write_csv(tmp_path / "books.csv", [row(), row(number="INV-2")])
    import_file(path)
    before = snapshot()
    outcome = import_file(path)
    assert "Invoices: 0 created, 0 updated, 2 unchanged." in outcome.out
    assert "Customers: 0 created, 0 updated, 1 unchanged." in outcome.out
    assert snapshot() == before


def test_changed_rows_are_updated_and_the_rest_unchanged(tmp_path):
    import_file(write_csv(tmp_path / "monday.csv", [row(), row(number="INV-2")]))
    outcome = import_file(
        write_csv(
            tmp_path / "tuesday.csv",
            [row(amount_paid="1234.50", status="paid"), row(number="INV-2"), row(number="INV-3")],
        )
    )
    assert "Invoices: 1 created, 1 updated, 1 unchanged." in outcome.out
    assert Invoice.objects.get(number="INV-1").status == InvoiceStatus.PAID


def test_a_customer_known_by_reference_gets_its_new_name_and_email_and_keeps_its_pause(tmp_path):
    customer = CustomerFactory(reference="C-1", reminders_paused=True)
    outcome = import_file(write_csv(tmp_path / "books.csv", [row()]))
    assert "Customers: 0 created, 1 updated, 0 unchanged." in outcome.out
    customer.refresh_from_db()
    assert (customer.name, customer.email, customer.reminders_paused) == (
        "Acme Industries",
        "ap@acme.example",
        True,
    )


def test_an_invoice_moves_to_the_customer_its_row_names(tmp_path):
    InvoiceFactory(number="INV-1", customer=CustomerFactory(reference="OLD"))
    import_file(write_csv(tmp_path / "books.csv", [row()]))
    assert Invoice.objects.get(number="INV-1").customer.reference == "C-1"


def test_customers_without_a_reference_are_left_alone(tmp_path):
    desk = CustomerFactory(reference="", email="ap@acme.example")
    import_file(write_csv(tmp_path / "books.csv", [row()]))
    assert Customer.objects.count() == 2
    assert Customer.objects.get(pk=desk.pk).reference == ""


def test_dry_run_counts_what_would_change_and_writes_nothing(tmp_path):
    outcome = import_file(write_csv(tmp_path / "books.csv", [row(), row(number="INV-2")]), "--dry-run")
    assert outcome.code == 0
    assert "Invoices: 2 created, 0 updated, 0 unchanged." in outcome.out
    assert "Dry run: nothing was written." in outcome.out
    assert snapshot() == ([], [])


def test_an_invalid_row_refuses_the_whole_file_naming_line_column_value_and_rule(tmp_path):
    path = write_csv(
        tmp_path / "books.csv", [row(), row(number="INV-2", currency="EURO"), row(number="INV-3")]
    )
    outcome = import_file(path)
    assert outcome.code == 2
    assert "line 3, currency: 'EURO' is not an ISO 4217 currency code" in outcome.err
    assert "1 errors; nothing was written" in outcome.err
    assert snapshot() == ([], [])


def test_errors_show_the_first_fifty_and_count_them_all(tmp_path):
    rows = [row(number=f"INV-{n}", status="open") for n in range(70)]
    outcome = import_file(write_csv(tmp_path / "books.csv", rows))
    assert outcome.code == 2
    assert outcome.err.count("is not a status") == SHOWN_ERRORS
    assert f"70 errors (the first {SHOWN_ERRORS} shown); nothing was written" in outcome.err
    assert not Invoice.objects.exists()


def test_skip_invalid_writes_the_valid_rows_and_the_rejected_ones_with_their_errors(tmp_path):
    path = write_csv(
        tmp_path / "books.csv",
        [row(), row(number="INV-2", due_date="2025-12-01"), row(number="INV-3"), row(number="INV-3")],
    )
    rejects = tmp_path / "rejects.csv"
    outcome = import_file(path, "--skip-invalid", str(rejects))
    assert outcome.code == 0, outcome.err
    assert "Invoices: 1 created, 0 updated, 0 unchanged." in outcome.out
    assert f"Rejected: 3 rows, written with their errors to {rejects}." in outcome.out
    assert list(Invoice.objects.values_list("number", flat=True)) == ["INV-1"]
    with rejects.open(encoding="utf-8") as stream:
        rejected = list(csv.DictReader(stream))
    assert [(r["line"], r["number"]) for r in rejected] == [("3", "INV-2"), ("4", "INV-3"), ("5", "INV-3")]
    assert "due_date: '2025-12-01' is before issue_date 2026-01-01" in rejected[0]["error"]
    assert "is on lines 4, 5: one row per invoice" in rejected[1]["error"]


OPTIONAL = [*COLUMNS, "customer_language", "payment_url"]


def test_the_optional_columns_set_the_customers_language_and_the_invoices_pay_link(tmp_path):
    values = row(customer_language="de", payment_url="https://pay.example/INV-1")
    outcome = import_file(write_csv(tmp_path / "books.csv", [values, row(number="INV-2")], OPTIONAL))
    assert outcome.code == 0, outcome.err
    assert Customer.objects.get(reference="C-1").language == "de"
    assert Invoice.objects.get(number="INV-1").payment_url == "https://pay.example/INV-1"
    assert Invoice.objects.get(number="INV-2").payment_url == ""


def test_a_file_without_the_optional_columns_leaves_language_and_pay_link_as_they_are(tmp_path):
    given = row(customer_language="de", payment_url="https://pay.example/INV-1")
    import_file(write_csv(tmp_path / "full.csv", [given], OPTIONAL))
    outcome = import_file(write_csv(tmp_path / "books.csv", [row(total="2000.00"), row(number="INV-2")]))
    assert outcome.code == 0, outcome.err
    assert "Invoices: 1 created, 1 updated, 0 unchanged." in outcome.out
    assert "Customers: 0 created, 0 updated, 1 unchanged." in outcome.out
    assert Customer.objects.get(reference="C-1").language == "de"
    assert Invoice.objects.get(number="INV-1").payment_url == "https://pay.example/INV-1"
    # A new customer of such a file gets the default language.
    import_file(write_csv(tmp_path / "new.csv", [row(customer_reference="C-2", number="INV-3")]))
    assert Customer.objects.get(reference="C-2").language == "en"


def test_empty_optional_cells_mean_the_default_language_and_no_pay_link(tmp_path):
    import_file(
        write_csv(
            tmp_path / "full.csv", [row(customer_language="de", payment_url="https://p.example")], OPTIONAL
        )
    )
    outcome = import_file(write_csv(tmp_path / "books.csv", [row()], OPTIONAL))
    assert outcome.code == 0, outcome.err
    assert Customer.objects.get(reference="C-1").language == "en"
    assert Invoice.objects.get(number="INV-1").payment_url == ""


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("customer_language", "fr", "is not a language reminders are written in: one of en, de"),
        ("payment_url", "http://pay.example/INV-1", "is not a pay link: an https:// URL, or http:// on a"),
        ("payment_url", "javascript:alert(1)", "is not a pay link: an https:// URL, or http:// on a"),
    ],
)
def test_a_bad_language_or_pay_link_is_refused_naming_line_column_value_and_rule(
    tmp_path, column, value, rule
):
    outcome = import_file(write_csv(tmp_path / "books.csv", [row(**{column: value})], OPTIONAL))
    assert outcome.code == 2
    assert f"line 2, {column}: {value!r} {rule}" in outcome.err
    assert not Invoice.objects.exists()


def test_a_pay_link_on_a_loopback_host_may_be_plain_http(tmp_path):
    outcome = import_file(
        write_csv(tmp_path / "books.csv", [row(payment_url="http://127.0.0.1:8000/pay/1")], OPTIONAL)
    )
    assert outcome.code == 0, outcome.err
    assert Invoice.objects.get().payment_url == "http://127.0.0.1:8000/pay/1"


def test_two_languages_for_one_customer_are_refused_naming_the_lines(tmp_path):
    rows = [row(customer_language="de"), row(number="INV-2", customer_language="en")]
    outcome = import_file(write_csv(tmp_path / "books.csv", rows, OPTIONAL))
    assert outcome.code == 2
    assert "has more than one language (lines 2, 3): one per customer" in outcome.err


def test_a_header_only_file_imports_nothing(tmp_path):
    outcome = import_file(write_csv(tmp_path / "books.csv", []))
    assert outcome.code == 0
    assert "Invoices: 0 created, 0 updated, 0 unchanged." in outcome.out


def test_a_missing_file_is_named(tmp_path):
    outcome = import_file(tmp_path / "nowhere.csv")
    assert outcome.code == 2
    assert "nowhere.csv: no such file." in outcome.err


def test_export_writes_the_import_format_and_importing_it_changes_nothing(tmp_path):
    customer = CustomerFactory(reference="C-9", name='Müller, "Söhne"\nGmbH', language="de")
    InvoiceFactory(
        customer=customer,
        number="INV-9",
        currency="JPY",
        total=Decimal("1000"),
        payment_url="https://pay.example/INV-9",
    )
    InvoiceFactory(
        customer=customer, number="INV-10", status=InvoiceStatus.PAID, amount_paid=Decimal("100.00")
    )
    path = tmp_path / "export.csv"
    out = StringIO()
    call_command("export_invoices", str(path), stdout=out)
    assert "Exported 2 invoices" in out.getvalue()
    with path.open(encoding="utf-8", newline="") as stream:
        exported = list(csv.DictReader(stream))
    assert list(exported[0]) == [*COLUMNS, "customer_language", "payment_url"]
    assert exported[0]["customer_name"] == 'Müller, "Söhne"\nGmbH'
    assert (exported[0]["customer_language"], exported[0]["payment_url"]) == (
        "de",
        "https://pay.example/INV-9",
    )
    before = snapshot()
    outcome = import_file(path)
    assert "Invoices: 0 created, 0 updated, 2 unchanged." in outcome.out
    assert snapshot() == before


def test_export_names_invoices_whose_customer_has_no_reference(tmp_path):
    InvoiceFactory(customer=CustomerFactory(reference=""))
    err = StringIO()
    call_command("export_invoices", str(tmp_path / "export.csv"), stdout=StringIO(), stderr=err)
    assert "1 of them belong to customers without a reference" in err.getvalue()


def test_rows_in_many_chunks_with_gaps_are_each_written_once(tmp_path, monkeypatch):
    monkeypatch.setattr("invoicing.imports.CHUNK_ROWS", 3)
    monkeypatch.setattr("invoicing.imports.WRITE_CHUNK_ROWS", 2)
    rows = [
        row(number=f"INV-{n}", customer_reference=f"C-{n % 3}", customer_email=f"ap{n % 3}@c.example")
        for n in range(11)
    ]
    rows[4]["status"] = "open"  # a gap in the staged lines
    path = write_csv(tmp_path / "books.csv", rows)
    outcome = import_file(path, "--skip-invalid", str(tmp_path / "rejects.csv"))
    assert "Invoices: 10 created, 0 updated, 0 unchanged." in outcome.out
    assert "Customers: 3 created, 0 updated, 0 unchanged." in outcome.out
    assert Invoice.objects.count() == 10
    again = import_file(path, "--skip-invalid", str(tmp_path / "rejects.csv"))
    assert "Invoices: 0 created, 0 updated, 10 unchanged." in again.out
