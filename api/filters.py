"""Query parameters of the run list: ``status``, ``triggered_by``, ``has_errors``, ``dry_run``,
``started_after`` (inclusive), ``started_before`` (exclusive), ``request_id``. A date means the start of
that day in ``TIME_ZONE``, as does a datetime without an offset. An empty value is no filter."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework.request import Request

from api.errors import InvalidQueryParameter
from common.configuration import invalid_value
from scheduler.dispatch import REQUEST_ID, REQUEST_ID_RULE, is_request_id
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


def allowed_values(values: list[str]) -> str:
    return "allowed values are " + ", ".join(values)


def status_rule() -> str:
    return allowed_values(RunStatus.values)


BOOLEAN_TEXT = {"true": True, "false": False}


class BooleanTextField(forms.Field):
    """``true`` or ``false`` in any case; anything else is refused, never read as "no filter"."""

    def to_python(self, value: Any) -> bool | None:
        if value in self.empty_values:
            return None
        try:
            return BOOLEAN_TEXT[str(value).lower()]
        except KeyError:
            raise forms.ValidationError(allowed_values(list(BOOLEAN_TEXT)), code="invalid") from None


class BooleanTextFilter(django_filters.Filter):
    field_class = BooleanTextField


def boolean_filter(description: str, **options: Any) -> BooleanTextFilter:
    schema = {"type": "boolean", "description": description}
    return extend_schema_field(schema)(BooleanTextFilter(**options))


class RequestIdField(forms.CharField):
    def to_python(self, value: Any) -> str | None:
        if value in self.empty_values:
            return None
        if not is_request_id(str(value)):
            raise forms.ValidationError(REQUEST_ID_RULE, code="invalid")
        return str(value)


class RequestIdFilter(django_filters.CharFilter):
    field_class = RequestIdField


def _has_errors(queryset: QuerySet[JobExecutionLog], name: str, value: bool) -> QuerySet[JobExecutionLog]:
    with_errors = Q(error_count__gt=0)
    return queryset.filter(with_errors if value else ~with_errors)


class ExecutionFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=RunStatus.choices,
        help_text="Only runs with this status.",
        error_messages={"invalid_choice": status_rule()},
    )
    triggered_by = django_filters.ChoiceFilter(
        choices=JobExecutionLog.Trigger.choices,
        help_text="Only runs started this way.",
        error_messages={"invalid_choice": allowed_values(JobExecutionLog.Trigger.values)},
    )
    has_errors = boolean_filter(
        "true: only runs with at least one invoice error; false: only runs without.", method=_has_errors
    )
    dry_run = boolean_filter("true: only dry runs; false: only real runs.", field_name="dry_run")
    started_after = moment_filter(
        "gte", "Runs started at or after this ISO 8601 date or datetime (a date: its start in TIME_ZONE)."
    )
    started_before = moment_filter(
        "lt", "Runs started before this ISO 8601 date or datetime (a date: its start in TIME_ZONE)."
    )
    request_id = extend_schema_field(
        {
            "type": "string",
            "pattern": f"^{REQUEST_ID.pattern}$",
            "description": "Only the run queued by the POST /run that returned this request_id.",
        }
    )(RequestIdFilter(field_name="request_id"))

    class Meta:
        model = JobExecutionLog
        fields = [
            "status",
            "triggered_by",
            "has_errors",
            "dry_run",
            "started_after",
            "started_before",
            "request_id",
        ]


class ExecutionFilterBackend(DjangoFilterBackend):
    """django-filter's backend, with one 400 message naming each bad parameter, its value and the rule."""

    def filter_queryset(
        self, request: Request, queryset: QuerySet[JobExecutionLog], view: Any
    ) -> QuerySet[JobExecutionLog]:
        filterset = self.get_filterset(request, queryset, view)
        if not filterset.is_valid():
            raise InvalidQueryParameter(_describe(filterset.errors, request.query_params))
        return filterset.qs


def refuse_repeated_or_unknown(params: QueryDict, *, known: list[str]) -> None:
    """A parameter given twice, or one this list does not know, is refused: read silently, the first
    would filter by only one of its values and the second (``stauts=failed``) by nothing at all."""
    problems = [
        f"{name} is given {len(values)} times ({', '.join(map(repr, values))}): give it once."
        for name, values in params.lists()
        if len(values) > 1
    ]
    unknown_rule = "not a parameter of this list; the parameters are " + ", ".join(known)
    problems += [invalid_value(name, str(params[name]), unknown_rule) for name in params if name not in known]
    if problems:
        raise InvalidQueryParameter(" ".join(problems))


def _describe(errors: dict[str, list[str]], params: Any) -> str:
    return " ".join(
        invalid_value(name, params.get(name, ""), " ".join(messages).rstrip("."))
        for name, messages in errors.items()
    )
