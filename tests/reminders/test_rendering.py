"""Reminder emails from the templates of their level (SPEC §10)."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

import pytest
from django.template import Context, Engine
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from reminders.models import ReminderTemplate
from reminders.outbox import current_templates
from reminders.rendering import (
    SAMPLE_ROW,
    TemplateSet,
    TemplateSource,
    render,
    subject_line,
    template_errors,
    text_engine,
)


def row(**changes) -> dict:
    return {**SAMPLE_ROW, **changes}


@pytest.mark.django_db
def test_shipped_templates_are_friendly_firm_and_final_notice():
    names = list(ReminderTemplate.objects.filter(language="en").values_list("level", "name"))
    assert names == [(1, "Friendly reminder"), (2, "Firm reminder"), (3, "Final notice")]


@pytest.mark.django_db
def test_shipped_german_templates_are_zahlungserinnerung_mahnung_and_letzte_mahnung():
    names = list(ReminderTemplate.objects.filter(language="de").values_list("level", "name"))
    assert names == [(1, "Zahlungserinnerung"), (2, "Mahnung"), (3, "Letzte Mahnung")]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("level", "opening"), [(1, "Friendly reminder"), (2, "Second reminder"), (3, "Final")]
)
def test_each_level_renders_its_template(level, opening):
    email = render(current_templates().for_level(level), row(level=level, days_overdue=12))
    assert email.subject.startswith(opening)
    assert "INV-000123" in email.text
    assert "€1,234.50" in email.text
    assert "January 31, 2026" in email.text
    assert "Dear Müller & Söhne GmbH" in email.text


@pytest.mark.django_db
def test_levels_above_the_highest_template_use_the_final_notice():
    assert current_templates().for_level(7).level == 3


def test_level_below_every_template_uses_the_lowest():
    templates = TemplateSet([TemplateSource(2, "two", "two"), TemplateSource(4, "four", "four")])
    assert [templates.for_level(level).level for level in (1, 2, 3, 4, 9)] == [2, 2, 2, 4, 4]


def test_balance_is_shown_in_the_currencys_minor_units():
    templates = TemplateSet([TemplateSource(1, "{{ balance }}", "{{ invoice.total }} / {{ balance }}")])
    email = render(
        templates.for_level(1), row(currency="JPY", total=Decimal("123457"), balance_due=Decimal("5"))
    )
    assert email.subject == "¥5"
    assert email.text == "¥123,457 / ¥5"


def test_context_holds_customer_invoice_days_level_and_threshold():
    source = (
        "{{ customer.name }}|{{ customer.email }}|{{ invoice.number }}|{{ invoice.due_date|date:'Y-m-d' }}|"
        "{{ invoice.currency }}|{{ days_overdue }}|{{ level }}|{{ threshold_days }}"
    )
    email = render(TemplateSet([TemplateSource(1, "s", source)]).for_level(1), row())
    assert email.text == "Müller & Söhne GmbH|billing@customer.example|INV-000123|2026-01-31|EUR|12|1|7"


def test_html_is_autoescaped_and_text_is_not():
    source = TemplateSource(1, "{{ customer.name }}", "{{ customer.name }}", "<p>{{ customer.name }}</p>")
    email = render(TemplateSet([source]).for_level(1), row(customer_name="<b>Tom & Jerry</b>"))
    assert email.html == "<p>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</p>"
    assert email.text == "<b>Tom & Jerry</b>"
    assert email.subject == "<b>Tom & Jerry</b>"


def test_empty_html_body_sends_plain_text_only():
    email = render(TemplateSet([TemplateSource(1, "s", "t", "  ")]).for_level(1), row())
    assert email.html == ""


@given(st.text())
def test_subject_is_one_line_of_printable_text_whatever_the_input(text):
    subject = subject_line(text)
    assert not any(char in subject for char in "\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
    assert subject == subject.strip()
    assert len(subject) <= 250


@given(name=st.text(alphabet=st.sampled_from("ab \r\n\t\x00:")))
def test_customer_name_cannot_break_the_subject_line(name):
    templates = TemplateSet([TemplateSource(1, "Reminder for {{ customer.name }}", "x")])
    subject = render(templates.for_level(1), row(customer_name=name)).subject
    assert "\n" not in subject
    assert "\r" not in subject


def test_valid_template_has_no_errors():
    assert template_errors("Dear {{ customer.name }},\n{% if days_overdue > 30 %}Final{% endif %}") == []


def test_syntax_error_names_its_line():
    [error] = template_errors("Dear {{ customer.name }},\n\n{% if %}late{% endif %}")
    assert error.startswith("Line 3: ")
    assert "if tag" in error


def test_unclosed_tag_names_its_line():
    [error] = template_errors("first\n{% for x in y %}\nno end")
    assert error.startswith("Line 2: ")


def test_unknown_filter_is_an_error():
    [error] = template_errors("{{ balance|shout }}")
    assert "Invalid filter: 'shout'" in error


def test_include_of_a_missing_file_is_found_on_save_not_at_sending_time():
    [error] = template_errors("{% include 'letterhead.html' %}")
    assert "TemplateDoesNotExist" in error


def test_stored_template_with_a_syntax_error_stops_the_sender_naming_its_level():
    with pytest.raises(ValueError, match="template of level 2 is invalid"):
        TemplateSet([TemplateSource(1, "ok", "ok"), TemplateSource(2, "{% if %}", "x")])


def statement_rows(level: int, earlier: int = 0) -> list[dict]:
    return [
        row(
            number="INV-1",
            level=level,
            currency="EUR",
            balance_due=Decimal("100.00"),
            earlier_reminders=earlier,
        ),
        row(number="INV-2", level=1, currency="EUR", balance_due=Decimal("50.50"), earlier_reminders=earlier),
        row(number="INV-3", level=1, currency="USD", balance_due=Decimal("20.00"), earlier_reminders=earlier),
    ]


def words(text: str) -> list[str]:
    """The words a reader sees, whatever the markup: tags dropped, entities and spaces normalised."""
    import html
    import re

    shown = re.sub(r"<[^>]+>", "", re.sub(r"<br\s*/?>", " ", text))
    return html.unescape(shown).replace("- ", " ").split()


@pytest.mark.django_db
@pytest.mark.parametrize("level", [1, 2, 3])
@pytest.mark.parametrize("statement", [False, True])
def test_shipped_text_and_html_say_the_same(level, statement):
    from reminders.rendering import render_context, statement_context

    rows = statement_rows(level) if statement else [row(level=level)]
    others = [
        {
            "number": "OLD-9",
            "due_date": SAMPLE_ROW["due_date"],
            "days_overdue": 40,
            "currency": "EUR",
            "balance_due": Decimal("9.99"),
        }
    ]
    context = statement_context(customer_name="Acme", customer_email="a@b.example", rows=rows, others=others)
    email = render_context(current_templates().for_level(level), context)
    assert words(email.text) == words(email.html)


@pytest.mark.django_db
def test_shipped_statement_lists_each_invoice_totals_per_currency_and_the_others_apart():
    from reminders.rendering import render_context, statement_context

    others = [
        {
            "number": "OLD-9",
            "due_date": SAMPLE_ROW["due_date"],
            "days_overdue": 40,
            "currency": "EUR",
            "balance_due": Decimal("9.99"),
        }
    ]
    context = statement_context(
        customer_name="Acme", customer_email="a@b.example", rows=statement_rows(2), others=others
    )
    email = render_context(current_templates().for_level(2), context)
    for shown in ("INV-1", "INV-2", "INV-3", "€150.50", "$20.00", "OLD-9", "€9.99"):
        assert shown in email.text
    assert email.text.index("OLD-9") > email.text.index("Total due")
    assert email.subject == "Second reminder: 3 invoices overdue"


@pytest.mark.django_db
@pytest.mark.parametrize("level", [2, 3])
@pytest.mark.parametrize("statement", [False, True])
def test_firm_and_final_notices_speak_of_earlier_reminders_only_when_one_was_sent(level, statement):
    from reminders.rendering import render_context, statement_context

    def rendered(earlier: int) -> str:
        rows = statement_rows(level, earlier) if statement else [row(level=level, earlier_reminders=earlier)]
        context = statement_context(customer_name="Acme", customer_email="a@b.example", rows=rows)
        email = render_context(current_templates().for_level(level), context)
        return email.text + email.html

    assert "earlier reminder" not in rendered(0)
    assert "earlier reminder" in rendered(2)


@pytest.mark.parametrize(
    ("days", "text"), [(12, "12 days overdue"), (0, "due today"), (-2, "due in 2 days"), (-1, "due in 1 day")]
)
def test_a_template_may_say_due_in_words_before_and_after_the_due_date(days, text):
    """docs/SPEC.md §13: a courtesy reminder before the due date reads "due in 2 days", not "-2 days"."""
    source = TemplateSource(1, "{{ due }}", "{% for r in reminders %}{{ r.due }}{% endfor %}")
    email = render(TemplateSet([source]).for_level(1), row(days_overdue=days))
    assert (email.subject, email.text) == (text, text)


@settings(max_examples=60, deadline=None)
@given(
    value=st.one_of(st.dates(), st.datetimes(timezones=st.just(UTC))),
    arg=st.sampled_from([None, "j F Y", "D, d M Y", "N j, Y", "l jS \\o\\f F"]),
    language=st.sampled_from(["en-us", "de", "fr"]),
)
def test_the_engines_date_filter_writes_what_djangos_writes(value, arg, language):
    """The templates' ``date`` filter remembers what it formatted: the same text as Django's own, in
    every language, for dates and for datetimes (which it formats afresh)."""
    from django.template import defaultfilters

    from reminders import template_filters

    with translation.override(language):
        assert template_filters.date(value, arg) == defaultfilters.date(value, arg)
        assert template_filters.date(value, arg) == defaultfilters.date(value, arg)  # remembered
        source = "{{ value|date:arg }}" if arg else "{{ value|date }}"
        djangos = Engine(autoescape=False).from_string(source)
        ours = text_engine().from_string(source)
        context = {"value": value, "arg": arg}
        assert ours.render(Context(context)) == djangos.render(Context(context))
