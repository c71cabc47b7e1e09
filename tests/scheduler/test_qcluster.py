"""End to end: a real ``qcluster`` process picks up the schedule written by ``sync_schedules`` and runs
the check, then stops cleanly on SIGTERM (docs/SPEC.md §6). Its heartbeat is visible from this process."""

import signal
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_q.models import Schedule
from django_q.status import Stat

from reminders.models import Notification
from scheduler.models import JobExecutionLog, RunStatus
from scheduler.schedules import SCHEDULE_NAME
from tests.invoicing.factories import InvoiceFactory
from tests.processes import needs_postgresql, run_manage, running_manage, wait_until

# django-q2's cluster looks at its schedules every 30 s; then the run itself takes a moment.
RUN_SEEN_WITHIN = 90
STOPS_WITHIN = 30

pytestmark = [pytest.mark.processes, needs_postgresql, pytest.mark.django_db(transaction=True)]


def heartbeat_visible() -> bool:
    """What the web process sees: the cluster's heartbeat, read from the shared database cache."""
    return bool(Stat.get_all())


def scheduled_run_completed() -> bool:
    return JobExecutionLog.objects.filter(triggered_by="schedule", status=RunStatus.COMPLETED).exists()


def stop(cluster: subprocess.Popen[str]) -> int | None:
    """SIGTERM, as a process manager stops the cluster; its exit code, or None if it did not stop."""
    cluster.send_signal(signal.SIGTERM)
    try:
        return cluster.wait(timeout=STOPS_WITHIN)
    except subprocess.TimeoutExpired:
        return None


def test_cluster_runs_the_due_schedule_and_stops_cleanly(tmp_path: Path) -> None:
    invoices = InvoiceFactory.create_batch(5)
    synced = run_manage("sync_schedules")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    slot = timezone.now().replace(microsecond=0) - timedelta(minutes=1)
    Schedule.objects.filter(name=SCHEDULE_NAME).update(next_run=slot)

    output_path = tmp_path / "qcluster.log"
    with output_path.open("w") as output, running_manage("qcluster", output=output) as cluster:
        alive = wait_until(heartbeat_visible, timeout=RUN_SEEN_WITHIN)
        # The command reads the heartbeat another process writes every few seconds: under load the first
        # one it sees may still be the cluster's "starting" one.
        wait_until(lambda: run_manage("cluster_health").returncode == 0, timeout=RUN_SEEN_WITHIN)
        healthy = run_manage("cluster_health")
        seen = wait_until(scheduled_run_completed, timeout=RUN_SEEN_WITHIN)
        returncode = stop(cluster)
    after_stop = run_manage("cluster_health")
    log = output_path.read_text()

    assert alive, f"no cluster heartbeat in the shared cache; cluster output:\n{log}"
    assert seen, f"no completed scheduled run within {RUN_SEEN_WITHIN} s; cluster output:\n{log}"
    assert returncode == 0, f"cluster exit code {returncode} after SIGTERM; output:\n{log}"
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert (after_stop.returncode, after_stop.stdout) == (1, ""), after_stop.stderr
    run = JobExecutionLog.objects.get(triggered_by="schedule")
    assert run.scheduled_for == slot
    assert set(Notification.objects.filter(run_id=run.pk).values_list("invoice", flat=True)) == {
        invoice.pk for invoice in invoices
    }
    assert Schedule.objects.get(name=SCHEDULE_NAME).next_run > timezone.now()
