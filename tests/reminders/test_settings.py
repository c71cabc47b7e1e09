"""Delivery settings (SPEC §10): read strictly; a bad value names the variable, value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.environment import EML_FOLDER_BACKEND, SMTP_BACKEND, StrictEnv
from tests.processes import run_manage

BASE = Path("/srv/app")


def email_settings(url: str | None) -> tuple[dict, list[str]]:
    env = StrictEnv({} if url is None else {"EMAIL_URL": url})
    return env.email_url("EMAIL_URL", default="filemail:///sent-mail", base_dir=BASE), env.problems


def test_default_writes_eml_files_into_the_repository_folder() -> None:
    config, problems = email_settings(None)
    assert problems == []
    assert config["EMAIL_BACKEND"] == EML_FOLDER_BACKEND
    assert config["EMAIL_FILE_PATH"] == "/srv/app/sent-mail"


def test_smtp_url_gives_host_port_credentials_tls_and_timeout() -> None:
    config, problems = email_settings("smtp+tls://mailer:s3cret@smtp.example.com:587?timeout=12")
    assert problems == []
    assert config["EMAIL_BACKEND"] == SMTP_BACKEND
    assert (config["EMAIL_HOST"], config["EMAIL_PORT"]) == ("smtp.example.com", 587)
    assert (config["EMAIL_HOST_USER"], config["EMAIL_HOST_PASSWORD"]) == ("mailer", "s3cret")
    assert config["EMAIL_USE_TLS"] is True
    assert config["EMAIL_TIMEOUT"] == 12


def test_smtp_url_without_timeout_waits_30_seconds_at_most() -> None:
    config, _ = email_settings("smtp://127.0.0.1:2525")
    assert config["EMAIL_TIMEOUT"] == 30


def test_console_url_selects_the_console_backend() -> None:
    config, problems = email_settings("consolemail://")
    assert problems == []
    assert config["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


@pytest.mark.parametrize(
    "url", ["gopher://mail.example.com", "smtp://", "not a url", "smtp://host:25?timeout=0"]
)
def test_invalid_email_url_is_a_problem_naming_variable_and_schemes(url: str) -> None:
    config, problems = email_settings(url)
    assert len(problems) == 1
    assert problems[0].startswith(f"EMAIL_URL={url!r} is invalid: expected a URL with one of the schemes")
    assert "smtp+tls://" in problems[0]
    assert config["EMAIL_BACKEND"] == EML_FOLDER_BACKEND


def test_invalid_email_url_problem_does_not_show_the_password() -> None:
    _, problems = email_settings("smtpx://mailer:s3cret@smtp.example.com")
    assert "s3cret" not in problems[0]
    assert "mailer:***@smtp.example.com" in problems[0]


@pytest.mark.parametrize("value", ["Billing <billing@example.com>", "billing@example.com"])
def test_from_address_with_or_without_display_name(value: str) -> None:
    env = StrictEnv({"DEFAULT_FROM_EMAIL": value})
    assert env.email_address("DEFAULT_FROM_EMAIL", "x@localhost") == value
    assert env.problems == []


@pytest.mark.parametrize("value", ["billing", "Billing <billing@>", "a@example.com\r\nBcc: x@evil.example"])
def test_invalid_from_address_is_a_problem(value: str) -> None:
    env = StrictEnv({"DEFAULT_FROM_EMAIL": value})
    assert env.email_address("DEFAULT_FROM_EMAIL", "x@localhost") == "x@localhost"
    assert env.problems == [
        f"DEFAULT_FROM_EMAIL={value!r} is invalid: expected an email address such as "
        "Billing <billing@example.com>."
    ]


def test_bcc_is_a_list_of_addresses_or_empty() -> None:
    assert StrictEnv({}).email_list("REMINDER_BCC") == []
    env = StrictEnv({"REMINDER_BCC": "office@example.com, audit@example.com"})
    assert env.email_list("REMINDER_BCC") == ["office@example.com", "audit@example.com"]
    bad = StrictEnv({"REMINDER_BCC": "office@example.com, nobody"})
    assert bad.email_list("REMINDER_BCC") == []
    assert bad.problems[0].startswith("REMINDER_BCC='office@example.com, nobody' is invalid")


@pytest.mark.parametrize(
    ("value", "allowed"), [("0", "from 1 to 50"), ("51", "from 1 to 50"), ("five", "from 1")]
)
def test_max_attempts_out_of_range_is_a_problem(value: str, allowed: str) -> None:
    env = StrictEnv({"REMINDER_MAX_ATTEMPTS": value})
    assert env.integer("REMINDER_MAX_ATTEMPTS", default=5, minimum=1, maximum=50) == 5
    assert allowed in env.problems[0]


@pytest.mark.processes
def test_send_reminders_refuses_an_invalid_email_url_with_exit_2() -> None:
    result = run_manage("send_reminders", EMAIL_URL="gopher://mail.example.com")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "EMAIL_URL='gopher://mail.example.com' is invalid" in result.stderr


@pytest.mark.processes
@pytest.mark.parametrize("value", ["0", "17", "two"])
def test_send_reminders_refuses_connections_outside_1_to_16_with_exit_2(value: str) -> None:
    result = run_manage("send_reminders", REMINDER_SEND_CONNECTIONS=value)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"REMINDER_SEND_CONNECTIONS={value!r} is invalid" in result.stderr
    assert "from 1 to 16" in result.stderr or "whole number" in result.stderr


@pytest.mark.processes
@pytest.mark.parametrize("value", ["customers", "Invoice", ""])
def test_check_names_a_grouping_other_than_customer_or_invoice(value: str) -> None:
    result = run_manage("check", REMINDER_GROUPING=value)
    assert result.returncode != 0, result.stdout + result.stderr
    assert f"REMINDER_GROUPING={value!r} is invalid: allowed values are customer, invoice" in result.stderr


@pytest.mark.processes
def test_check_accepts_either_grouping() -> None:
    for value in ("customer", "invoice"):
        result = run_manage("check", REMINDER_GROUPING=value)
        assert result.returncode == 0, result.stdout + result.stderr


# --- a provider through django-anymail (SPEC §14) --------------------------------------------------------


def test_anymail_url_chooses_the_providers_backend() -> None:
    config, problems = email_settings("anymail://postmark")
    assert problems == []
    assert config["EMAIL_BACKEND"] == "anymail.backends.postmark.EmailBackend"
    assert email_settings("anymail://mailgun")[0]["EMAIL_BACKEND"] == "anymail.backends.mailgun.EmailBackend"


@pytest.mark.parametrize("url", ["anymail://postmarc", "anymail://", "anymail://base_requests"])
def test_an_unknown_provider_is_a_problem_naming_the_value_and_the_supported_ones(url: str) -> None:
    config, problems = email_settings(url)
    assert len(problems) == 1
    assert f"EMAIL_URL={url!r}" in problems[0]
    assert "postmark" in problems[0].split("expected", 1)[1]
    assert "amazon_ses" in problems[0]
    assert "base_requests," not in problems[0]
    assert config["EMAIL_BACKEND"] == EML_FOLDER_BACKEND  # only so that the problem can be reported


def test_every_anymail_variable_becomes_anymails_setting() -> None:
    env = StrictEnv(
        {
            "ANYMAIL_POSTMARK_SERVER_TOKEN": "token-1",
            "ANYMAIL_POSTMARK_API_URL": "http://127.0.0.1:9/",
            "ANYMAIL_WEBHOOK_SECRET": "hook:s3cret",
            "ANYMAIL_REQUESTS_TIMEOUT": "12",
            "ANYMAIL_IGNORE_UNSUPPORTED_FEATURES": "yes",
            "ANYMAIL_": "ignored: no name",
            "NOT_ANYMAIL_X": "ignored",
        }
    )
    assert env.anymail() == {
        "POSTMARK_SERVER_TOKEN": "token-1",
        "POSTMARK_API_URL": "http://127.0.0.1:9/",
        "WEBHOOK_SECRET": "hook:s3cret",
        "REQUESTS_TIMEOUT": 12,
        "IGNORE_UNSUPPORTED_FEATURES": True,
    }
    assert env.problems == []


def test_a_bad_typed_anymail_variable_is_a_problem_naming_it() -> None:
    env = StrictEnv({"ANYMAIL_REQUESTS_TIMEOUT": "soon"})
    env.anymail()
    assert env.problems == [
        "ANYMAIL_REQUESTS_TIMEOUT='soon' is invalid: expected a whole number of at least 1."
    ]


def test_check_refuses_a_provider_without_a_webhook_secret_when_debug_is_off() -> None:
    done = run_manage(
        "check", "--deploy", EMAIL_URL="anymail://postmark", ANYMAIL_POSTMARK_SERVER_TOKEN="token-1"
    )
    assert done.returncode != 0
    assert "reminders.E003" in done.stderr
    assert "ANYMAIL_WEBHOOK_SECRET is not set" in done.stderr
