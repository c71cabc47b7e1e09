"""Reminder emails from the templates of their level (SPEC §10): subject, plain text and optional HTML.

Templates are written in the Django template language and rendered with a fixed context (``context_for``);
HTML is autoescaped, subject and text are not (they are not HTML). A subject never carries a control
character or a line break, whatever the customer's name holds, so nothing can reach another header.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache, cached_property
from typing import Any

from django.conf import settings
from django.template import Context, Engine, Template, TemplateSyntaxError

from reminders.locales import due_in_words, long_date, money_in
from reminders.rules import plain_text
from reminders.template_plan import Plan, plan

_SPACES = re.compile(r"\s+")
SUBJECT_MAX_LENGTH = 250

# The context a template sees, with sample values for validation and previews.
SAMPLE_ROW: dict[str, Any] = {
    "customer_name": "Müller & Söhne GmbH",
    "customer_email": "billing@customer.example",
    "number": "INV-000123",
    "due_date": date(2026, 1, 31),
    "currency": "EUR",
    "total": Decimal("1500.00"),
    "balance_due": Decimal("1234.50"),
    "days_overdue": 12,
    "level": 1,
    "threshold_days": 7,
    "earlier_reminders": 0,
    "payment_url": "https://pay.example/INV-000123",
}


# Django's filters and tags, with a few of them faster (the same text).
_FILTERS = ["reminders.template_filters"]


@cache
def text_engine() -> Engine:
    # debug=True keeps the line of a syntax error (``template_debug``) for the admin's form error.
    return Engine(autoescape=False, debug=True, string_if_invalid="", builtins=_FILTERS)


@cache
def html_engine() -> Engine:
    return Engine(autoescape=True, debug=True, string_if_invalid="", builtins=_FILTERS)


@dataclass(frozen=True)
class TemplateSource:
    level: int
    subject: str
    text_body: str
    html_body: str = ""
    language: str = ""  # empty: the default language (LANGUAGE_CODE)


# Used only when staff deleted every template; the shipped ones are in the data migration.
FALLBACK_TEMPLATE = TemplateSource(
    level=1,
    subject="Payment reminder: invoice {{ invoice.number }} is {{ due }}",
    text_body=(
        "Dear {{ customer.name }},\n\nour records show that these invoices are overdue:\n"
        "{% for r in reminders %}{{ r.invoice.number }}, due on {{ r.invoice.due_date }}, "
        "{{ r.due }}: {{ r.balance }}\n{% endfor %}"
    ),
)


@dataclass(frozen=True)
class CompiledTemplate:
    level: int
    subject: Template
    text: Template
    html: Template | None
    language: str = ""

    @classmethod
    def compile(cls, source: TemplateSource) -> CompiledTemplate:
        html = html_engine().from_string(source.html_body) if source.html_body.strip() else None
        return cls(
            level=source.level,
            subject=text_engine().from_string(source.subject),
            text=text_engine().from_string(source.text_body),
            html=html,
            language=source.language or default_language(),
        )

    @cached_property
    def plans(self) -> tuple[Plan, Plan, Plan | None]:
        """Subject, text and HTML planned (``reminders.template_plan``): Django's text, faster."""
        return plan(self.subject), plan(self.text), plan(self.html) if self.html else None


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def default_language() -> str:
    return str(settings.LANGUAGE_CODE)


def reminder_context(row: Mapping[str, Any], language: str | None = None) -> dict[str, Any]:
    """One reminder as a template sees it: its invoice (the due date also written out, ``due_on``, and
    its pay link when it has one), days overdue, balance, level, and how many of this invoice's reminders
    were actually sent before it (``earlier_reminders``). Dates and amounts are written for ``language``
    (the default language when None)."""
    language = language or default_language()
    currency = row["currency"]
    balance = money_in(row["balance_due"], currency, language)
    return {
        "invoice": {
            "number": plain_text(row["number"]),
            "due_date": row["due_date"],
            "due_on": long_date(row["due_date"], language),
            "currency": currency,
            "total": money_in(row["total"], currency, language),
            "balance": balance,
            "payment_url": row.get("payment_url") or "",
        },
        "days_overdue": row["days_overdue"],
        # "12 days overdue", or before the due date (docs/SPEC.md §13) "due in 2 days", "due today".
        "due": due_in_words(row["days_overdue"], language),
        "balance": balance,
        "level": row["level"],
        "threshold_days": row["threshold_days"],
        "earlier_reminders": row.get("earlier_reminders", 0),
    }


