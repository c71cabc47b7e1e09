"""A planned template (``reminders.template_plan``) writes exactly what Django's engine writes, for the
shipped templates and for templates using what staff may write, whatever the values."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.template import Context
from django.utils.safestring import mark_safe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reminders.outbox import current_templates
from reminders.rendering import html_engine, statement_context, text_engine
from reminders.template_plan import plan

# Text a customer's name, an invoice number or a pay link may hold, with what HTML escapes.
awkward_text = st.text(alphabet=st.sampled_from("aZ 09&<>\"'üß€\n-/"), max_size=12)


@st.composite
def invoice_rows(draw: Any) -> dict[str, Any]:
    return {
        "number": draw(awkward_text),
        "due_date": date(2026, 1, 1) + timedelta(days=draw(st.integers(-400, 400))),
        "currency": draw(st.sampled_from(["EUR", "USD", "JPY", "CHF"])),
        "total": Decimal(draw(st.integers(0, 10**9))) / 100,
        "balance_due": Decimal(draw(st.integers(0, 10**9))) / 100,
        "days_overdue": draw(st.integers(-30, 4000)),
        "level": draw(st.integers(1, 3)),
        "threshold_days": draw(st.integers(-30, 90)),
        "earlier_reminders": draw(st.integers(0, 3)),
        "payment_url": draw(st.sampled_from(["", "https://pay.example/a?b=1&c=<2>"])),
    }


@st.composite
def statement_contexts(draw: Any) -> dict[str, Any]:
    return statement_context(
        customer_name=draw(awkward_text),
        customer_email=draw(st.sampled_from(["billing@customer.example", "jörg@example.test"])),
        rows=draw(st.lists(invoice_rows(), min_size=1, max_size=4)),
        others=draw(st.lists(invoice_rows(), max_size=3)),
        language=draw(st.sampled_from(["en", "de"])),
    )


def both_ways(template: Any, values: dict[str, Any], *, html: bool) -> tuple[str, str]:
    return (
        str(template.render(Context(values, autoescape=html))),
        plan(template)(Context(values, autoescape=html)),
    )


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=statement_contexts())
def test_the_shipped_templates_planned_write_what_django_writes(values):
    templates = current_templates()
    shipped = [template for by_level in templates.by_language.values() for template in by_level]
    assert len(shipped) >= 6  # every level, in English and German
    for template in shipped:
        for part, html in ((template.subject, False), (template.text, False), (template.html, True)):
            if part is not None:
                django, planned = both_ways(part, values, html=html)
                assert planned == django


# What staff may write beyond the shipped templates: every way a variable is looked up and written,
# the loop's variables, conditions, filters, and tags the plan leaves to Django.
STAFF_TEMPLATES = [
    "{{ customer.name }} {{ customer.missing }} {{ nothing.at.all }} {{ 'literal' }} {{ 12 }}",
    "{{ amount }} {{ ratio }} {{ flag }} {{ none }} {{ day }} {{ moment }} {{ safe }} {{ call }}"
    " {{ items.0 }}",
    "{{ amount|floatformat:2 }} {{ day|date:'Y-m-d' }} {{ number|upper }} {{ count|pluralize }}",
    "{% for r in reminders %}{{ forloop.counter }}/{{ forloop.revcounter0 }} {{ r.invoice.number }}"
    "{% if forloop.first %} first{% elif forloop.last %} last{% else %} mid{% endif %}"
    "{% for t in totals %}[{{ forloop.parentloop.counter }}.{{ forloop.counter }} {{ t.amount }}]"
    "{% endfor %}"
    "{% empty %}none{% endfor %}",
    "{% for r in reminders reversed %}{{ r.days_overdue }}{% if r.days_overdue > 30 %}!{% endif %} "
    "{% endfor %}",
    "{% for a, b in pairs %}{{ a }}={{ b }};{% endfor %}{% for x in nothing %}{% empty %}empty{% endfor %}",
    "{% with first=reminders.0 %}{{ first.balance }}{% endwith %} {% firstof missing number %}"
    " {% autoescape off %}{{ number }}{% endautoescape %} {% cycle 'a' 'b' %} {{ count|add:1 }}",
    "{% if nothing_now %}truthy{% else %}called: empty{% endif %}",
    "{% for x in listed %}{{ x }}{% endfor %}",
    "{% if count and not flag or number == 'x' %}yes{% endif %}"
    "{% if missing.key %}no{% else %}else{% endif %}",
    "{% for c in number %}{{ c }}{% endfor %}|{% for r in generator %}{{ r }}{% endfor %}",
]


@pytest.mark.parametrize("source", STAFF_TEMPLATES)
@settings(max_examples=25, deadline=None)
@given(values=statement_contexts(), number=awkward_text, count=st.integers(-3, 3), flag=st.booleans())
def test_what_staff_may_write_planned_writes_what_django_writes(source, values, number, count, flag):
    more = {
        "amount": Decimal("1234.50"),
        "ratio": 0.5,
        "flag": flag,
        "none": None,
        "day": date(2026, 3, 1),
        "moment": __import__("datetime").datetime(2026, 3, 1, 12, 30),
        "safe": mark_safe("<b>bold</b>"),
        "call": lambda: "called <now>",
        "nothing_now": lambda: "",
        "listed": lambda: ["a", "<b>"],
        "items": ["<first>", "second"],
        "number": number,
        "count": count,
        "pairs": [("a", 1), ("<b>", "&")],
        "generator": (letter for letter in "xyz"),
    }
    for engine, html in ((text_engine(), False), (html_engine(), True)):
        template = engine.from_string(source)
        context = {**values, **more}
        django = str(template.render(Context({**context, "generator": iter("xyz")}, autoescape=html)))
        planned = plan(template)(Context({**context, "generator": iter("xyz")}, autoescape=html))
        assert planned == django


def test_a_failing_template_fails_as_django_fails_it_with_its_line():
    template = text_engine().from_string("Dear {{ name }},\n{% for a, b in pairs %}{{ a }}{% endfor %}")
    values = {"name": "x", "pairs": [("a", 1, 2)]}
    with pytest.raises(ValueError, match="Need 2 values to unpack") as django:
        template.render(Context(values, autoescape=False))
    with pytest.raises(ValueError, match="Need 2 values to unpack") as planned:
        plan(template)(Context(values, autoescape=False))
    assert str(planned.value) == str(django.value)
    assert planned.value.template_debug["line"] == 2  # type: ignore[attr-defined]
