"""A customer's language and an invoice's pay link in what is sent (docs/SPEC.md §13): templates per level
and language, falling back to the default language; dates and amounts written for the language (Babel);
the pay link in the shipped templates, for one invoice and on each row of a statement. Sent for real,
through the sender into Django's in-memory mail backend."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from reminders.models import ReminderTemplate
from reminders.outbox import reminders_send
from reminders.rendering import TemplateSet, TemplateSource
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.reminders.factories import NotificationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.REMINDER_BCC = []


def reminded(customer, number: str, *, level: int = 1, days: int = 12, **invoice: object):
    due = timezone.localdate() - timedelta(days=days)
    made = InvoiceFactory(customer=customer, number=number, due_date=due, **invoice)
    NotificationFactory(invoice=made, level=level, threshold_days=1, days_overdue=days, run_id=0)
    return made


def sent_one():
    reminders_send()
    [message] = mail.outbox
    html = next(content for content, kind in message.alternatives if kind == "text/html")
    return message, html


def german_date(day: date) -> str:
    months = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober"]
    months += ["November", "Dezember"]
    return f"{day.day}. {months[day.month - 1]} {day.year}"


def test_a_german_customers_reminder_reads_german_with_german_dates_and_amounts():
    customer = CustomerFactory(name="Müller GmbH", language="de")
    invoice = reminded(customer, "RE-2026-7", total=Decimal("1234.50"))
    message, html = sent_one()
    assert message.subject == "Zahlungserinnerung: Rechnung RE-2026-7 ist seit 12 Tagen überfällig"
    assert message.body.startswith("Sehr geehrte Damen und Herren,\n")
    assert f"fällig am {german_date(invoice.due_date)}" in message.body
    assert "Offener Betrag: 1.234,50\xa0€" in message.body
    assert "Mit freundlichen Grüßen" in message.body
    assert "Offener Betrag: <strong>1.234,50\xa0€</strong>" in html
    assert "Dear" not in message.body + html
    # Babel keeps an amount and its currency together with a no-break space; a subject is one plain line.


def test_a_german_final_notice_is_a_letzte_mahnung_with_the_amount_in_its_subject():
    customer = CustomerFactory(language="de")
    reminded(customer, "RE-9", level=3, currency="CHF", total=Decimal("98765.40"))
    message, _ = sent_one()
    assert message.subject == "Letzte Mahnung: Rechnung RE-9 über 98.765,40 CHF"
    assert "Dies ist unsere letzte Mahnung." in message.body


def test_an_english_customer_gets_english_dates_and_amounts():
    customer = CustomerFactory(name="Acme", language="en")
    invoice = reminded(customer, "INV-1", total=Decimal("1234.50"))
    message, _ = sent_one()
    assert message.subject == "Friendly reminder: invoice INV-1 is 12 days overdue"
    assert f"due on {invoice.due_date:%B} {invoice.due_date.day}, {invoice.due_date.year}" in message.body
    assert "Balance due: €1,234.50" in message.body


def test_a_language_without_templates_is_written_in_the_default_language():
    ReminderTemplate.objects.filter(language="de").delete()
    reminded(CustomerFactory(language="de"), "INV-2", total=Decimal("1234.50"))
    message, _ = sent_one()
    assert message.subject.startswith("Friendly reminder: invoice INV-2")
    assert "Balance due: €1,234.50" in message.body  # written for the template's language


def test_a_german_statement_lists_each_invoice_in_german_with_the_pay_links_it_has():
    customer = CustomerFactory(language="de")
    reminded(customer, "RE-1", level=2, payment_url="https://pay.example/RE-1")
    reminded(customer, "RE-2", level=1, days=20, currency="JPY", total=Decimal("5000"))
    message, html = sent_one()
    assert message.subject == "Mahnung: 2 überfällige Rechnungen"
    assert "- Rechnung RE-1, fällig am " in message.body
    assert "(online bezahlen: https://pay.example/RE-1)" in message.body
    assert "- Rechnung RE-2, fällig am " in message.body
    assert "seit 20 Tagen überfällig: 5.000\xa0¥" in message.body
    assert message.body.count("online bezahlen") == 1
    assert '(online bezahlen: <a href="https://pay.example/RE-1">https://pay.example/RE-1</a>)' in html


def test_a_single_invoice_shows_its_pay_link_in_text_and_html_only_when_it_has_one():
    reminded(CustomerFactory(), "INV-7", payment_url="https://pay.example/INV-7?a=1&b=2")
    message, html = sent_one()
    assert "Pay online: https://pay.example/INV-7?a=1&b=2\n" in message.body
    assert '<a href="https://pay.example/INV-7?a=1&amp;b=2">' in html
    mail.outbox.clear()
    reminded(CustomerFactory(), "INV-8")
    message, html = sent_one()
    assert "Pay online" not in message.body
    assert "<a " not in html


def test_templates_of_a_language_serve_its_levels_and_others_fall_back_to_the_default():
    templates = TemplateSet(
        [
            TemplateSource(1, "en 1", "x", language="en"),
            TemplateSource(3, "en 3", "x", language="en"),
            TemplateSource(2, "de 2", "x", language="de"),
        ],
        default="en",
    )
    chosen = {
        (level, language): str(templates.for_level(level, language).subject.source)
        for level in (1, 2, 3, 4)
        for language in ("en", "de", "fr")
    }
    assert chosen == {
        (1, "en"): "en 1",
        (2, "en"): "en 1",
        (3, "en"): "en 3",
        (4, "en"): "en 3",
        (1, "de"): "de 2",
        (2, "de"): "de 2",
        (3, "de"): "de 2",
        (4, "de"): "de 2",
        (1, "fr"): "en 1",
        (2, "fr"): "en 1",
        (3, "fr"): "en 3",
        (4, "fr"): "en 3",
    }
    assert templates.for_level(1, "de").language == "de"


def courtesy(customer, number: str, *, days_before: int):
    due = timezone.localdate() + timedelta(days=days_before)
    made = InvoiceFactory(customer=customer, number=number, due_date=due)
    NotificationFactory(invoice=made, level=1, threshold_days=-3, days_overdue=-days_before, run_id=0)
    return made


@pytest.mark.parametrize(
    ("language", "subject", "sentence"),
    [
        ("en", "Friendly reminder: invoice C-1 is due in 2 days", "invoice C-1, due on"),
        ("de", "Zahlungserinnerung: Rechnung C-1 ist in 2 Tagen fällig", "wir möchten Sie freundlich"),
    ],
)
def test_a_courtesy_reminder_before_the_due_date_says_when_it_falls_due(language, subject, sentence):
    """docs/SPEC.md §13: a threshold of -3 reminds before the due date, in words, never "-2 days"."""
    courtesy(CustomerFactory(language=language), "C-1", days_before=2)
    message, html = sent_one()
    assert message.subject == subject
    assert sentence in message.body
    assert "-2" not in message.subject + message.body + html
    assert "überfällig" not in message.body


@pytest.mark.parametrize(
    ("language", "subject", "lines"),
    [
        ("en", "Friendly reminder: 2 invoices due shortly", ["due today", "due in 1 day", "fall due"]),
        ("de", "Zahlungserinnerung: 2 bald fällige Rechnungen", ["heute fällig", "in 1 Tag fällig"]),
    ],
)
def test_a_courtesy_statement_lists_what_falls_due(language, subject, lines):
    customer = CustomerFactory(language=language)
    courtesy(customer, "C-1", days_before=0)
    courtesy(customer, "C-2", days_before=1)
    message, _ = sent_one()
    assert message.subject == subject
    for line in lines:
        assert line in message.body
    assert "overdue" not in message.body
