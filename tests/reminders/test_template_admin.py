"""Reminder templates in the admin (SPEC §10): validated on save, each error naming its field and line,
and previewed unsaved against a customer's open invoices."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from html import unescape

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from reminders.models import ReminderTemplate
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.reminders.factories import NotificationFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:reminders_remindertemplate_changelist")
PREVIEW_URL = reverse("admin:reminders_remindertemplate_preview")


def change_url(template: ReminderTemplate) -> str:
    return reverse("admin:reminders_remindertemplate_change", args=[template.pk])


def level(number: int, language: str = "en") -> ReminderTemplate:
    return ReminderTemplate.objects.get(level=number, language=language)


def posted(template: ReminderTemplate, **changes: object) -> dict[str, object]:
    fields = {
        "level": template.level,
        "language": template.language,
        "name": template.name,
        "subject": template.subject,
        "text_body": template.text_body,
        "html_body": template.html_body,
        "preview_customer": "",
    }
    return {**fields, **changes}


def field_errors(response, name: str) -> list[str]:
    return list(response.context["adminform"].form.errors.get(name, []))


def srcdocs(html: str) -> list[str]:
    return [
        unescape(value)
        for value in re.findall(r'<iframe class="preview-html" sandbox="" [^>]*srcdoc="([^"]*)"', html)
    ]


def test_templates_are_listed_by_level(staff_client):
    response = staff_client.get(LIST_URL)
    assert response.status_code == 200
    listed = [(t.language, t.level, t.name) for t in response.context["cl"].result_list]
    assert listed == [
        ("de", 1, "Zahlungserinnerung"),
        ("de", 2, "Mahnung"),
        ("de", 3, "Letzte Mahnung"),
        ("en", 1, "Friendly reminder"),
        ("en", 2, "Firm reminder"),
        ("en", 3, "Final notice"),
    ]


def test_saving_a_changed_template_changes_what_is_sent(staff_client):
    template = level(2)
    text = "Dear {{ customer.name }},\n\nplease pay {{ balance }} for {{ invoice.number }}.\n"
    response = staff_client.post(change_url(template), posted(template, text_body=text))
    assert response.status_code == 302
    assert level(2).text_body == text


def test_syntax_error_in_the_text_body_is_refused_naming_the_field_and_its_line(staff_client):
    template = level(1)
    text = "Dear {{ customer.name }},\n\n{% if balance %}\nplease pay {{ balance }}.\n{% endfi %}\n"
    response = staff_client.post(change_url(template), posted(template, text_body=text))
    assert response.status_code == 200
    [error] = field_errors(response, "text_body")
    assert error.startswith("Text body: Line 5: ")
    assert "endfi" in error
    assert level(1).text_body == template.text_body


def test_syntax_error_in_the_html_body_is_refused_naming_the_field_and_its_line(staff_client):
    template = level(3)
    html = "<p>Dear {{ customer.name }},</p>\n<p>{{ balance|no_such_filter }}</p>\n"
    response = staff_client.post(change_url(template), posted(template, html_body=html))
    [error] = field_errors(response, "html_body")
    assert error.startswith("HTML body: Line 2: ")
    assert "no_such_filter" in error


def test_syntax_error_in_the_subject_is_refused_naming_the_field(staff_client):
    template = level(1)
    response = staff_client.post(
        change_url(template), posted(template, subject="Invoice {% if invoice.number %}")
    )
    [error] = field_errors(response, "subject")
    assert error.startswith("Subject: Line 1: ")


def test_a_subject_with_a_line_break_is_refused(staff_client):
    template = level(1)
    subject = "Reminder\nBcc: everyone@example.test"
    response = staff_client.post(change_url(template), posted(template, subject=subject))
    assert field_errors(response, "subject") == ["Subject: a subject is one line; remove the line break."]
    assert level(1).subject == template.subject


def test_a_new_level_can_be_added(staff_client):
    response = staff_client.post(
        reverse("admin:reminders_remindertemplate_add"),
        posted(level(1), level=4, name="Collections", subject="Collections: {{ invoice.number }}"),
    )
    assert response.status_code == 302
    assert level(4).name == "Collections"


@pytest.fixture
def acme():
    customer = CustomerFactory(name="Acme & Sons", email="ap@acme.example")
    InvoiceFactory(customer=customer, number="INV-A1", due_date=date(2026, 1, 10), total=Decimal("250.00"))
    reminded = InvoiceFactory(customer=customer, number="INV-A2", due_date=date(2026, 2, 1), currency="JPY")
    NotificationFactory(invoice=reminded, threshold_days=7, days_overdue=9)
    InvoiceFactory(customer=customer, number="INV-PAID", status="paid", amount_paid=Decimal("100.00"))
    InvoiceFactory(number="INV-OTHER")
    return customer


def preview(client, template: ReminderTemplate, **changes: object):
    response = client.post(PREVIEW_URL, posted(template, **changes))
    assert response.status_code == 200
    return response


def test_preview_renders_the_unsaved_template_for_each_open_invoice_of_the_customer(staff_client, acme):
    template = level(2)
    subject = "About {{ invoice.number }}: {{ balance }}"
    html = "<p>{{ customer.name }} owes {{ balance }}</p>"
    response = preview(staff_client, template, subject=subject, html_body=html, preview_customer=acme.pk)
    emails = response.context["emails"]
    assert [email.subject for email in emails] == ["About INV-A1: €250.00", "About INV-A2: ¥100"]
    assert all(email.text.startswith("Dear Acme & Sons,") for email in emails)
    assert srcdocs(response.content.decode()) == [
        "<p>Acme &amp; Sons owes €250.00</p>",
        "<p>Acme &amp; Sons owes ¥100</p>",
    ]
    assert "Level 2 in English for <strong>Acme &amp; Sons</strong>" in response.content.decode()
    assert level(2).subject == template.subject


def test_preview_html_is_escaped_and_cannot_run_script(staff_client):
    customer = CustomerFactory(name="<script>alert(1)</script>\r\nBcc: x@evil.example")
    InvoiceFactory(customer=customer)
    template = level(1)
    html = "<p>{{ customer.name }}</p>"
    response = preview(staff_client, template, html_body=html, preview_customer=customer.pk)
    page = response.content.decode()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    [email] = response.context["emails"]
    assert "\n" not in email.subject
    assert "\r" not in email.subject
    [srcdoc] = srcdocs(page)
    assert srcdoc.startswith("<p>&lt;script&gt;alert(1)&lt;/script&gt;")


def test_preview_without_a_customer_uses_a_sample_invoice(staff_client):
    response = preview(staff_client, level(1))
    [email] = response.context["emails"]
    assert "INV-000123" in email.subject
    assert "sample invoice" in response.content.decode()


def test_preview_of_a_template_with_an_error_names_its_line_and_renders_nothing(staff_client, acme):
    text = "Hello\n{% for x in %}\n"
    response = preview(staff_client, level(1), text_body=text, preview_customer=acme.pk)
    assert "emails" not in response.context
    assert "Text body: Line 2: " in response.content.decode()


def test_preview_page_may_be_framed_by_the_admin_only(staff_client):
    response = preview(staff_client, level(1))
    assert response["X-Frame-Options"] == "SAMEORIGIN"


@pytest.fixture
def clerk(client, django_user_model):
    user = django_user_model.objects.create_user(username="clerk", password="pw-clerk-1234", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_remindertemplate"))
    client.force_login(user)
    return user


def test_a_clerk_who_may_only_view_templates_can_neither_save_nor_preview(client, clerk):
    template = level(1)
    page = client.get(change_url(template)).content.decode()
    assert "Renders the template as entered" not in page
    assert "preview_customer" not in page
    assert client.post(change_url(template), posted(template, name="Changed")).status_code == 403
    assert client.post(PREVIEW_URL, posted(template)).status_code == 403
    assert level(1).name == "Friendly reminder"


def test_change_permission_allows_saving_and_previewing(client, clerk):
    clerk.user_permissions.add(Permission.objects.get(codename="change_remindertemplate"))
    template = level(1)
    assert client.post(PREVIEW_URL, posted(template)).status_code == 200
    assert client.post(change_url(template), posted(template, name="Changed")).status_code == 302
    assert level(1).name == "Changed"


def test_preview_without_permission_to_view_invoices_shows_a_sample_not_the_customer_invoices(
    client, clerk, acme
):
    clerk.user_permissions.add(Permission.objects.get(codename="change_remindertemplate"))
    response = client.post(PREVIEW_URL, posted(level(1), preview_customer=acme.pk))
    [email] = response.context["emails"]
    assert "INV-A1" not in email.text
    assert "INV-000123" in email.text


def test_change_form_offers_a_customer_search_and_a_preview_button_into_its_frame(staff_client):
    page = staff_client.get(change_url(level(1))).content.decode()
    assert f'formaction="{PREVIEW_URL}" formtarget="template-preview"' in page
    assert '<iframe name="template-preview"' in page
    assert 'data-model-name="invoice" data-field-name="customer"' in page
