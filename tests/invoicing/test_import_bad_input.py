"""Bad files and bad rows (issue 21, point 5): each a clear error, exit 2, and nothing written."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import Workbook

from invoicing.files import MAX_LINE_BYTES
from invoicing.models import Customer, Invoice
from tests.invoicing.imports import COLUMNS, ROW, import_file, row, snapshot, write_csv

pytestmark = pytest.mark.django_db


def refused(path, *expected: str) -> str:
    """Import ``path``: it must be refused with every ``expected`` text and leave the tables as they were."""
    before = snapshot()
    outcome = import_file(path)
    assert outcome.code == 2, outcome.out
    for text in expected:
        assert text in outcome.err
    assert "nothing was written" in outcome.err.lower()
    assert "Traceback" not in outcome.err
    assert snapshot() == before
    return outcome.err


def csv_bytes(tmp_path, content: bytes):
    path = tmp_path / "books.csv"
    path.write_bytes(content)
    return path


def header_and(*lines: str) -> bytes:
    return ("\n".join([",".join(COLUMNS), *lines]) + "\n").encode()


GOOD_LINE = ",".join(ROW[column] for column in COLUMNS)


def test_invalid_utf8_names_the_line_and_the_byte(tmp_path):
    latin1 = header_and(GOOD_LINE).replace(b"Acme", b"Acm\xe9")
    refused(
        csv_bytes(tmp_path, latin1), "line 2 is not UTF-8 (byte 8 is b'\\xe9')", "save the file as CSV UTF-8"
    )


def test_a_byte_order_mark_is_accepted(tmp_path):
    outcome = import_file(csv_bytes(tmp_path, b"\xef\xbb\xbf" + header_and(GOOD_LINE)))
    assert outcome.code == 0, outcome.err
    assert Invoice.objects.get().number == "INV-1"


def test_semicolons_as_delimiter_are_named(tmp_path):
    content = header_and(GOOD_LINE).replace(b",", b";")
    refused(csv_bytes(tmp_path, content), "the header is separated by ';', not by commas")


def test_a_missing_column_is_named(tmp_path):
    path = write_csv(tmp_path / "books.csv", [ROW], [c for c in COLUMNS if c != "due_date"])
    refused(path, "the header lacks the column(s) due_date")


def test_an_unknown_column_is_named(tmp_path):
    path = write_csv(tmp_path / "books.csv", [ROW], [*COLUMNS, "vat"])
    refused(path, "the header has unknown column(s) 'vat'")


def test_one_invoice_number_twice_names_both_lines(tmp_path):
    path = write_csv(tmp_path / "books.csv", [row(), row(number="INV-2"), row(total="5.00")])
    err = refused(
        path, "line 2, number: 'INV-1' is on lines 2, 4", "line 4, number: 'INV-1' is on lines 2, 4"
    )
    assert "INV-2" not in err


@pytest.mark.parametrize(
    ("column", "other", "what"),
    [("customer_name", "Acme Ltd", "name"), ("customer_email", "billing@acme.example", "email")],
)
def test_one_customer_reference_with_two_names_or_emails_is_refused(tmp_path, column, other, what):
    path = write_csv(tmp_path / "books.csv", [row(), row(number="INV-2", **{column: other})])
    refused(path, f"line 3, customer_reference: 'C-1' has more than one {what} (lines 2, 3)")


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("currency", "XYZ", "is not an ISO 4217 currency code"),
        ("currency", "eur", "is not an ISO 4217 currency code"),
        ("issue_date", "2026-02-30", "is not a real calendar date"),
        ("due_date", "2026-13-01", "is not a real calendar date"),
        ("due_date", "31/01/2026", "is not a date written YYYY-MM-DD"),
        ("issue_date", "1899-12-31", "is outside 1900-01-01..9999-12-31"),
        ("total", "-10.00", "is negative: amounts are 0 or more"),
        ("amount_paid", "-0.01", "is negative: amounts are 0 or more"),
        ("total", "1,234.50", "is not an amount: digits with a dot for decimals"),
        ("total", "12.345", "has more decimals than EUR has minor units (2)"),
        ("total", "1000000000000", "must be below 1,000,000,000,000"),
        ("amount_paid", "2000.00", "is above total 1234.50"),
        ("status", "open", "is not a status: one of draft, sent, paid, void"),
        ("customer_email", "not-an-address", "is not an email address"),
        ("customer_reference", "", "is required"),
        ("number", "N" * 51, "is 51 characters long: at most 50"),
    ],
)
def test_an_invalid_value_is_named_with_its_rule(tmp_path, column, value, rule):
    path = write_csv(tmp_path / "books.csv", [row(**{column: value})])
    refused(path, f"line 2, {column}: ", rule)


def test_a_row_with_too_many_fields_is_named(tmp_path):
    refused(
        csv_bytes(tmp_path, header_and(GOOD_LINE + ",extra")), "line 2: has 11 fields where the header has 10"
    )


def test_a_ten_megabyte_line_is_refused_without_reading_it_whole(tmp_path):
    huge = GOOD_LINE.replace("Acme Industries", "A" * (10 * 1024 * 1024))
    refused(csv_bytes(tmp_path, header_and(huge)), f"line 2 is longer than {MAX_LINE_BYTES:,} bytes")


def test_an_empty_file_is_refused(tmp_path):
    refused(csv_bytes(tmp_path, b""), "the file is empty: expected the header customer_reference,")


def test_formula_looking_cells_are_kept_as_text(tmp_path):
    path = write_csv(tmp_path / "books.csv", [row(customer_name='=HYPERLINK("x")', number="+INV-1")])
    outcome = import_file(path)
    assert outcome.code == 0, outcome.err
    assert Customer.objects.get().name == '=HYPERLINK("x")'
    assert Invoice.objects.get().number == "+INV-1"


# --- XLSX ------------------------------------------------------------------------------------------------


def write_xlsx(path, rows: list[list[object]], columns=COLUMNS):
    book = Workbook()
    sheet = book.active
    sheet.append(list(columns))
    for cells in rows:
        sheet.append(cells)
    book.save(path)
    return path


def xlsx_row(**changes: object) -> list[object]:
    values: dict[str, object] = {**ROW, **changes}
    return [values[column] for column in COLUMNS]


def test_xlsx_with_date_cells_and_number_cells_imports(tmp_path):
    cells = xlsx_row(
        issue_date=datetime(2026, 1, 1),
        due_date=date(2026, 1, 31),
        total=1234.5,
        amount_paid=0,
        customer_reference=1001,
    )
    outcome = import_file(write_xlsx(tmp_path / "books.xlsx", [cells]))
    assert outcome.code == 0, outcome.err
    invoice = Invoice.objects.get()
    assert (invoice.due_date, invoice.total, invoice.customer.reference) == (
        date(2026, 1, 31),
        Decimal("1234.50"),
        "1001",
    )


def test_xlsx_dates_stored_as_numbers_are_refused(tmp_path):
    path = write_xlsx(tmp_path / "books.xlsx", [xlsx_row(due_date=46053)])
    refused(path, "line 2, due_date: '46053' is a number, not a date")


def test_xlsx_formula_cells_are_kept_as_text(tmp_path):
    path = write_xlsx(tmp_path / "books.xlsx", [xlsx_row(customer_name="=1+2")])
    outcome = import_file(path)
    assert outcome.code == 0, outcome.err
    assert Customer.objects.get().name == "=1+2"


def test_xlsx_without_a_header_is_refused(tmp_path):
    book = Workbook()
    book.save(tmp_path / "empty.xlsx")
    refused(tmp_path / "empty.xlsx", "the sheet is empty: expected the header")
