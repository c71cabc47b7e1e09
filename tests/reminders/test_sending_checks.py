"""With debug off, sending refuses to start while EMAIL_URL is unset (SPEC §10): files are the default
only for the demo and development."""

from __future__ import annotations

import subprocess

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.environment import EML_FOLDER_BACKEND, SMTP_BACKEND
from reminders.checks import EMAIL_URL_UNSET, FILES_BACKEND, email_url_check, sending_problems
from scheduler.tasks import send_reminders_task
from tests.processes import needs_postgresql, run_manage
from tests.reminders.outbox import pending_reminders, unsent


@pytest.fixture
def files_by_default(settings):
    """The settings a production process gets when nobody set EMAIL_URL."""
    settings.DEBUG = False
    settings.EMAIL_URL_IS_SET = False
    settings.EMAIL_BACKEND = EML_FOLDER_BACKEND
    return settings


def test_the_check_looks_for_the_backend_the_files_default_selects():
    assert FILES_BACKEND == EML_FOLDER_BACKEND


def test_unset_email_url_with_debug_off_is_an_error_naming_it_and_what_is_allowed(files_by_default):
    [error] = email_url_check(None)
    assert error.id == "reminders.E001"
    assert error.msg.startswith("EMAIL_URL is not set while DJANGO_DEBUG is off")
    assert "smtp+tls://user:password@host:587" in error.msg
    assert "filemail:///sent-mail" in error.msg
    assert sending_problems() == [EMAIL_URL_UNSET]


def test_files_are_allowed_in_debug(files_by_default):
    files_by_default.DEBUG = True
    assert email_url_check(None) == []


def test_files_are_allowed_when_email_url_asks_for_them(files_by_default):
    files_by_default.EMAIL_URL_IS_SET = True
    assert email_url_check(None) == []


def test_a_mail_server_is_allowed(files_by_default):
    files_by_default.EMAIL_URL_IS_SET = True
    files_by_default.EMAIL_BACKEND = SMTP_BACKEND
    assert sending_problems() == []


@pytest.mark.django_db
def test_the_cluster_task_refuses_to_send_and_sends_nothing(files_by_default):
    pending_reminders(2)
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL is not set"):
        send_reminders_task()
    assert unsent() == 2


def run_without_email_url(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_manage(*args, **{"DJANGO_DEBUG": "0", **env, "EMAIL_URL": None})


@pytest.mark.processes
def test_check_deploy_names_email_url():
    result = run_without_email_url("check", "--deploy")
    assert result.returncode == 1
    assert "reminders.E001" in result.stderr
    assert "EMAIL_URL is not set while DJANGO_DEBUG is off" in result.stderr


@pytest.mark.processes
def test_plain_check_and_other_commands_are_not_refused():
    assert run_without_email_url("check").returncode == 0


@pytest.mark.processes
@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_send_reminders_exits_2_naming_email_url_and_sends_nothing():
    pending_reminders(2)
    result = run_without_email_url("send_reminders")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Sending refused:\n  - EMAIL_URL is not set while DJANGO_DEBUG is off" in result.stderr
    assert unsent() == 2


@pytest.mark.processes
@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_send_reminders_writes_files_when_email_url_asks_for_them(tmp_path):
    pending_reminders(2)
    result = run_manage("send_reminders", DJANGO_DEBUG="0", EMAIL_URL=f"filemail:///{tmp_path}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list(tmp_path.glob("*.eml"))) == 2


@pytest.mark.processes
@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_send_reminders_starts_in_debug_without_email_url():
    result = run_without_email_url("send_reminders", DJANGO_DEBUG="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Messages: 0 sent" in result.stdout
