"""The overdue check (docs/SPEC.md §4): one service behind the command, the task, the admin and the API."""

from __future__ import annotations

import logging
import os
import socket
import traceback
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import psycopg.errors
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from django.db import (
    Error as DatabaseErrors,
)
from django.utils import timezone

from invoicing.models import Invoice
from reminders.events import emit, final_reminders_emit, subscribed_endpoints
from reminders.models import EventType
from reminders.rules import Escalation
from reminders.selectors import Batch, ReminderPlan
from reminders.services import reminders_insert
from scheduler.config import OverdueConfig, as_of_problem, load_overdue_config, today
from scheduler.locks import RunLock, run_lock_for_database
from scheduler.models import JobExecutionLog, RunStatus

logger = logging.getLogger(__name__)

# Errors that mean the database connection itself is gone: no invoice is to blame, the run fails.
CONNECTION_ERRORS = (OperationalError, InterfaceError)
# A deadlock or a serialization failure against another connection (a payer updating invoices the batch
# reads) says nothing about the invoices: the batch is tried again whole, a few times.
TRANSIENT_ERRORS = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
BATCH_ATTEMPTS = 5


def _connection_lost(exc: Exception) -> bool:
    return isinstance(exc, CONNECTION_ERRORS) and not isinstance(exc.__cause__, TRANSIENT_ERRORS)


# Written after every batch; Django would compile this UPDATE anew each time, at a cost above running it.
COUNTERS = ("invoices_processed", "notifications_created", "already_notified", "error_count")
_ASSIGNMENTS = ", ".join(f"{name} = %s" for name in COUNTERS)
COUNTERS_UPDATE = f"UPDATE {JobExecutionLog._meta.db_table} SET {_ASSIGNMENTS} WHERE id = %s"
# The same, as the tail of a batch's one statement: ``{examined}``, ``{owed}`` and ``{created}`` are its
# counts.
COUNTERS_AFTER_BATCH = (
    f"UPDATE {JobExecutionLog._meta.db_table} SET invoices_processed = %s + {{examined}}, "
    "notifications_created = %s + {created}, already_notified = %s + {examined} - {owed}, "
    "error_count = %s WHERE id = %s"
)
# The same, as the tail of the reminders' insert: ``{created}`` is the insert's own count of new rows.
COUNTERS_AFTER_INSERT = (
    f"UPDATE {JobExecutionLog._meta.db_table} SET invoices_processed = %s, "
    "notifications_created = %s + {created}, already_notified = %s, error_count = %s WHERE id = %s"
)


class InvalidAsOf(ValueError):
    """The run was asked to judge a date it may not (before 1900, or in the future for a real run)."""


class SlotAlreadyRun(Exception):
    """The schedule slot already has its run (a redelivered task, or a local hour repeated by DST)."""


class RunProgress(Protocol):
    def start(self, total: int) -> None: ...
    def advance(self, invoices: int) -> None: ...


@dataclass(frozen=True)
class RunPlan:
    as_of: date
    batch_size: int
    thresholds: tuple[int, ...]
    dry_run: bool
    escalation: Escalation = Escalation.HIGHEST
    # The endpoints that receive ``reminder.final``, read once per run: none, no event is written.
    final_endpoints: tuple[int, ...] = ()


@dataclass
class BatchOutcome:
    processed: int = 0
    created: int = 0
    already_notified: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


def slot_key(scheduled_for: datetime, zone: ZoneInfo) -> str:
    """The slot's wall-clock time in the schedule's zone: both instants of a repeated DST hour share it."""
    return scheduled_for.astimezone(zone).replace(tzinfo=None).isoformat(timespec="minutes")


