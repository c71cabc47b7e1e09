from argparse import ArgumentParser
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from common.commands import CheckedCommand
from invoicing.files import FileRefused, count_rows, read_rows, rejects_writer
from invoicing.imports import ImportRefused, invoices_import

REFUSED_EXIT_CODE = 2


class Command(CheckedCommand):
    help = (
        "Create and update customers (by customer_reference) and invoices (by number) from a CSV or XLSX "
        "file with the header customer_reference,customer_name,customer_email,number,issue_date,due_date,"
        "currency,total,amount_paid,status. All or nothing: any invalid row writes nothing (exit 2)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", type=Path, help="the CSV (UTF-8) or XLSX file")
        parser.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
        parser.add_argument(
            "--skip-invalid",
            metavar="REJECTS.csv",
            type=Path,
            help="write the valid rows, and the invalid ones with their errors to this CSV file",
        )

    def handle(
        self, *args: Any, file: Path, dry_run: bool, skip_invalid: Path | None, **options: Any
    ) -> None:
        if not file.is_file():
            raise CommandError(f"{file}: no such file.", returncode=REFUSED_EXIT_CODE)
        reading = self.progress(desc="Checking", unit="row", verb="check")
        writing = self.progress(desc="Saving", unit="row", verb="save")
        try:
            reading.start(count_rows(file))
            with ExitStack() as stack:
                reject = None
                if skip_invalid is not None:
                    rejects = stack.enter_context(skip_invalid.open("w", encoding="utf-8", newline=""))
                    reject = rejects_writer(rejects)
                result = invoices_import(
                    rows=read_rows(file), dry_run=dry_run, reject=reject, reading=reading, writing=writing
                )
        except FileRefused as exc:
            raise CommandError(f"{file}: {exc}. Nothing was written.", returncode=REFUSED_EXIT_CODE) from exc
        except ImportRefused as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            shown = f" (the first {len(exc.errors)} shown)" if exc.count > len(exc.errors) else ""
            raise CommandError(
                f"{file}: {exc.count} errors{shown}; nothing was written. Correct the rows, or import the "
                "valid ones with --skip-invalid REJECTS.csv.",
                returncode=REFUSED_EXIT_CODE,
            ) from exc
        finally:
            reading.close()
            writing.close()
        self.stdout.write(f"Invoices: {result.invoices}.")
        self.stdout.write(f"Customers: {result.customers}.")
        if skip_invalid is not None:
            self.stdout.write(
                f"Rejected: {result.rejected} rows, written with their errors to {skip_invalid}."
            )
        if dry_run:
            self.stdout.write("Dry run: nothing was written.")