def statement_context(
    *,
    customer_name: str,
    customer_email: str,
    rows: Sequence[Mapping[str, Any]],
    others: Sequence[Mapping[str, Any]] = (),
    language: str | None = None,
) -> dict[str, Any]:
    """The fixed context of a message (SPEC §10): the customer, its reminders (highest level first),
    totals per currency, and the customer's other open overdue invoices (``others``: number, due_date,
    days_overdue, currency, balance_due, payment_url). The first reminder's values are also at the top
    level, so a template written for one invoice renders a message of one unchanged. Dates and amounts
    are written for ``language`` (SPEC §13; the default language when None)."""
    language = language or default_language()
    ordered = sorted(rows, key=lambda row: (-row["level"], row["due_date"], row["number"]))
    reminders = [reminder_context(row, language) for row in ordered]
    totals: dict[str, Decimal] = {}
    for row in ordered:
        totals[row["currency"]] = totals.get(row["currency"], Decimal(0)) + row["balance_due"]
    return {
        **reminders[0],
        "customer": {"name": plain_text(customer_name), "email": customer_email},
        "reminders": reminders,
        "statement": len(reminders) > 1,
        # Every reminder is a courtesy one, before or on its invoice's due date (docs/SPEC.md §13).
        "courtesy": all(row["days_overdue"] <= 0 for row in ordered),
        "totals": [
            {"currency": code, "amount": money_in(amount, code, language)}
            for code, amount in sorted(totals.items())
        ],
        "other_invoices": [
            {
                "number": plain_text(other["number"]),
                "due_date": other["due_date"],
                "due_on": long_date(other["due_date"], language),
                "days_overdue": other["days_overdue"],
                "balance": money_in(other["balance_due"], other["currency"], language),
                "payment_url": other.get("payment_url") or "",
            }
            for other in others
        ],
        "language": language,
        "earlier_reminders": max(reminder["earlier_reminders"] for reminder in reminders),
    }


def context_for(row: Mapping[str, Any], language: str | None = None) -> dict[str, Any]:
    """The context of a message carrying the one reminder ``row`` (joined with invoice and customer)."""
    return statement_context(
        customer_name=row["customer_name"],
        customer_email=row["customer_email"],
        rows=[row],
        language=language,
    )


def subject_line(rendered: str) -> str:
    """One line of printable text: every control character and line break becomes a space."""
    return _SPACES.sub(" ", plain_text(rendered)).strip()[:SUBJECT_MAX_LENGTH]


def render(template: CompiledTemplate, row: Mapping[str, Any]) -> RenderedEmail:
    """A message of the one reminder ``row``, written in the template's language."""
    return render_context(template, context_for(row, template.language))


def render_context(template: CompiledTemplate, values: Mapping[str, Any]) -> RenderedEmail:
    subject, text, html = template.plans
    return RenderedEmail(
        subject=subject_line(subject(Context(values, autoescape=False))),
        text=text(Context(values, autoescape=False)),
        html=html(Context(values, autoescape=True)) if html else "",
    )


class TemplateSet:
    """The templates of every level and language, compiled once; ``for_level`` picks the one a reminder
    uses."""

    def __init__(self, sources: Iterable[TemplateSource], default: str | None = None) -> None:
        compiled = sorted((_compile(source) for source in sources), key=lambda t: t.level)
        if not compiled:
            raise ValueError("There is no reminder template: at least one level needs a template.")
        self.by_language: dict[str, list[CompiledTemplate]] = {}
        for template in compiled:
            self.by_language.setdefault(template.language, []).append(template)
        wanted = default or default_language()
        self.default = wanted if wanted in self.by_language else min(self.by_language)
        self.by_level = self.by_language[self.default]

    def for_level(self, level: int, language: str | None = None) -> CompiledTemplate:
        """The template of ``language`` (the default language's when it has none) of the highest level at
        or below ``level`` (the last one serves every level above it), or the lowest template when only
        higher levels have one."""
        templates = self.by_language.get(language or self.default, self.by_level)
        chosen = templates[0]
        for template in templates:
            if template.level > level:
                break
            chosen = template
        return chosen


def _compile(source: TemplateSource) -> CompiledTemplate:
    try:
        return CompiledTemplate.compile(source)
    except TemplateSyntaxError as exc:
        which = f"level {source.level}" + (f" ({source.language})" if source.language else "")
        raise ValueError(f"The reminder template of {which} is invalid: {exc}") from exc


def template_errors(source: str, *, html: bool = False) -> list[str]:
    """What is wrong with a template's ``source``, each naming its line; empty when it renders.

    The template is also rendered once against a sample reminder, so a tag that only fails when used
    (``{% include %}`` of a file that does not exist) is found on save, not at sending time.
    """
    engine = html_engine() if html else text_engine()
    try:
        template = engine.from_string(source)
        template.render(Context(context_for(SAMPLE_ROW), autoescape=html))
    except TemplateSyntaxError as exc:
        return [f"Line {_error_line(exc)}: {exc}"]
    except Exception as exc:  # any error of a trial render is the template's
        return [f"Line {_error_line(exc)}: {type(exc).__name__}: {exc}"]
    return []


def _error_line(exc: Exception) -> int:
    debug = getattr(exc, "template_debug", None) or {}
    return int(debug.get("line", 1))


def render_unsaved(source: TemplateSource, rows: Iterable[Mapping[str, Any]]) -> list[RenderedEmail]:
    """The emails a template as staff entered it (not saved) gives for ``rows``, one per row: the admin's
    preview. Raises ``TemplateSyntaxError`` for a template ``template_errors`` would refuse."""
    template = CompiledTemplate.compile(source)
    return [render(template, row) for row in rows]