def overdue_check_run(
    *,
    triggered_by: str,
    as_of: date | None = None,
    batch_size: int | None = None,
    dry_run: bool = False,
    scheduled_for: datetime | None = None,
    config: OverdueConfig | None = None,
    progress: RunProgress | None = None,
    request_id: str | None = None,
) -> JobExecutionLog:
    """Run the overdue check once and return its finished log.

    Guarantees: at most one notification per (invoice, level); each batch commits its notifications
    and the log's counters together; the run lock is released and the log finished on every path.
    A run that finds the lock taken ends ``skipped``. Raises, before any log row: ``InvalidAsOf`` for a
    date before 1900-01-01 or, for a real run, after today in the zone; ``SlotAlreadyRun`` when
    ``scheduled_for`` names a slot that already has a run. ``Interrupted`` (SIGTERM, SIGINT) ends the log
    ``failed`` naming the signal, and is raised again.
    """
    config = config or load_overdue_config()
    if as_of and (problem := as_of_problem(as_of, today=today(config), dry_run=dry_run)):
        raise InvalidAsOf(problem)
    plan = RunPlan(
        as_of=as_of or today(config),
        batch_size=batch_size or config.batch_size,
        thresholds=config.reminder_days,
        dry_run=dry_run,
        escalation=config.escalation,
        final_endpoints=() if dry_run else tuple(subscribed_endpoints(EventType.REMINDER_FINAL)),
    )
    log = _log_start(
        plan,
        triggered_by=triggered_by,
        scheduled_for=scheduled_for,
        zone=config.timezone,
        request_id=request_id,
    )
    lock = run_lock_for_database()
    try:
        return _run(log, plan, lock, progress)
    finally:
        _release(lock, log)


def _log_start(
    plan: RunPlan,
    *,
    triggered_by: str,
    scheduled_for: datetime | None,
    zone: ZoneInfo,
    request_id: str | None = None,
) -> JobExecutionLog:
    key = slot_key(scheduled_for, zone) if scheduled_for else None
    try:
        with transaction.atomic():
            log = JobExecutionLog.objects.create(
                triggered_by=triggered_by,
                as_of=plan.as_of,
                dry_run=plan.dry_run,
                batch_size=plan.batch_size,
                reminder_days=",".join(map(str, plan.thresholds)),
                started_at=timezone.now(),
                host=socket.gethostname(),
                pid=os.getpid(),
                scheduled_for=scheduled_for,
                slot_key=key,
                request_id=request_id,
            )
    except IntegrityError as exc:
        if key and JobExecutionLog.objects.filter(slot_key=key).exists():
            raise SlotAlreadyRun(f"The slot {key} ({zone.key}) already has a run.") from exc
        raise
    logger.info(
        "Run #%s started: as_of=%s batch_size=%s reminder_days=%s escalation=%s dry_run=%s triggered_by=%s",
        log.pk,
        plan.as_of,
        plan.batch_size,
        log.reminder_days,
        plan.escalation,
        plan.dry_run,
        triggered_by,
    )
    return log


def _run(log: JobExecutionLog, plan: RunPlan, lock: RunLock, progress: RunProgress | None) -> JobExecutionLog:
    try:
        lock.hold_liveness(log.pk)
        # A dry run writes no notification, so it needs no lock and may run beside a real run.
        if not plan.dry_run:
            if not lock.acquire():
                logger.info("Run #%s skipped: another run holds the lock.", log.pk)
                return _finish(log, RunStatus.SKIPPED)
            _abandon_dead_runs(lock, log)
        _walk(log, plan, progress)
    except Exception:
        logger.exception("Run #%s failed.", log.pk)
        _finish_failed(log, traceback.format_exc())
        return log
    except BaseException as exc:
        # Ctrl-C or SIGTERM: the log must not stay `running` forever.
        _finish_failed(log, f"Run #{log.pk} {exc or type(exc).__name__}.\n{traceback.format_exc()}")
        raise
    status = RunStatus.COMPLETED_WITH_ERRORS if log.error_count else RunStatus.COMPLETED
    return _finish(log, status)


