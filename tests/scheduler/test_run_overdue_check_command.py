from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from reminders.models import Notification
from scheduler.config import today
from scheduler.models import JobExecutionLog, RunStatus
from tests.invoicing.factories import InvoiceFactory
from tests.processes import manage_command, needs_postgresql, process_env, run_manage

AS_OF = "2026-03-15"


def call(*args: str) -> str:
    out = StringIO()
    call_command("run_overdue_check", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_prints_a_one_line_summary_of_what_it_did():
    InvoiceFactory.create_batch(3, due_date=InvoiceFactory.due_date - timedelta(days=400))
    output = call("--as-of", AS_OF)
    log = JobExecutionLog.objects.get()
    assert output.strip() == (
        f"Run #{log.pk} completed (as of 2026-03-15): 3 invoices examined, 3 reminders created, "
        f"0 already notified, 0 errors in {log.duration_seconds:.2f} s."
    )
    assert log.triggered_by == JobExecutionLog.Trigger.COMMAND


@pytest.mark.django_db
def test_dry_run_says_what_would_be_created_and_creates_nothing():
    InvoiceFactory(due_date=InvoiceFactory.due_date - timedelta(days=400))
    output = call("--as-of", AS_OF, "--dry-run")
    assert "Dry run" in output
    assert "1 reminders would be created" in output
    assert Notification.objects.count() == 0


@pytest.mark.django_db
def test_batch_size_argument_overrides_the_configured_one():
    call("--as-of", AS_OF, "--batch-size", "7")
    assert JobExecutionLog.objects.get().batch_size == 7


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "--batch-size: '0' is not allowed; expected a whole number from 1 to 10000"),
        (["--batch-size", "10001"], "from 1 to 10000"),
        (["--as-of", "2026-02-30"], "--as-of: '2026-02-30' is not allowed; expected a date YYYY-MM-DD"),
        (["--as-of", "2026-W01-1"], "--as-of: '2026-W01-1' is not allowed; expected a date YYYY-MM-DD"),
        (["--as-of", "20261201"], "--as-of: '20261201' is not allowed; expected a date YYYY-MM-DD"),
        (["--as-of", "\uff12\uff10\uff12\uff16-01-01"], "is not allowed; expected a date YYYY-MM-DD"),
        (["--as-of", "0001-01-01"], "expected a date YYYY-MM-DD from 1900-01-01 to 9999-12-31"),
        (["--as-of", "1899-12-31"], "expected a date YYYY-MM-DD from 1900-01-01 to 9999-12-31"),
    ],
)
def test_bad_arguments_are_refused_before_any_log_is_written(args, message):
    with pytest.raises(CommandError, match=message):
        call(*args)
    assert not JobExecutionLog.objects.exists()


def _days_from_today(days: int) -> str:
    return (today() + timedelta(days=days)).isoformat()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1,), "a real run judges today"),
        ((3650,), "a real run judges today"),
        ((3700, "--dry-run"), "a dry run looks ahead at most to"),
    ],
)
def test_a_date_a_run_may_not_judge_exits_2_before_any_log_is_written(args, message):
    """A future as-of would remind invoices not yet due and silence their real reminders later."""
    days, *rest = args  # counted from today when the test runs, not when it was collected
    with pytest.raises(CommandError, match=message) as refused:
        call("--as-of", _days_from_today(days), *rest)
    assert refused.value.returncode == 2
    assert not JobExecutionLog.objects.exists()
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_a_dry_run_may_look_ahead():
    InvoiceFactory(due_date=today() + timedelta(days=10))
    output = call("--as-of", _days_from_today(40), "--dry-run")
    assert "1 reminders would be created" in output
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_a_failed_run_exits_with_status_one():
    InvoiceFactory(due_date=InvoiceFactory.due_date - timedelta(days=400))
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE invoicing_customer RENAME COLUMN email TO email_gone")
    with pytest.raises(CommandError, match="failed") as failure:
        call("--as-of", AS_OF)
    assert failure.value.returncode == 1
    assert JobExecutionLog.objects.get().status == RunStatus.FAILED


@needs_postgresql
@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--batch-size", "x"], {}, "--batch-size"),
        (["--as-of", "yesterday"], {}, "--as-of"),
        ([], {"OVERDUE_INVOICE_BATCH_SIZE": "0"}, "OVERDUE_INVOICE_BATCH_SIZE='0'"),
        ([], {"OVERDUE_INVOICE_TIMEZONE": "Mars/Olympus"}, "OVERDUE_INVOICE_TIMEZONE='Mars/Olympus'"),
    ],
)
def test_the_command_exits_2_naming_a_bad_argument_or_variable(args, env, named):
    result = run_manage("run_overdue_check", *args, **env)
    assert result.returncode == 2
    assert named in result.stderr
    assert not JobExecutionLog.objects.exists()


@needs_postgresql
@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_without_a_terminal_progress_goes_to_log_lines():
    InvoiceFactory.create_batch(20, due_date=InvoiceFactory.due_date - timedelta(days=400))
    result = run_manage("run_overdue_check", "--as-of", AS_OF, "--batch-size", "2")
    assert result.returncode == 0, result.stderr
    assert "Overdue check: 20 invoices to examine." in result.stdout
    assert "Overdue check: 10 of 20 invoices examined." in result.stdout
    assert "\r" not in result.stdout  # no progress bar drawn into a log


@needs_postgresql
@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_on_a_terminal_a_progress_bar_is_drawn():
    InvoiceFactory.create_batch(20, due_date=InvoiceFactory.due_date - timedelta(days=400))
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # 24 rows, 120 columns
    try:
        process = subprocess.Popen(
            manage_command("run_overdue_check", "--as-of", AS_OF, "--batch-size", "5"),
            env=process_env(),
            stdout=follower,
            stderr=subprocess.DEVNULL,
        )
        os.close(follower)
        screen = read_all(leader)
        assert process.wait(timeout=60) == 0
    finally:
        os.close(leader)
    assert "Overdue check: 100%" in screen
    assert "20/20" in screen
    assert "reminders created" in screen


def read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")
