"""The invoice file in the admin (docs/SPEC.md §12, django-import-export): upload, a preview of each row's
change, confirm; the command's messages for an invalid row, and nothing written; export in the same
format."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from invoicing.imports import COLUMNS
from invoicing.models import Customer, Invoice, InvoiceStatus
from tests.invoicing.factories import CustomerFactory, InvoiceFactory

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/invoicing/invoice/import/"
CONFIRM_URL = "/admin/invoicing/invoice/process_import/"
EXPORT_URL = "/admin/invoicing/invoice/export/"
CSV_FORMAT = "0"
HEADER = ",".join(COLUMNS)


def upload(client, text: str):
    file = SimpleUploadedFile("invoices.csv", text.encode(), content_type="text/csv")
    return client.post(IMPORT_URL, {"format": CSV_FORMAT, "resource": "0", "import_file": file})


def confirm(client, preview):
    form = preview.context["confirm_form"]
    return client.post(
        CONFIRM_URL, {name: form.initial[name] for name in form.fields if name in form.initial}
    )


def changes(preview) -> list[tuple[str, str]]:
    """(line, change) of each row the preview lists."""
    rows = preview.context["result"].valid_rows()
    names = {"new": "new", "update": "update", "skip": "unchanged"}
    return [(row.diff[0], names[row.import_type]) for row in rows if row.diff]


@pytest.fixture
def books():
    customer = CustomerFactory(reference="C-1", name="Acme", email="ap@acme.example")
    InvoiceFactory(
        number="INV-1",
        customer=customer,
        total=Decimal("100.00"),
        due_date="2026-02-01",
        issue_date="2026-01-02",
    )
    InvoiceFactory(
        number="INV-2",
        customer=customer,
        total=Decimal("50.00"),
        due_date="2026-02-01",
        issue_date="2026-01-02",
    )
    return customer


FILE = "\n".join(
    [
        HEADER,
        "C-1,Acme,ap@acme.example,INV-1,2026-01-02,2026-02-01,EUR,100.00,0.00,sent",
        "C-1,Acme,ap@acme.example,INV-2,2026-01-02,2026-02-01,EUR,50.00,50.00,paid",
        "C-2,Globex,ap@globex.example,INV-3,2026-01-05,2026-02-04,EUR,75.00,0.00,sent",
    ]
)


def test_the_import_page_offers_csv_and_xlsx(superuser_client):
    response = superuser_client.get(IMPORT_URL)
    assert response.status_code == 200
    assert [label for _, label in response.context["form"].fields["format"].choices if _ != ""] == [
        "csv",
        "xlsx",
    ]


def test_the_preview_shows_each_rows_change_and_writes_nothing(superuser_client, books):
    preview = upload(superuser_client, FILE)
    assert preview.status_code == 200
    assert changes(preview) == [("2", "unchanged"), ("3", "update"), ("4", "new")]
    body = preview.content.decode()
    assert "0.00 → 50.00" in body
    assert "sent → paid" in body
    assert not Invoice.objects.filter(number="INV-3").exists()
    assert Invoice.objects.get(number="INV-2").status == InvoiceStatus.SENT


def test_confirming_writes_the_file_as_the_command_would(superuser_client, books):
    response = confirm(superuser_client, upload(superuser_client, FILE))
    assert response.status_code == 302
    assert Invoice.objects.get(number="INV-2").status == InvoiceStatus.PAID
    assert Invoice.objects.get(number="INV-3").customer == Customer.objects.get(reference="C-2")
    assert changes(upload(superuser_client, FILE)) == [
        ("2", "unchanged"),
        ("3", "unchanged"),
        ("4", "unchanged"),
    ]


def test_an_invalid_row_shows_the_commands_error_and_nothing_can_be_written(superuser_client, books):
    bad = FILE + "\nC-3,Initech,not-an-email,INV-4,2026-01-05,2026-02-04,EURO,75.00,80.00,sent"
    preview = upload(superuser_client, bad)
    body = preview.content.decode()
    assert "line 5, currency: &#x27;EURO&#x27; is not an ISO 4217 currency code" in body
    assert "line 5, customer_email: &#x27;not-an-email&#x27; is not an email address" in body
    assert "confirm_form" not in preview.context or preview.context["confirm_form"] is None
    assert not Invoice.objects.filter(number__in=["INV-3", "INV-4"]).exists()
    assert Invoice.objects.get(number="INV-2").status == InvoiceStatus.SENT


def test_an_invoice_number_twice_names_both_lines(superuser_client, books):
    twice = FILE + "\nC-2,Globex,ap@globex.example,INV-3,2026-01-05,2026-02-04,EUR,1.00,0.00,sent"
    body = upload(superuser_client, twice).content.decode()
    assert "line 4, number: &#x27;INV-3&#x27; is on lines 4, 5: one row per invoice" in body
    assert not Invoice.objects.filter(number="INV-3").exists()


def test_a_missing_column_is_named_and_nothing_written(superuser_client):
    body = upload(superuser_client, "number,total\nINV-1,1.00").content.decode()
    assert "the header lacks the column(s) customer_reference" in body
    assert not Invoice.objects.exists()


def export(client) -> str:
    selected = {f"invoiceresource_{column}": "on" for column in COLUMNS}
    response = client.post(EXPORT_URL, {"format": CSV_FORMAT, "resource": "0", **selected})
    assert response.status_code == 200
    return response.content.decode("utf-8-sig")


def test_export_writes_the_commands_format(superuser_client, books):
    rows = list(csv.reader(io.StringIO(export(superuser_client))))
    assert rows[0] == list(COLUMNS)
    assert sorted(rows[1:]) == [
        [
            "C-1",
            "Acme",
            "ap@acme.example",
            "INV-1",
            "2026-01-02",
            "2026-02-01",
            "EUR",
            "100.00",
            "0.00",
            "sent",
        ],
        [
            "C-1",
            "Acme",
            "ap@acme.example",
            "INV-2",
            "2026-01-02",
            "2026-02-01",
            "EUR",
            "50.00",
            "0.00",
            "sent",
        ],
    ]


def test_export_then_import_is_unchanged(superuser_client, books):
    preview = upload(superuser_client, export(superuser_client))
    assert {change for _, change in changes(preview)} == {"unchanged"}


def test_import_needs_the_write_permissions_and_export_the_view_one(client, django_user_model):
    user = django_user_model.objects.create_user(username="viewer", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_invoice"))
    client.force_login(user)
    assert client.get(IMPORT_URL).status_code == 403
    assert client.get(EXPORT_URL).status_code == 200


def test_the_optional_columns_are_previewed_and_written_and_left_alone_when_absent(superuser_client, books):
    header = HEADER + ",customer_language,payment_url"
    with_link = "\n".join(
        [
            header,
            "C-1,Acme,ap@acme.example,INV-1,2026-01-02,2026-02-01,EUR,100.00,0.00,sent,de,https://pay.example/1",
            "C-1,Acme,ap@acme.example,INV-2,2026-01-02,2026-02-01,EUR,50.00,0.00,sent,de,",
        ]
    )
    preview = upload(superuser_client, with_link)
    assert changes(preview) == [("2", "update"), ("3", "update")]
    body = preview.content.decode()
    assert "en → de" in body
    assert " → https://pay.example/1" in body
    assert confirm(superuser_client, preview).status_code == 302
    assert Customer.objects.get(reference="C-1").language == "de"
    assert Invoice.objects.get(number="INV-1").payment_url == "https://pay.example/1"
    # A file without the optional columns changes neither.
    assert changes(upload(superuser_client, FILE))[:1] == [("2", "unchanged")]
