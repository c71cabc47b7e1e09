"""Query parameters of the run list: ``status``, ``started_after`` (inclusive), ``started_before``
(exclusive). A date means the start of that day in ``TIME_ZONE``, as does a datetime without an offset."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework.request import Request

from scheduler.api.errors import InvalidQueryParameter, invalid_value
from scheduler.models import JobExecutionLog, RunStatus

# An unencoded "+" in a query string arrives as a space: "…T09:30:00 01:00" meant "…T09:30:00+01:00".
_SPACED_OFFSET = re.compile(r"(?<=\d) (\d{2}(?::?\d{2})?)$")


def parse_moment(text: str) -> datetime | None:
    """An aware datetime for an ISO 8601 date or datetime, or ``None`` if ``text`` is neither."""
    text = _SPACED_OFFSET.sub(r"+\1", text.strip()) if "T" in text else text.strip()
    try:
        moment = datetime.fromisoformat(text)
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, timezone.get_default_timezone())
        # The database compares in UTC; year 1 or 9999 with an offset has no UTC equivalent.
        moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return moment


def moment_rule() -> str:
    return (
        "expected an ISO 8601 date (2026-02-01) or datetime (2026-02-01T09:30:00+01:00); "
        f"a date or a datetime without offset is read in {settings.TIME_ZONE}"
    )


class MomentField(forms.Field):
    def to_python(self, value: Any) -> datetime | None:
        if value in self.empty_values:
            return None
        moment = parse_moment(str(value))
        if moment is None:
            raise forms.ValidationError(moment_rule(), code="invalid")
        return moment


class MomentFilter(django_filters.Filter):
    field_class = MomentField


def moment_filter(lookup_expr: str, description: str) -> MomentFilter:
    schema = {"type": "string", "description": description, "example": "2026-02-01"}
    return extend_schema_field(schema)(MomentFilter(field_name="started_at", lookup_expr=lookup_expr))


def status_rule() -> str:
    return "allowed values are " + ", ".join(RunStatus.values)


class ExecutionFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=RunStatus.choices,
        help_text="Only runs with this status.",
        error_messages={"invalid_choice": status_rule()},
    )
    started_after = moment_filter(
        "gte", "Runs started at or after this ISO 8601 date or datetime (a date: its start in TIME_ZONE)."
    )
    started_before = moment_filter(
        "lt", "Runs started before this ISO 8601 date or datetime (a date: its start in TIME_ZONE)."
    )

    class Meta:
        model = JobExecutionLog
        fields = ["status", "started_after", "started_before"]


class ExecutionFilterBackend(DjangoFilterBackend):
    """django-filter's backend, with one 400 message naming each bad parameter, its value and the rule."""

    def filter_queryset(
        self, request: Request, queryset: QuerySet[JobExecutionLog], view: Any
    ) -> QuerySet[JobExecutionLog]:
        filterset = self.get_filterset(request, queryset, view)
        if not filterset.is_valid():
            raise InvalidQueryParameter(_describe(filterset.errors, request.query_params))
        return filterset.qs


def _describe(errors: dict[str, list[str]], params: Any) -> str:
    return " ".join(
        invalid_value(name, params.get(name, ""), " ".join(messages).rstrip("."))
        for name, messages in errors.items()
    )
