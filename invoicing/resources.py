"""The invoice file of docs/SPEC.md §12 in the admin, through django-import-export: upload, a preview of
each row's change (new, update, unchanged, or its errors), confirm; and export in the same format.

The preview's rules and the write are the command's own (``invoicing.imports``): every row is checked by
``invoices_import`` (per row and against the others, a dry run), and confirming writes the file with it
in one transaction. This resource only tells each row's change; it saves no row itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from import_export import fields, resources, widgets
from import_export.admin import ImportExportMixin
from import_export.formats import base_formats
from import_export.results import Result, RowResult
from tablib import Dataset

from invoicing.files import FILE_COLUMNS, check_header
from invoicing.imports import OPTIONAL_COLUMNS, RowError, invoices_import, row_problems, text_of
from invoicing.models import Invoice, default_language

HEADER_LINES = 1
WRITE_PERMISSIONS = (
    "invoicing.add_invoice",
    "invoicing.change_invoice",
    "invoicing.add_customer",
    "invoicing.change_customer",
)
# Where each of the file's columns is on an invoice, as the staged row of ``row_problems`` holds them.
ATTRIBUTES = {column: column.replace("customer_", "customer__", 1) for column in FILE_COLUMNS}
STAGED_INDEX = {column: index + 1 for index, column in enumerate(FILE_COLUMNS)}
LANGUAGE_INDEX = FILE_COLUMNS.index("customer_language")


class TextWidget(widgets.Widget):
    """A cell as the command's export writes it: text, dates YYYY-MM-DD, amounts with a dot."""

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return text_of(value)


def file_rows(dataset: Dataset) -> Iterator[tuple[int, dict[str, object]]]:
    """``(line, values)`` as the command reads a file: the header is line 1; empty rows are no rows."""
    for number, values in enumerate(dataset, start=HEADER_LINES + 1):
        if any(value not in (None, "") for value in values):
            yield number, dict(zip(dataset.headers, values, strict=True))


class InvoiceResource(resources.ModelResource):
    customer_reference = fields.Field("customer__reference", "customer_reference", TextWidget())
    customer_name = fields.Field("customer__name", "customer_name", TextWidget())
    customer_email = fields.Field("customer__email", "customer_email", TextWidget())
    customer_language = fields.Field("customer__language", "customer_language", TextWidget())

    class Meta:
        model = Invoice
        fields = FILE_COLUMNS
        export_order = FILE_COLUMNS
        import_id_fields = ("number",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name in FILE_COLUMNS[3:]:
            self.fields[name].widget = TextWidget()
        self.rejected: dict[int, list[RowError]] = {}

    def get_queryset(self) -> Any:
        return Invoice.objects.select_related("customer").order_by("id")

    def before_import(self, dataset: Dataset, **kwargs: Any) -> None:
        check_header(dataset.headers or [])

        def reject(line: int, values: Mapping[str, object], errors: Sequence[RowError]) -> None:
            self.rejected.setdefault(line, []).extend(errors)

        invoices_import(rows=file_rows(dataset), dry_run=True, reject=reject)

    def import_row(self, row: Mapping[str, object], instance_loader: Any, **kwargs: Any) -> RowResult:
        line = kwargs["row_number"] + HEADER_LINES
        result = self.get_row_result_class()()
        if errors := self.rejected.get(line):
            result.import_type = RowResult.IMPORT_TYPE_INVALID
            messages: dict[str, list[str]] = {}
            for error in errors:
                messages.setdefault(error.column or "row", []).append(str(error))
            result.validation_error = ValidationError(messages)
            return result
        if not any(value not in (None, "") for value in row.values()):
            result.import_type = RowResult.IMPORT_TYPE_SKIP  # an empty row is no row, as for the command
            return result
        staged, _ = row_problems(line, row)
        stored = self._stored(text_of(row.get("number")))
        wanted = [text_of(staged[STAGED_INDEX[column]]) if staged else "" for column in FILE_COLUMNS]
        if staged and not wanted[LANGUAGE_INDEX]:  # an empty cell: the default language
            wanted[LANGUAGE_INDEX] = default_language()
        if stored is not None:  # a column the file leaves out leaves its value as it is
            for index, column in enumerate(FILE_COLUMNS):
                if column in OPTIONAL_COLUMNS and column not in row:
                    wanted[index] = stored[index]
        if stored is None:
            result.import_type, result.diff = RowResult.IMPORT_TYPE_NEW, [str(line), *wanted]
            return result
        changed = [now != before for now, before in zip(wanted, stored, strict=True)]
        result.import_type = RowResult.IMPORT_TYPE_UPDATE if any(changed) else RowResult.IMPORT_TYPE_SKIP
        cells = zip(stored, wanted, changed, strict=True)
        result.diff = [str(line), *(f"{old} → {new}" if differs else new for old, new, differs in cells)]
        return result

    def _stored(self, number: str) -> list[str] | None:
        row = Invoice.objects.filter(number=number).values_list(*ATTRIBUTES.values()).first()
        return None if row is None else [text_of(value) for value in row]

    def after_import(self, dataset: Dataset, result: Result, **kwargs: Any) -> None:
        if not kwargs.get("dry_run") and not result.has_validation_errors() and not result.has_errors():
            invoices_import(rows=file_rows(dataset))


class InvoiceImportExportMixin(ImportExportMixin):
    """Import and export of the invoice file on the invoice admin: CSV or XLSX, the command's format.
    Importing needs what the API's writes need (add and change of invoices and customers); exporting
    needs view."""

    resource_classes = [InvoiceResource]
    # django-import-export puts its buttons on top of this list page, the invoice list's own.
    change_list_template = "admin/invoicing/invoice/change_list.html"
    import_template_name = "admin/invoicing/invoice/import.html"
    # The write is one set-based statement per table, not a save per row: no admin log entry per row.
    skip_admin_log = True

    @property
    def formats(self) -> list[type[base_formats.Format]]:
        return [base_formats.CSV, base_formats.XLSX]

    def has_import_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perms(WRITE_PERMISSIONS)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("invoicing.view_invoice")
