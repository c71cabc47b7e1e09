"""The page object of docs/SPEC.md §7: ``total``, ``page``, ``per_page``, ``total_pages``, ``executions``.

An empty result is one empty page (``page: 1, total_pages: 1``), so ``page <= total_pages`` always holds
and a client walking pages 1 to ``total_pages`` reads every page it may ask for.

The unfiltered list's ``total`` is counted once for each lowest and highest run id and kept in the shared
cache: counting every run on every page was most of a page's cost (docs/benchmarks.md, "The API under
load")."""

from __future__ import annotations

import math
from typing import Any

from django.db.models import Max, Min, QuerySet
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import InvalidQueryParameter
from common.cache import cached
from common.configuration import invalid_value

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
PARAMETERS = ["page", "per_page"]
# A run deleted between the oldest and the newest (in the admin) leaves both ids, and so the cached total,
# as they were: it shows in the total once the count is this old.
COUNT_CACHE_SECONDS = 30


def parse_page_number(raw: str | None, *, name: str, default: int, maximum: int | None = None) -> int:
    if raw is None:
        return default
    upper = f" to {maximum}" if maximum else " upwards"
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1 or (maximum and int(raw) > maximum):
        raise InvalidQueryParameter(invalid_value(name, raw, f"expected a whole number from 1{upper}"))
    return int(raw)


class ExecutionPagination(BasePagination):
    def paginate_queryset(  # type: ignore[override]  # a queryset only: it is counted and sliced
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any]:
        params = request.query_params
        self.per_page = parse_page_number(
            params.get("per_page"), name="per_page", default=DEFAULT_PER_PAGE, maximum=MAX_PER_PAGE
        )
        self.page = parse_page_number(params.get("page"), name="page", default=1)
        self.total = count(queryset)
        self.total_pages = max(math.ceil(self.total / self.per_page), 1)
        if self.page > self.total_pages:
            pages = "is 1 page" if self.total_pages == 1 else f"are {self.total_pages} pages"
            allowed = f"there {pages} of {self.per_page} runs"
            raise InvalidQueryParameter(invalid_value("page", params["page"], allowed))
        start = (self.page - 1) * self.per_page
        return list(queryset[start : start + self.per_page])

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {
                "total": self.total,
                "page": self.page,
                "per_page": self.per_page,
                "total_pages": self.total_pages,
                "executions": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["total", "page", "per_page", "total_pages", "executions"],
            "properties": {
                "total": {"type": "integer", "minimum": 0, "description": "Runs matching the filters."},
                "page": {"type": "integer", "minimum": 1},
                "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
                "total_pages": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "At least 1: no matching run is one empty page (page 1 of 1).",
                },
                "executions": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            _integer_parameter("page", "Page number, from 1.", default=1),
            _integer_parameter(
                "per_page",
                f"Runs per page, at most {MAX_PER_PAGE}.",
                default=DEFAULT_PER_PAGE,
                maximum=MAX_PER_PAGE,
            ),
        ]


def count(queryset: QuerySet[Any]) -> int:
    """The rows of ``queryset``: counted if it is filtered; if not, counted once per lowest and highest
    id, which a new row or a deleted oldest one changes (two index reads), and then taken from the cache."""
    if queryset.query.where:
        return queryset.count()
    bounds = queryset.aggregate(low=Min("pk"), high=Max("pk"))
    key = f"api:count:{queryset.model._meta.label_lower}:{bounds['low']}-{bounds['high']}"
    return cached(key, queryset.count, seconds=COUNT_CACHE_SECONDS)


def _integer_parameter(
    name: str, description: str, *, default: int, maximum: int | None = None
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": 1, "default": default}
    if maximum:
        schema["maximum"] = maximum
    return {"name": name, "required": False, "in": "query", "description": description, "schema": schema}
