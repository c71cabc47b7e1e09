"""The monitoring API of docs/SPEC.md §7: thin views over ``scheduler.status`` and the run log."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from api.authentication import BearerTokenScheme, CredentialsOptional
from api.filters import ExecutionFilterBackend, ExecutionFilterSet, refuse_repeated_or_unknown
from api.pagination import PARAMETERS as PAGE_PARAMETERS
from api.pagination import ExecutionPagination
from api.permissions import IsActiveStaff
from api.serializers import (
    EnqueuedSerializer,
    ErrorSerializer,
    ExecutionDetailSerializer,
    ExecutionSummarySerializer,
    HealthDetailSerializer,
    HealthSerializer,
    SchedulerStatusSerializer,
)
from common.cache import cached
from scheduler.dispatch import new_request_id, overdue_check_enqueue
from scheduler.models import JobExecutionLog
from scheduler.status import scheduler_status

TAG = "scheduler"
# int() reads fullwidth and other Unicode digits, and "1\n", as numbers; a "$" in the URL pattern lets
# "1\n" through. Only ASCII digits name a run.
RUN_ID = re.compile(r"[0-9]+")
AUTH_ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="No token, or an invalid, revoked or misplaced one."),
    403: OpenApiResponse(ErrorSerializer, description="The token's user is not active staff."),
}


class SchedulerStatusView(APIView):
    @extend_schema(
        tags=[TAG],
        summary="Scheduler status",
        description="Read at most once per API_STATUS_CACHE_SECONDS (default 5) for every caller; "
        "checked_at says when.",
        responses={200: SchedulerStatusSerializer, **AUTH_ERRORS},
    )
    def get(self, request: Request) -> Response:
        return Response(cached_status_data())


def cached_status_data() -> dict[str, Any]:
    """The status, read at most once per ``API_STATUS_CACHE_SECONDS`` for every web process: it takes a
    dozen queries (runs, schedules, heartbeats, outbox and webhook figures), and monitoring polls it."""

    def read() -> dict[str, Any]:
        return dict(SchedulerStatusSerializer(scheduler_status()).data)

    return cached("api:scheduler-status", read, seconds=settings.API_STATUS_CACHE_SECONDS)


class ExecutionListView(generics.ListAPIView):
    queryset = JobExecutionLog.objects.order_by("-started_at", "-id")
    serializer_class = ExecutionSummarySerializer
    filter_backends = [ExecutionFilterBackend]
    filterset_class = ExecutionFilterSet
    pagination_class = ExecutionPagination

    @extend_schema(
        tags=[TAG],
        summary="Runs of the overdue check, newest first",
        description="Each parameter at most once; a parameter given twice, or one not listed here, is a "
        "400 naming it. An empty value is no filter. No matching run is page 1 of 1, with no runs.",
        responses={
            200: ExecutionSummarySerializer(many=True),
            400: OpenApiResponse(
                ErrorSerializer, description="A query parameter is invalid, repeated or unknown."
            ),
            **AUTH_ERRORS,
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication first: a stranger learns nothing
        known = [*PAGE_PARAMETERS, *ExecutionFilterSet.base_filters, api_settings.URL_FORMAT_OVERRIDE]
        refuse_repeated_or_unknown(request.query_params, known=known)


class ExecutionDetailView(generics.RetrieveAPIView):
    queryset = JobExecutionLog.objects.all()
    serializer_class = ExecutionDetailSerializer

    @extend_schema(
        tags=[TAG],
        summary="One run with its errors",
        parameters=[
            OpenApiParameter(
                "id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The run's id, in ASCII digits."
            )
        ],
        responses={
            200: ExecutionDetailSerializer,
            404: OpenApiResponse(ErrorSerializer, description="No run with this id."),
            **AUTH_ERRORS,
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_object(self) -> JobExecutionLog:
        if not RUN_ID.fullmatch(self.kwargs["pk"]):
            raise NotFound(f"No run with id {self.kwargs['pk']!r}.")
        try:
            return super().get_object()
        except Http404:
            raise NotFound(f"No run with id {self.kwargs['pk']!r}.") from None


class HealthView(APIView):
    """Public, for load balancers and alerting; only staff callers are told why."""

    authentication_classes = [CredentialsOptional]
    permission_classes = [AllowAny]

    @extend_schema(
        tags=[TAG],
        summary="Health of the scheduler",
        description="200 when the scheduler is running and the last successful run is recent enough "
        "for the schedule, 503 otherwise. Staff callers with a valid token also get the details; any "
        "other credentials (invalid, revoked, malformed, in the query string) are ignored, never a 401.",
        auth=[{BearerTokenScheme.name: []}, {}],  # type: ignore[list-item]  # security requirement objects
        responses={
            200: OpenApiResponse(HealthDetailSerializer, description="Healthy."),
            503: OpenApiResponse(HealthDetailSerializer, description="Not running, or no recent success."),
        },
    )
    def get(self, request: Request) -> Response:
        current = scheduler_status()
        serializer = (
            HealthDetailSerializer if IsActiveStaff().has_permission(request, self) else HealthSerializer
        )
        code = status.HTTP_200_OK if current.healthy else status.HTTP_503_SERVICE_UNAVAILABLE
        return Response(serializer(current).data, status=code)


class RunNowView(APIView):
    @extend_schema(
        tags=[TAG],
        summary="Queue a run of the overdue check now",
        request=None,
        responses={202: EnqueuedSerializer, **AUTH_ERRORS},
    )
    def post(self, request: Request) -> Response:
        request_id = new_request_id()
        task_id = overdue_check_enqueue(triggered_by=JobExecutionLog.Trigger.API, request_id=request_id)
        query = urlencode({"request_id": request_id})
        executions_url = request.build_absolute_uri(f"{reverse('scheduler-api:execution-list')}?{query}")
        detail = "The overdue check was queued on the cluster; executions_url lists its run once it starts."
        body = {"task_id": task_id, "request_id": request_id, "executions_url": executions_url}
        return Response(EnqueuedSerializer({**body, "detail": detail}).data, status=status.HTTP_202_ACCEPTED)