def _abandon_dead_runs(lock: RunLock, log: JobExecutionLog) -> None:
    """Mark ``abandoned`` the running logs of processes that died. We hold the run lock, so no live real
    run can be mid-batch; a run still alive (a dry run, or one about to be skipped) keeps its status."""
    others = JobExecutionLog.objects.filter(status=RunStatus.RUNNING).exclude(pk=log.pk)
    for other in others.only("id", "host", "pid"):
        if lock.is_alive(log_id=other.pk, host=other.host, pid=other.pid):
            continue
        note = (
            f"Its process (pid {other.pid} on {other.host}) stopped before finishing; found by run #{log.pk}."
        )
        marked = JobExecutionLog.objects.filter(pk=other.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.ABANDONED, finished_at=timezone.now(), traceback=note
        )
        if marked:
            logger.warning("Run #%s marked abandoned: %s", other.pk, note)


def _walk(log: JobExecutionLog, plan: RunPlan, progress: RunProgress | None) -> None:
    """Keyset batches over the overdue invoices that reached the first threshold (``id > last``)."""
    reminders = ReminderPlan(
        as_of=plan.as_of, thresholds=plan.thresholds, size=plan.batch_size, escalation=plan.escalation
    )
    if progress:
        progress.start(reminders.candidates())
    last_id = 0
    while True:
        last_id, size = _run_batch(log, plan, reminders, last_id)
        if progress:
            progress.advance(size)
        if size < plan.batch_size:
            return


def _run_batch(
    log: JobExecutionLog, plan: RunPlan, reminders: ReminderPlan, after_id: int
) -> tuple[int, int]:
    """One batch in one transaction: read, insert, count. If it fails, retry it invoice by invoice."""
    try:
        totals, last_id, size = _batch_together(log, plan, reminders, after_id)
    except Exception as exc:
        if _connection_lost(exc):
            raise
        logger.warning(
            "Run #%s: batch after invoice id %s failed (%s); retrying invoice by invoice.",
            log.pk,
            after_id,
            _describe(exc),
        )
        totals, last_id, size = _batch_one_by_one(log, plan, reminders, after_id)
    # Counted in memory only once the batch committed: a rolled-back batch is not counted twice.
    for name, value in totals.items():
        setattr(log, name, value)
    return last_id, size


