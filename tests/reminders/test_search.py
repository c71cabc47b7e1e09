"""The desk's searches (SPEC §11, §9): what they find, and that on PostgreSQL each part reads an index."""

import pytest
from django.db import connection
from django.urls import reverse

import common.admin
from invoicing.selectors import invoices_matching
from reminders.models import Message
from reminders.selectors import messages_matching, reminders_matching
from tests.invoicing.factories import InvoiceFactory
from tests.reminders.factories import NotificationFactory, delivered

pytestmark = pytest.mark.django_db

MESSAGES_URL = reverse("admin:reminders_message_changelist")
REMINDERS_URL = reverse("admin:reminders_notification_changelist")
INVOICES_URL = reverse("admin:invoicing_invoice_changelist")


def listed(client, url, term) -> list[int]:
    response = client.get(url, {"q": term})
    assert response.status_code == 200
    return sorted(row.pk for row in response.context["cl"].result_list)


@pytest.fixture
def hooli():
    reminder = NotificationFactory(
        invoice__number="INV-0002000",
        invoice__customer__name="Hooli Industries",
        invoice__customer__email="ap@hooli.example",
    )
    return delivered(reminder, state="sent", message_id="<m-42@reminders.example>")


@pytest.fixture
def globex():
    return delivered(
        NotificationFactory(invoice__number="INV-0003000", invoice__customer__name="Globex Trading"),
        state="sent",
        message_id="<m-43@reminders.example>",
    )


def test_the_words_of_a_search_are_all_found_in_one_of_the_fields(staff_client, hooli, globex):
    assert listed(staff_client, REMINDERS_URL, "industries hooli") == [hooli.pk]
    assert listed(staff_client, REMINDERS_URL, "example ap@hooli") == [hooli.pk]
    assert listed(staff_client, REMINDERS_URL, "hooli 0002000") == []


def test_a_search_finding_more_than_it_reads_at_once_lists_the_same(staff_client, hooli, globex, monkeypatch):
    found = listed(staff_client, REMINDERS_URL, "INV")
    monkeypatch.setattr(common.admin, "SEARCH_IDS_READ_ONCE", 1)
    assert listed(staff_client, REMINDERS_URL, "INV") == found == sorted([hooli.pk, globex.pk])


@pytest.mark.parametrize("term", ["<m-42@reminders.example>", "m-42@reminders.example", "m-42@rem"])
def test_a_message_is_found_by_its_message_id_or_its_start(staff_client, hooli, globex, term):
    assert listed(staff_client, MESSAGES_URL, term) == [hooli.delivery_id]


def test_a_message_id_is_matched_from_its_start_only(staff_client, hooli, globex):
    assert listed(staff_client, MESSAGES_URL, "42@reminders.example") == []
    assert listed(staff_client, MESSAGES_URL, "m-4") == sorted([hooli.delivery_id, globex.delivery_id])


@pytest.mark.parametrize("term", ["hooli industries", "AP@HOOLI", "INV-0002000"])
def test_a_message_is_found_by_its_customer_or_an_invoice_it_carries(staff_client, hooli, globex, term):
    assert listed(staff_client, MESSAGES_URL, term) == [hooli.delivery_id]


@pytest.mark.parametrize("term", ["0002000", "hooli industries", "ap@hooli"])
def test_an_invoice_is_found_by_its_number_or_its_customer(staff_client, hooli, globex, term):
    assert listed(staff_client, INVOICES_URL, term) == [hooli.invoice_id]


def test_the_search_ids_are_each_row_once(hooli):
    InvoiceFactory(number="HOOLI-2", customer=hooli.invoice.customer)
    ids = [row["id"] for row in invoices_matching(["hooli"])]
    assert len(ids) == len(set(ids)) == 2


SEARCHES = {
    "invoices": (lambda: invoices_matching(["hooli"]), {"customer_name_trgm", "invoice_number_trgm"}),
    "reminders": (
        lambda: reminders_matching(["hooli"]),
        {"customer_name_trgm", "customer_email_trgm", "invoice_number_trgm"},
    ),
    "messages": (lambda: messages_matching(["hooli"]), {"customer_name_trgm", "message_message_id_idx"}),
}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes are PostgreSQL's")
@pytest.mark.parametrize("search", SEARCHES)
def test_on_postgresql_each_part_of_a_search_can_read_its_index(hooli, search):
    """With full scans priced out, the plan names each index: the expression of every trigram index
    is the one ``icontains`` compares (``UPPER(column::text)``)."""
    query, indexes = SEARCHES[search]
    with connection.cursor() as cursor:
        for scan in ("seqscan", "indexscan", "indexonlyscan"):  # a tiny table's full index scan too
            cursor.execute(f"SET LOCAL enable_{scan} = off")
        sql, params = query().query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert {index for index in indexes if index in plan} == indexes, plan


def test_messages_table_is_searched_by_its_own_ids(hooli):
    assert list(Message.objects.filter(pk__in=messages_matching(["INV-0002000"]))) == [hooli.delivery]
