"""Languages and pay links in the admin (docs/SPEC.md §13): a customer's language and an invoice's pay link
set on their pages, a bad pay link refused on its field, and a template previewed in its language."""

from __future__ import annotations

import importlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from invoicing.models import Customer, Invoice
from reminders.models import ReminderTemplate
from tests.invoicing.factories import CustomerFactory, InvoiceFactory

PREVIEW_URL = reverse("admin:reminders_remindertemplate_preview")


def invoice_form(invoice: Invoice, **changes: object) -> dict[str, object]:
    fields = {
        "customer": invoice.customer_id,
        "number": invoice.number,
        "issue_date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "currency": invoice.currency,
        "total": str(invoice.total),
        "amount_paid": str(invoice.amount_paid),
        "status": invoice.status,
        "payment_url": invoice.payment_url,
    }
    return {**fields, **changes}


@pytest.mark.django_db
def test_staff_set_a_customers_language_on_its_page(staff_client):
    customer = CustomerFactory()
    url = reverse("admin:invoicing_customer_change", args=[customer.pk])
    page = staff_client.get(url).content.decode()
    assert '<option value="de">German</option>' in page
    form = {"name": customer.name, "email": customer.email, "reference": "", "language": "de"}
    assert staff_client.post(url, form).status_code == 302
    assert Customer.objects.get(pk=customer.pk).language == "de"
    listed = staff_client.get(reverse("admin:invoicing_customer_changelist") + "?language__exact=de")
    assert list(listed.context["cl"].result_list) == [Customer.objects.get(pk=customer.pk)]


@pytest.mark.django_db
def test_a_pay_link_that_is_not_https_is_refused_on_its_field_naming_value_and_rule(staff_client):
    invoice = InvoiceFactory()
    url = reverse("admin:invoicing_invoice_change", args=[invoice.pk])
    response = staff_client.post(url, invoice_form(invoice, payment_url="http://pay.example/1"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["payment_url"]
    assert errors == [
        "payment_url='http://pay.example/1' is not a pay link: an https:// URL, or http:// on a loopback "
        "host (localhost, 127.0.0.1, [::1])."
    ]
    response = staff_client.post(url, invoice_form(invoice, payment_url="https://pay.example/1"))
    assert response.status_code == 302
    assert Invoice.objects.get(pk=invoice.pk).payment_url == "https://pay.example/1"


@pytest.mark.django_db
def test_a_german_template_previews_in_german_for_the_chosen_customer(staff_client):
    customer = CustomerFactory(name="Müller GmbH", language="de")
    InvoiceFactory(
        customer=customer,
        number="RE-1",
        due_date=timezone.localdate() - timedelta(days=3),
        total=Decimal("1234.50"),
        payment_url="https://pay.example/RE-1",
    )
    template = ReminderTemplate.objects.get(level=1, language="de")
    form = {
        "level": 1,
        "language": "de",
        "name": template.name,
        "subject": template.subject,
        "text_body": template.text_body,
        "html_body": template.html_body,
        "preview_customer": customer.pk,
    }
    response = staff_client.post(PREVIEW_URL, form)
    [email] = response.context["emails"]
    assert email.subject == "Zahlungserinnerung: Rechnung RE-1 ist seit 3 Tagen überfällig"
    assert "Offener Betrag: 1.234,50\xa0€" in email.text
    assert "Online bezahlen: https://pay.example/RE-1" in email.text
    assert "Level 1 in German for <strong>Müller GmbH</strong>" in response.content.decode()
    # The same customer previewed with the English template reads English.
    english = ReminderTemplate.objects.get(level=1, language="en")
    form.update(
        language="en", subject=english.subject, text_body=english.text_body, html_body=english.html_body
    )
    [email] = staff_client.post(PREVIEW_URL, form).context["emails"]
    assert "Balance due: €1,234.50" in email.text


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_ships_german_and_pay_links_and_leaves_an_edited_template_alone():
    statements = importlib.import_module("reminders.migrations.0009_statement_templates")
    executor = MigrationExecutor(connection)
    executor.migrate([("reminders", "0011_reminder_template_language")])
    # The English templates as 0009 left them: a transactional test before this one may have emptied
    # the table its data migrations filled.
    shipped = importlib.import_module("reminders.migrations.0003_default_templates")
    for level, name, _ in shipped.DEFAULTS:
        ReminderTemplate.objects.get_or_create(
            level=level,
            language="en",
            defaults={
                "name": name,
                "subject": statements.SUBJECTS[level],
                "text_body": statements.text_body(level),
                "html_body": statements.html_body(level),
            },
        )
    ReminderTemplate.objects.filter(language="en", level=2).update(
        text_body="Our words, {{ customer.name }}."
    )
    assert not ReminderTemplate.objects.filter(language="de").exists()
    assert ReminderTemplate.objects.get(level=1).text_body == statements.text_body(1)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    english = {t.level: t for t in ReminderTemplate.objects.filter(language="en")}
    assert "{{ invoice.payment_url }}" in english[1].text_body
    assert "{{ invoice.due_on }}" in english[3].html_body
    assert english[2].text_body == "Our words, {{ customer.name }}."
    german = dict(ReminderTemplate.objects.filter(language="de").values_list("level", "name"))
    assert german == {1: "Zahlungserinnerung", 2: "Mahnung", 3: "Letzte Mahnung"}