def _batch_together(
    log: JobExecutionLog, plan: RunPlan, reminders: ReminderPlan, after_id: int
) -> tuple[dict[str, Any], int, int]:
    for attempt in range(1, BATCH_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                if reminders.reminds_in_one_statement and not plan.dry_run:
                    return _batch_in_one_statement(log, plan, reminders, after_id)
                batch = reminders.batch_after(after_id)
                totals = _notify_and_record(log, plan, reminders, batch)
            return totals, batch.last_id or after_id, len(batch.rows)
        except OperationalError as exc:
            if _connection_lost(exc) or attempt == BATCH_ATTEMPTS:
                raise
            logger.info(
                "Run #%s: batch after id %s met %s; trying it again.", log.pk, after_id, _describe(exc)
            )
    raise AssertionError("unreachable")


def _batch_in_one_statement(
    log: JobExecutionLog, plan: RunPlan, reminders: ReminderPlan, after_id: int
) -> tuple[dict[str, Any], int, int]:
    """The batch read, judged, inserted and counted by one statement (``ReminderPlan.remind_batch``);
    ``reminder.final`` events a second one, when an endpoint wants them and a reminder is final."""

    def counters(counts: dict[str, str]) -> tuple[str, list[Any]]:
        values = [getattr(log, name) for name in COUNTERS]
        return COUNTERS_AFTER_BATCH.format(**counts), [*values, log.pk]

    done = reminders.remind_batch(after_id, run_id=log.pk, then=counters)
    if done.finals and plan.final_endpoints:
        final_reminders_emit(
            run_id=log.pk,
            threshold_days=plan.thresholds[-1],
            invoice_ids=done.finals,
            endpoints=list(plan.final_endpoints),
        )
    outcome = BatchOutcome(
        processed=done.examined, created=done.created, already_notified=done.examined - done.owed
    )
    return _totals(log, outcome), done.last_id or after_id, done.examined


def _notify_and_record(
    log: JobExecutionLog, plan: RunPlan, reminders: ReminderPlan, batch: Batch
) -> dict[str, Any]:
    """``_notify`` then ``_record``, with the counters written by the insert's own statement: one round
    trip for both, and they still commit together."""
    if plan.dry_run or not batch.owed:
        return _record(log, _notify(log, plan, reminders, batch))
    outcome = BatchOutcome(processed=len(batch.rows), already_notified=batch.already_notified)

    def counters(created: str) -> tuple[str, list[Any]]:
        before = _totals(log, outcome)  # outcome.created is still 0: the statement adds its own count
        values = [before[name] for name in COUNTERS]
        return COUNTERS_AFTER_INSERT.format(created=created), [*values, log.pk]

    outcome.created = reminders_insert(plan=reminders, owed=batch.owed, run_id=log.pk, then=counters)
    _final_events(log, plan, batch)
    return _totals(log, outcome)


def _notify(log: JobExecutionLog, plan: RunPlan, reminders: ReminderPlan, batch: Batch) -> BatchOutcome:
    if plan.dry_run:
        created = len(batch.owed)
    else:
        created = reminders_insert(plan=reminders, owed=batch.owed, run_id=log.pk)
        _final_events(log, plan, batch)
    return BatchOutcome(processed=len(batch.rows), created=created, already_notified=batch.already_notified)


def _final_events(log: JobExecutionLog, plan: RunPlan, batch: Batch) -> None:
    """``reminder.final`` for the batch's new reminders at the highest threshold, in the batch's
    transaction: one statement, and none when no endpoint wants them or none is final."""
    top = plan.thresholds[-1]
    finals = [reminder.invoice_id for reminder in batch.owed if reminder.threshold_days == top]
    if finals and plan.final_endpoints:
        final_reminders_emit(
            run_id=log.pk, threshold_days=top, invoice_ids=finals, endpoints=list(plan.final_endpoints)
        )


def _batch_one_by_one(
    log: JobExecutionLog, plan: RunPlan, reminders: ReminderPlan, after_id: int
) -> tuple[dict[str, Any], int, int]:
    """The batch again, each invoice read and reminded in its own savepoint, so that a row the driver
    cannot load, or a reminder the database refuses, is that invoice's error alone."""
    with transaction.atomic():
        ids = reminders.ids_after(after_id)
        outcome = BatchOutcome()
        for invoice_id in ids:
            _notify_one(log, plan, reminders, invoice_id, outcome)
        totals = _record(log, outcome)
    return totals, (ids[-1] if ids else after_id), len(ids)


def _notify_one(
    log: JobExecutionLog, plan: RunPlan, reminders: ReminderPlan, invoice_id: int, outcome: BatchOutcome
) -> None:
    try:
        with transaction.atomic():  # a savepoint: one bad invoice rolls back only itself
            part = _notify(log, plan, reminders, reminders.batch_of(invoice_id))
    except Exception as exc:
        if _connection_lost(exc):
            raise
        _invoice_failed(log, invoice_id, exc, outcome)
        return
    outcome.processed += part.processed
    outcome.created += part.created
    outcome.already_notified += part.already_notified


def _invoice_failed(log: JobExecutionLog, invoice_id: int, exc: Exception, outcome: BatchOutcome) -> None:
    error = _describe(exc)
    number = _invoice_number(invoice_id)
    outcome.processed += 1
    outcome.errors.append({"invoice_id": invoice_id, "number": number, "error": error})
    logger.error("Run #%s: invoice %s (id %s) failed: %s", log.pk, number, invoice_id, error)


def _invoice_number(invoice_id: int) -> str:
    """The invoice's number for the run's errors; its other columns may be what cannot be read."""
    with transaction.atomic():
        return Invoice.objects.filter(pk=invoice_id).values_list("number", flat=True).first() or ""


def _describe(exc: Exception) -> str:
    """The error's first line only: PostgreSQL adds a DETAIL line with the refused row, which holds the
    customer's email and name, and a run log keeps no customer data beyond invoice id and number."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def _record(log: JobExecutionLog, outcome: BatchOutcome) -> dict[str, Any]:
    """Write the run's new totals in the batch's transaction; only this run writes its log."""
    totals = _totals(log, outcome)
    if outcome.errors:
        totals["errors"] = [*log.errors, *outcome.errors]
        JobExecutionLog.objects.filter(pk=log.pk).update(**totals)
        return totals
    with connection.cursor() as cursor:
        cursor.execute(COUNTERS_UPDATE, [*(totals[name] for name in COUNTERS), log.pk])
    return totals


def _totals(log: JobExecutionLog, outcome: BatchOutcome) -> dict[str, Any]:
    return {
        "invoices_processed": log.invoices_processed + outcome.processed,
        "notifications_created": log.notifications_created + outcome.created,
        "already_notified": log.already_notified + outcome.already_notified,
        "error_count": log.error_count + len(outcome.errors),
    }


def _finish(log: JobExecutionLog, status: str, tb: str = "") -> JobExecutionLog:
    log.status, log.finished_at, log.traceback = status, timezone.now(), tb
    JobExecutionLog.objects.filter(pk=log.pk).update(status=status, finished_at=log.finished_at, traceback=tb)
    logger.info(
        "%s #%s %s: %s invoices examined, %s notifications %s, %s already notified, %s errors.",
        "Dry run" if log.dry_run else "Run",
        log.pk,
        status,
        log.invoices_processed,
        log.notifications_created,
        "would be created" if log.dry_run else "created",
        log.already_notified,
        log.error_count,
    )
    if not log.dry_run:
        _run_event(log)
    return log


def run_event_data(log: JobExecutionLog) -> dict[str, Any]:
    """What ``run.finished`` and ``run.failed`` say of a run: its status and counters."""
    run: dict[str, Any] = {
        "id": log.pk,
        "status": log.status,
        "as_of": log.as_of.isoformat(),
        "triggered_by": log.triggered_by,
        "started_at": log.started_at.isoformat(),
        "finished_at": log.finished_at.isoformat() if log.finished_at else None,
        **{name: getattr(log, name) for name in COUNTERS},
    }
    if log.status == RunStatus.FAILED:
        lines = log.traceback.strip().splitlines()
        run["error"] = lines[-1] if lines else ""
    return {"run": run}


def _run_event(log: JobExecutionLog) -> None:
    """Queue ``run.finished`` (or ``run.failed``); a database that fails here leaves the run's own
    record as it is, and says so in the log."""
    kind = EventType.RUN_FAILED if log.status == RunStatus.FAILED else EventType.RUN_FINISHED
    try:
        with transaction.atomic():
            emit(kind, run_event_data(log), at=log.finished_at)
    except DatabaseErrors:
        logger.exception("Run #%s: its %s event could not be queued.", log.pk, kind)


def _finish_failed(log: JobExecutionLog, tb: str) -> None:
    try:
        _finish(log, RunStatus.FAILED, tb)
        return
    except DatabaseError:
        if connection.in_atomic_block:
            raise
    # The connection died with the run: a new one can still record why.
    connection.close()
    try:
        _finish(log, RunStatus.FAILED, tb)
    except DatabaseError:
        logger.exception("Run #%s failed and its log could not be written; the cause:\n%s", log.pk, tb)


def _release(lock: RunLock, log: JobExecutionLog) -> None:
    try:
        lock.release()
    except DatabaseError:
        # The session is gone, and its advisory locks with it.
        logger.warning("Run #%s: lock release failed; the lock ended with its database session.", log.pk)
