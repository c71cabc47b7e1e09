"""Hand the overdue check to the django-q2 cluster, for the admin's and the API's "run now"."""

from __future__ import annotations

from django_q.tasks import async_task

from scheduler.models import JobExecutionLog
from scheduler.schedules import TASK_FUNC


def overdue_check_enqueue(*, triggered_by: str) -> str:
    """Queue one run of the overdue check on the cluster; returns django-q2's task id."""
    if triggered_by not in JobExecutionLog.Trigger.values:
        allowed = ", ".join(JobExecutionLog.Trigger.values)
        raise ValueError(f"triggered_by={triggered_by!r} is invalid: allowed values are {allowed}.")
    return async_task(TASK_FUNC, triggered_by=triggered_by)
