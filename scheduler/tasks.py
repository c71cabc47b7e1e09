"""Tasks the django-q2 cluster runs. Thin: parse what the broker delivered, call the service."""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from common.configuration import invalid_value
from reminders.checks import sending_problems
from reminders.outbox import reminders_send
from reminders.webhooks import webhooks_send, webhooks_waiting
from reminders.window import send_window
from scheduler.models import RunStatus
from scheduler.schedules import DELIVERY_TASK_FUNC, WEBHOOK_TASK_FUNC
from scheduler.services import SlotAlreadyRun, overdue_check_run

logger = logging.getLogger(__name__)


class RunFailed(Exception):
    """The run ended ``failed``: raised so that django-q2 lists the task among its failures too."""


def overdue_check_task(
    *, triggered_by: str = "schedule", scheduled_for: str | None = None, request_id: str | None = None
) -> int | None:
    """Run the overdue check; return the id of its run log, or None when its slot has already run.

    Raises ``RunFailed`` when the run failed (its log holds the traceback); the cluster acknowledges the
    failure and does not retry it, and the next slot runs as usual.

    ``scheduled_for`` is the slot django-q2 intended (``Schedule.next_run`` in ISO 8601, passed through
    ``intended_date_kwarg``). The service turns it into the slot's wall-clock key, which the database
    keeps unique: a redelivered task, or a local hour repeated by a DST fall-back, runs once.

    ``request_id`` is the id that ``POST /run`` returned; the run's log keeps it, so the caller finds it.
    """
    slot = parse_slot(scheduled_for)
    try:
        log = overdue_check_run(triggered_by=triggered_by, scheduled_for=slot, request_id=request_id)
    except SlotAlreadyRun:
        logger.info("Slot %s has already run; this delivery does nothing.", scheduled_for)
        return None
    if not log.dry_run:
        enqueue_sending(reason=f"after run #{log.pk}")
        if webhooks_waiting():
            enqueue_webhooks(reason=f"after run #{log.pk}")
    if log.status == RunStatus.FAILED:
        raise RunFailed(f"Run #{log.pk} failed; its traceback is in the run's log.")
    return log.pk


def parse_slot(value: str | None) -> datetime | None:
    """The intended slot time from its ISO 8601 text; it must carry its UTC offset."""
    if value is None:
        return None
    allowed = "expected an ISO 8601 date-time with its UTC offset, e.g. '2026-01-01T00:00:00+00:00'"
    try:
        slot = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(invalid_value("scheduled_for", value, allowed)) from exc
    if timezone.is_naive(slot):
        raise ValueError(invalid_value("scheduled_for", value, allowed))
    return slot


def send_reminders_task(*, limit: int | None = None) -> dict[str, int]:
    """Send the due reminders (``reminders_send``); return the counts of the outcomes. Raises
    ``ImproperlyConfigured`` (the cluster lists the task as failed) while sending is refused."""
    if problems := sending_problems():
        raise ImproperlyConfigured(" ".join(problems))
    window, now = send_window(), timezone.now()
    if not window.is_open(now):
        logger.info("Reminder delivery: %s", window.closed_note(now))
    report = reminders_send(limit=limit)
    logger.info("Reminder delivery: %s.", report.summary())
    return {
        "sent": report.sent,
        "retried": report.retried,
        "failed": report.failed,
        "cancelled": report.cancelled,
        "deferred": report.deferred,
        "released": report.released,
    }


def send_webhooks_task(*, limit: int | None = None) -> dict[str, int]:
    """Deliver the due webhooks (``webhooks_send``); return the counts of the outcomes."""
    report = webhooks_send(limit=limit)
    logger.info("Webhook delivery: %s.", report.summary())
    return {
        "delivered": report.delivered,
        "retried": report.retried,
        "failed": report.failed,
        "released": report.released,
    }


def enqueue_sending(*, reason: str) -> None:
    """Queue a sending task for a worker of the cluster. Never sends here: a slow or failing mail server
    must not hold up the overdue check, and a broker that refuses the task loses nothing (the short
    schedule sends the same entries a few minutes later)."""
    _enqueue(DELIVERY_TASK_FUNC, what="reminder delivery", name=f"send reminders {reason}", reason=reason)


def enqueue_webhooks(*, reason: str) -> None:
    """Queue a webhook delivery task, as ``enqueue_sending`` does for reminders (the events of a run
    reach their endpoints right after it, not only at the next slot of the webhook schedule)."""
    _enqueue(WEBHOOK_TASK_FUNC, what="webhook delivery", name=f"send webhooks {reason}", reason=reason)


def _enqueue(func: str, *, what: str, name: str, reason: str) -> None:
    group = what.replace(" ", "-")
    try:
        with transaction.atomic():  # a savepoint: a broker on this database that fails rolls back alone
            async_task(func, task_name=name, group=group)
    except Exception:
        logger.exception("Queueing the %s %s failed; its schedule will send them.", what, reason)
