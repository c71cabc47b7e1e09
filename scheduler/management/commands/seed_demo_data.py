from argparse import ArgumentParser
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from common.commands import positive_int
from common.display import due_phrase
from common.exit_codes import REFUSED_EXIT_CODE
from common.progress import progress_for
from invoicing.models import Invoice
from invoicing.services import DemoDataExists, NonDemoDataFound, demo_data_create, demo_data_reset
from reminders.services import reminders_delete_all
from scheduler.config import today
from scheduler.locks import run_lock_for_database


class Command(BaseCommand):
    help = "Load demo customers and invoices: overdue by various days, due today, not yet due, paid, void."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--customers", type=positive_int, default=200, help="default 200")
        parser.add_argument("--invoices", type=positive_int, default=2000, help="default 2000")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="delete existing invoices, customers and reminders first: refused when any of them is "
            "not demo data",
        )
        parser.add_argument(
            "--delete-non-demo-data",
            action="store_true",
            help="with --reset: delete customers and invoices the demo did not create too",
        )

    def handle(
        self,
        *args: Any,
        customers: int,
        invoices: int,
        seed: int,
        reset: bool,
        delete_non_demo_data: bool,
        **options: Any,
    ) -> None:
        if delete_non_demo_data and not reset:
            raise CommandError(
                "--delete-non-demo-data only applies with --reset.", returncode=REFUSED_EXIT_CODE
            )
        if reset:
            self.reset(delete_non_demo_data=delete_non_demo_data)
        progress = progress_for(
            self.stdout._out,  # type: ignore[arg-type]  # the wrapped stream
            desc="Seeding",
            unit="invoice",
            verb="create",
        )
        progress.start(invoices)
        as_of = today()
        try:
            summary = demo_data_create(
                customers=customers,
                invoices=invoices,
                seed=seed,
                as_of=as_of,
                on_progress=progress.advance,
            )
        except DemoDataExists as exc:
            raise CommandError(str(exc), returncode=REFUSED_EXIT_CODE) from exc
        finally:
            progress.close()
        self.stdout.write(
            f"Created {summary.customers} customers ({summary.paused_customers} with reminders paused) "
            f"and {summary.invoices} invoices."
        )
        for invoice in summary.examples:
            self.stdout.write(f"  {demo_example_text(invoice, as_of=as_of)}")

    def reset(self, *, delete_non_demo_data: bool) -> None:
        # Holding the run lock: a run in progress would be inserting reminders to invoices being deleted.
        lock = run_lock_for_database()
        if not lock.acquire():
            raise CommandError(
                "--reset refused: a run of the overdue check is going on; try again when it has finished.",
                returncode=REFUSED_EXIT_CODE,
            )
        try:
            # One transaction: a refused reset leaves the reminders too.
            with transaction.atomic():
                reminders_delete_all()
                demo_data_reset(delete_non_demo_data=delete_non_demo_data)
        except NonDemoDataFound as exc:
            raise CommandError(
                f"--reset refused: {exc} Point DATABASE_URL at a demo database (`make demo` uses "
                "DEMO_DATABASE_URL), or add --delete-non-demo-data to delete it all.",
                returncode=REFUSED_EXIT_CODE,
            ) from exc
        finally:
            lock.release()


def demo_example_text(invoice: Invoice, *, as_of: date) -> str:
    """``INV-0001999 is due in 2 days.``, ``INV-0002000 is 10 days overdue, on hold until … (dispute).``"""
    text = f"{invoice.number} is {due_phrase((as_of - invoice.due_date).days)}"
    if invoice.reminders_held_until:
        text += (
            f", on hold until {invoice.reminders_held_until} ({invoice.get_hold_reason_display().lower()})"
        )
    return text + "."
