from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from common.commands import CheckedCommand
from invoicing.files import export_rows, write_file
from invoicing.models import Invoice


class Command(CheckedCommand):
    help = (
        "Write every invoice with its customer to a CSV or XLSX file (by its extension), in the format "
        "import_invoices reads."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", type=Path, help="where to write: FILE.csv or FILE.xlsx")

    def handle(self, *args: Any, file: Path, **options: Any) -> None:
        written = write_file(file, export_rows(), xlsx=file.suffix.lower() == ".xlsx")
        self.stdout.write(f"Exported {written} invoices to {file}.")
        if missing := Invoice.objects.filter(customer__reference="").count():
            self.stderr.write(
                f"{missing} of them belong to customers without a reference (created in the admin): "
                "give those customers their id in the books before importing the file back."
            )
