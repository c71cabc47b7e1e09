"""The send window with real ``send_reminders`` processes on PostgreSQL (docs/SPEC.md §13, P29): outside
the window nothing reaches the mail server, the command says when the window opens and exits 0; inside it
the same reminders go out; a bad window or holiday country refuses to start, naming variable and value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.processes import needs_postgresql, run_manage
from tests.reminders.outbox import pending_reminders, sent_reminders, unsent

pytestmark = [pytest.mark.processes, needs_postgresql, pytest.mark.django_db(transaction=True)]


def sender_env(server, **extra: str) -> dict[str, str]:
    return {
        "EMAIL_URL": server.url,
        "DEFAULT_FROM_EMAIL": "billing@shop.example",
        "OVERDUE_INVOICE_TIMEZONE": "Europe/Berlin",
        **extra,
    }


def shut_today() -> str:
    """A window of one weekday two days off: shut now (in any zone) and for the rest of the test."""
    return (datetime.now(UTC) + timedelta(days=2)).strftime("%a").lower() + " 08:00-18:00"


def test_outside_the_window_nothing_is_sent_and_the_sender_exits_0_saying_when_it_opens(smtp_server):
    pending_reminders(3)
    window = shut_today()
    result = run_manage("send_reminders", **sender_env(smtp_server, REMINDER_SEND_WINDOW=window))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"Outside the send window {window} (Europe/Berlin): nothing is sent now;")
    assert " 08:00 CE" in result.stdout  # CET or CEST, with the zone named after it
    assert result.stdout.rstrip().endswith("(Europe/Berlin).")
    assert smtp_server.messages() == []
    assert unsent() == 3

    result = run_manage("send_reminders", **sender_env(smtp_server, REMINDER_SEND_WINDOW="always"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(smtp_server.messages()) == 3
    assert sent_reminders() == 3


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        (
            "REMINDER_SEND_WINDOW",
            "weekdays 8-18",
            "REMINDER_SEND_WINDOW='weekdays 8-18' is invalid: expected",
        ),
        (
            "REMINDER_SEND_WINDOW",
            "mon-fri 18:00-08:00",
            "REMINDER_SEND_WINDOW='mon-fri 18:00-08:00' is invalid",
        ),
        ("REMINDER_HOLIDAYS", "XX", "REMINDER_HOLIDAYS='XX' is invalid: 'XX' is not a country"),
        (
            "REMINDER_HOLIDAYS",
            "DE-XY",
            "REMINDER_HOLIDAYS='DE-XY' is invalid: 'XY' is not a subdivision of DE",
        ),
    ],
)
def test_a_bad_window_or_holiday_country_refuses_to_start_naming_variable_and_value(
    smtp_server, variable, value, named
):
    pending_reminders(1)
    result = run_manage("send_reminders", **sender_env(smtp_server, **{variable: value}))
    assert result.returncode == 2
    assert named in result.stderr + result.stdout
    assert smtp_server.messages() == []
