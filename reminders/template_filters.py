"""Filters the reminder templates' engines (``reminders.rendering``) take in place of Django's own.

``date``: Django's filter, remembered for a calendar date. A statement formats the due date of every
invoice it lists, twice (text and HTML), and formatting a date looks up the format and the month names
of the active language each time: a third of the rendering. The same date, format and language always
give the same text, so it is formatted once.
"""

from __future__ import annotations

import datetime
from functools import lru_cache
from typing import Any

from django import template
from django.template import defaultfilters
from django.utils.translation import get_language

register = template.Library()


@lru_cache(maxsize=4096)
def _formatted(value: datetime.date, arg: str | None, language: str | None) -> str:
    return str(defaultfilters.date(value, arg))


@register.filter(expects_localtime=True, is_safe=False)
def date(value: Any, arg: str | None = None) -> str:
    # A datetime's text depends on the time zone too: only plain dates are remembered.
    if type(value) is datetime.date:
        return _formatted(value, arg, get_language())
    return str(defaultfilters.date(value, arg))
