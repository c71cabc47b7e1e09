"""Hand the overdue check to the django-q2 cluster, for the admin's and the API's "run now"."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.tasks import async_task

from common.configuration import invalid_value
from scheduler.models import JobExecutionLog
from scheduler.schedules import TASK_FUNC

REQUEST_ID = re.compile(r"[0-9a-f]{32}")
REQUEST_ID_RULE = "expected the 32 lowercase hexadecimal characters that POST /run returned"


def new_request_id() -> str:
    return uuid.uuid4().hex


def is_request_id(text: str) -> bool:
    return REQUEST_ID.fullmatch(text) is not None


def overdue_check_enqueue(*, triggered_by: str, request_id: str | None = None) -> str:
    """Queue one run of the overdue check on the cluster; returns django-q2's task id.

    django-q2 makes its task id only as it queues the task, too late to hand it to the task, so a caller
    that must find the run later passes its own ``request_id``: the run's log stores it."""
    if triggered_by not in JobExecutionLog.Trigger.values:
        allowed = ", ".join(JobExecutionLog.Trigger.values)
        raise ValueError(invalid_value("triggered_by", triggered_by, f"allowed values are {allowed}"))
    if request_id is None:
        return async_task(TASK_FUNC, triggered_by=triggered_by)
    if not is_request_id(request_id):
        raise ValueError(invalid_value("request_id", request_id, REQUEST_ID_RULE))
    return async_task(TASK_FUNC, triggered_by=triggered_by, request_id=request_id)


def queued_overdue_checks() -> list[datetime]:
    """When each run of the overdue check still waiting for a cluster was queued, oldest first.

    Only the ORM broker can be read this way; with Redis the list is empty (the queue is not looked into).
    A task a cluster has taken is locked into the future: it is no longer waiting."""
    if not Conf.ORM:
        return []
    waiting = OrmQ.objects.filter(lock__lte=timezone.now()).order_by("id")
    ours = (queued for queued in waiting if queued.task.get("func") == TASK_FUNC)
    return [queued.task.get("started") or queued.lock for queued in ours]
