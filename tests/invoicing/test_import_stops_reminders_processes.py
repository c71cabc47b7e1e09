"""A payment or a void that comes in from the books stops every reminder not yet sent (docs/SPEC.md §12):
the file imported by ``manage.py import_invoices``, then ``manage.py send_reminders``, as real processes
against PostgreSQL and a real SMTP server."""

from __future__ import annotations

import pytest

from invoicing.models import Customer
from reminders.models import MessageState, Notification
from tests.invoicing.imports import write_csv
from tests.processes import needs_postgresql, run_manage
from tests.reminders.conftest import smtp_server  # noqa: F401 - the fixture, shared with the sender's tests
from tests.reminders.outbox import mid, pending_reminders, states

pytestmark = [pytest.mark.processes, needs_postgresql, pytest.mark.django_db(transaction=True)]


def books_row(reminder: Notification, **changes: str) -> dict[str, str]:
    invoice = reminder.invoice
    return {
        "customer_reference": invoice.customer.reference,
        "customer_name": invoice.customer.name,
        "customer_email": invoice.customer.email,
        "number": invoice.number,
        "issue_date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "currency": invoice.currency,
        "total": str(invoice.total),
        "amount_paid": str(invoice.amount_paid),
        "status": invoice.status,
        **changes,
    }


def test_invoices_imported_paid_or_void_get_no_message(smtp_server, tmp_path):  # noqa: F811
    reminders = pending_reminders(4)
    for n, reminder in enumerate(reminders):
        Customer.objects.filter(pk=reminder.invoice.customer_id).update(reference=f"C-{n}")
        reminder.invoice.customer.refresh_from_db()
    paid, void, still_owed, untouched = reminders
    path = write_csv(
        tmp_path / "books.csv",
        [
            books_row(paid, amount_paid=str(paid.invoice.total), status="paid"),
            books_row(void, status="void"),
            books_row(still_owed),
        ],
    )
    imported = run_manage("import_invoices", str(path))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "Invoices: 0 created, 2 updated, 1 unchanged." in imported.stdout

    sent = run_manage("send_reminders", EMAIL_URL=smtp_server.url, DEFAULT_FROM_EMAIL="billing@shop.example")
    assert sent.returncode == 0, sent.stdout + sent.stderr

    received = set(smtp_server.message_ids())
    assert received == {mid(r) for r in (still_owed, untouched)}
    after = states(reminders)
    assert after[paid.pk] == after[void.pk] == MessageState.CANCELLED
