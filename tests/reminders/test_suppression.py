"""P30: a suppressed address gets nothing; a new address lifts the suppression, whichever way it comes
(the admin, the books API, an import), SPEC §14."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core import mail
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from invoicing.models import Customer
from reminders.models import MessageState, Notification
from reminders.outbox import reminders_send
from reminders.tracking import SUPPRESSED_REASON, suppress_address
from tests.api.conftest import BOOKS_PERMISSIONS, headers_with_permissions
from tests.invoicing.factories import CustomerFactory
from tests.invoicing.imports import import_file, row, write_csv
from tests.reminders.outbox import customer_reminders

BOUNCED = "ap@customer.example"
AT = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)

addresses = st.sampled_from(
    [BOUNCED, "AP@customer.example", "ap2@customer.example", "billing@customer.example", "ap@other.example"]
)


def suppressed_customer(**fields) -> Customer:
    customer = CustomerFactory(email=BOUNCED, **fields)
    assert suppress_address(customer_pk=customer.pk, address=BOUNCED, reason="Postmark: hard bounce", at=AT)
    customer.refresh_from_db()
    return customer


def sent_to(customer: Customer) -> list[str]:
    """Send what is due; the addresses the customer's reminders went to."""
    mail.outbox.clear()
    reminders_send()
    return [address for email in mail.outbox for address in email.to]


class SuppressedAddressGetsNothing(TestCase):
    @given(changes=st.lists(addresses, max_size=3))
    @settings(max_examples=40, deadline=None)
    def test_a_reminder_is_sent_exactly_when_the_address_is_not_the_one_that_bounced(self, changes):
        """P30: after any sequence of address changes, the customer's due reminder goes to its address
        as it is then unless that is the bounced address, and is then cancelled "address bounced"."""
        customer = suppressed_customer()
        for address in changes:
            Customer.objects.filter(pk=customer.pk).update(email=address)
        [reminder] = customer_reminders(customer, 1)
        current = changes[-1] if changes else BOUNCED
        received = sent_to(customer)
        reminder.refresh_from_db()
        if current == BOUNCED:
            assert received == []
            assert reminder.cancel_reason == SUPPRESSED_REASON
        else:
            assert received == [current]
            assert reminder.delivery.state == MessageState.SENT
        assert Customer.objects.get(pk=customer.pk).email_suppressed == (current == BOUNCED)


pytestmark = pytest.mark.django_db


def assert_lifted(customer: Customer, new_address: str) -> None:
    customer.refresh_from_db()
    assert customer.email == new_address
    assert not customer.email_suppressed
    assert not Customer.objects.email_suppressed().filter(pk=customer.pk).exists()
    assert sent_to(customer) == [new_address]


def test_the_suppressed_customer_gets_nothing_while_the_address_stands():
    customer = suppressed_customer()
    [reminder] = customer_reminders(customer, 1)
    assert sent_to(customer) == []
    reminder.refresh_from_db()
    assert reminder.cancel_reason == "address bounced"
    assert Notification.objects.get(pk=reminder.pk).delivery.state == MessageState.CANCELLED


def test_changing_the_address_in_the_admin_lifts_the_suppression(superuser_client):
    customer = suppressed_customer(name="Acme Industries")
    customer_reminders(customer, 1)
    page = superuser_client.get(reverse("admin:invoicing_customer_change", args=[customer.pk]))
    assert "Address bounced" in page.text
    assert "Postmark: hard bounce" in page.text
    response = superuser_client.post(
        reverse("admin:invoicing_customer_change", args=[customer.pk]),
        {
            "name": customer.name,
            "email": "fixed@customer.example",
            "reference": customer.reference,
            "language": "en",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert_lifted(customer, "fixed@customer.example")
    page = superuser_client.get(reverse("admin:invoicing_customer_change", args=[customer.pk]))
    assert "Address bounced" not in page.text


def test_changing_the_address_through_the_api_lifts_the_suppression(client):
    customer = suppressed_customer(reference="C-1001", name="Acme Industries")
    customer_reminders(customer, 1)
    headers = headers_with_permissions("books", BOOKS_PERMISSIONS)
    body = {"name": customer.name, "email": "fixed@customer.example", "reminders_paused": False}
    response = client.put("/api/v1/customers/C-1001", body, content_type="application/json", headers=headers)
    assert (response.status_code, response.json()["result"]) == (200, "updated")
    assert_lifted(customer, "fixed@customer.example")


def test_changing_the_address_by_an_import_lifts_the_suppression(tmp_path):
    customer = suppressed_customer(reference="C-1", name="Acme Industries")
    customer_reminders(customer, 1)
    path = write_csv(
        tmp_path / "books.csv",
        [
            row(
                customer_email="fixed@customer.example",
                number="INV-IMPORTED",
                status="paid",
                amount_paid="1234.50",
            )
        ],
    )
    outcome = import_file(path)
    assert outcome.code == 0, outcome.err
    assert_lifted(customer, "fixed@customer.example")


def test_the_admin_lists_customers_whose_address_bounced(superuser_client):
    bounced = suppressed_customer(name="Bounced Ltd")
    CustomerFactory(name="Fine Ltd")
    changed = suppressed_customer(name="Changed Ltd", reference="C-9")
    Customer.objects.filter(pk=changed.pk).update(email="new@changed.example")
    page = superuser_client.get(reverse("admin:invoicing_customer_changelist") + "?address=bounced")
    assert [customer.pk for customer in page.context["cl"].result_list] == [bounced.pk]
