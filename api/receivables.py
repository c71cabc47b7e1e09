"""``GET /api/v1/receivables/aging`` (SPEC §11): the open balance per currency by age, for finance tools.

Same bearer tokens, staff rule and error shape as the monitoring API (SPEC §7)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from api.authentication import BearerTokenAuthentication
from api.errors import InvalidQueryParameter
from api.filters import refuse_repeated_or_unknown
from api.permissions import HasModelPermissions
from api.serializers import ErrorSerializer
from api.views import AUTH_ERRORS
from common.cache import cached
from common.configuration import invalid_value
from common.dates import parse_iso_date
from invoicing.selectors import BUCKET_KEYS, CurrencyAging, receivables_aging

AMOUNT_HELP = "A decimal string in the currency's minor units (EUR 1234.50, JPY 123457)."


class ShareSerializer(serializers.Serializer):
    amount = serializers.CharField(help_text=AMOUNT_HELP)
    count = serializers.IntegerField(min_value=0)


class BucketsSerializer(serializers.Serializer):
    """One key per age bucket; the keys (``1-30``…) are not Python names, hence ``get_fields``."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {key: ShareSerializer() for key in BUCKET_KEYS}


class CurrencyAgingSerializer(serializers.Serializer):
    currency = serializers.CharField(help_text="ISO 4217 code.")
    total = serializers.CharField(help_text=f"The open balance. {AMOUNT_HELP}")
    count = serializers.IntegerField(min_value=0, help_text="Open invoices.")
    buckets = BucketsSerializer(
        help_text="current: not yet due or due today; 1-30, 31-60, 61-90, 90+: days overdue."
    )


class AgingSerializer(serializers.Serializer):
    as_of = serializers.DateField()
    computed_at = serializers.DateTimeField(
        help_text="When these figures were read: now, unless API_AGING_CACHE_SECONDS (default 0) keeps them; "
        "a payment or invoice since then shows once they are older than that."
    )
    currencies = CurrencyAgingSerializer(many=True, help_text="Sorted by currency code.")


def aging_body(*, as_of: date, rows: list[CurrencyAging], computed_at: datetime) -> dict[str, Any]:
    return {
        "as_of": as_of,
        "computed_at": computed_at,
        "currencies": [
            {
                "currency": row.currency,
                "total": str(row.total),
                "count": row.count,
                "buckets": {
                    key: {"amount": str(share.amount), "count": share.count}
                    for key, share in row.buckets.items()
                },
            }
            for row in rows
        ],
    }


def cached_aging_data(*, as_of: date) -> dict[str, Any]:
    """The aging on ``as_of``, read at most once per ``API_AGING_CACHE_SECONDS`` for every web process,
    as finance tools poll it. Invoices and payments change through too many paths (the import's SQL, the
    bulk API, the admin, services) for each to invalidate it, so the figures carry their age instead
    (``computed_at``)."""

    def read() -> dict[str, Any]:
        body = aging_body(as_of=as_of, rows=receivables_aging(as_of=as_of), computed_at=timezone.now())
        return dict(AgingSerializer(body).data)

    key = f"api:receivables-aging:{as_of.isoformat()}"
    return cached(key, read, seconds=settings.API_AGING_CACHE_SECONDS)


def parse_as_of(raw: str | None) -> date:
    if raw is None or raw == "":
        return timezone.localdate()
    try:
        return parse_iso_date(raw)
    except ValueError as exc:
        raise InvalidQueryParameter(invalid_value("as_of", raw, str(exc))) from None


class ReceivablesAgingView(APIView):
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [HasModelPermissions]
    model_permissions = {"GET": ("invoicing.view_invoice",)}  # as the admin's aging CSV

    @extend_schema(
        tags=["receivables"],
        summary="Receivables aging per currency",
        description="The open balance (sent invoices with a balance left, paused customers included) per "
        "currency, in buckets of days overdue on as_of. as_of at most once; an unknown parameter is a 400. "
        "The figures are read on every request, or at most once per API_AGING_CACHE_SECONDS when it is set, "
        "for each as_of; computed_at says when.",
        parameters=[
            OpenApiParameter(
                "as_of",
                OpenApiTypes.DATE,
                OpenApiParameter.QUERY,
                description="The date the ages are counted on (default: today in TIME_ZONE).",
            )
        ],
        responses={
            200: AgingSerializer,
            400: OpenApiResponse(ErrorSerializer, description="as_of is invalid, repeated, or unknown."),
            **AUTH_ERRORS,
        },
    )
    def get(self, request: Request) -> Response:
        refuse_repeated_or_unknown(request.query_params, known=["as_of", api_settings.URL_FORMAT_OVERRIDE])
        as_of = parse_as_of(request.query_params.get("as_of"))
        return Response(cached_aging_data(as_of=as_of))


app_name = "receivables-api"

urlpatterns = [path("aging", ReceivablesAgingView.as_view(), name="aging")]
