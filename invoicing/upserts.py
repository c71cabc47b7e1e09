"""One customer or one invoice put from the books by its key (docs/SPEC.md §12): created, replaced, or
left alone when nothing differs. Checked by the import's own rules, so a file and the API agree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from django.db import transaction

from invoicing.imports import ImportRefused, RowError, _customer_problems, invoices_upsert, language_rule
from invoicing.models import Customer, language_choices

Result = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class CustomerPut:
    customer: Customer
    result: Result


def customer_problems(*, reference: str, name: str, email: str, language: object = None) -> list[RowError]:
    """The import's rules for a customer's reference, name, email and language (``line`` 0)."""
    errors = [RowError(0, *problem) for problem in _customer_problems(reference, name, email)]
    if language is not None and language not in dict(language_choices()):
        errors.append(RowError(0, "customer_language", str(language), language_rule()))
    return errors


def customer_put(
    *, reference: str, name: str, email: str, reminders_paused: bool, language: str
) -> CustomerPut:
    """Create the customer with this ``reference`` or replace its fields; raises ``ImportRefused``
    with the errors (named by the import's columns) when a value breaks a rule, writing nothing."""
    if errors := customer_problems(reference=reference, name=name, email=email, language=language):
        raise ImportRefused(errors, len(errors))
    wanted = {"name": name, "email": email, "reminders_paused": reminders_paused, "language": language}
    with transaction.atomic():
        customer, created = Customer.objects.select_for_update().get_or_create(
            reference=reference, defaults=wanted
        )
        if created:
            return CustomerPut(customer, "created")
        changed = [field for field, value in wanted.items() if getattr(customer, field) != value]
        if not changed:
            return CustomerPut(customer, "unchanged")
        for field in changed:
            setattr(customer, field, wanted[field])
        customer.save(update_fields=changed)
    return CustomerPut(customer, "updated")


def invoice_put(*, values: Mapping[str, object]) -> Result:
    """Create or replace one invoice given in the import's columns (``invoices_upsert``: the same checks
    and the same statement as a file). Raises ``ImportRefused`` having written nothing."""
    counts = invoices_upsert(rows=[values]).invoices
    if counts.created:
        return "created"
    return "updated" if counts.updated else "unchanged"
