"""Helpers of the import tests: files written as the books write them, the command run as a user runs it."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import CommandError

from invoicing.imports import COLUMNS
from invoicing.models import Customer, Invoice

ROW = {
    "customer_reference": "C-1",
    "customer_name": "Acme Industries",
    "customer_email": "ap@acme.example",
    "number": "INV-1",
    "issue_date": "2026-01-01",
    "due_date": "2026-01-31",
    "currency": "EUR",
    "total": "1234.50",
    "amount_paid": "0.00",
    "status": "sent",
}


def row(**changes: str) -> dict[str, str]:
    return {**ROW, **changes}


def write_csv(path: Path, rows: Sequence[dict[str, str]], columns: Sequence[str] = COLUMNS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        for values in rows:
            writer.writerow([values.get(column, "") for column in columns])
    return path


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def import_file(path: Path, *args: str) -> Outcome:
    out, err = StringIO(), StringIO()
    try:
        call_command("import_invoices", str(path), *args, stdout=out, stderr=err)
    except CommandError as refused:
        return Outcome(refused.returncode, out.getvalue(), err.getvalue() + str(refused))
    return Outcome(0, out.getvalue(), err.getvalue())


def snapshot() -> tuple[list[tuple], list[tuple]]:
    """Every customer and invoice as stored, to compare before and after."""
    customers = list(Customer.objects.order_by("id").values_list())
    invoices = list(Invoice.objects.order_by("id").values_list())
    return customers, invoices
