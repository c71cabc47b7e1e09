"""P1: the configuration of docs/SPEC.md §5 parses, or fails naming the variable, its value and what is
allowed.

An invalid value is never replaced by a default: ``manage.py check`` fails and every command that needs
the configuration exits 2 with the same message.
"""

from datetime import date
from io import StringIO
from zoneinfo import ZoneInfo, available_timezones

import pytest
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import CommandError, SystemCheckError
from django.test import override_settings
from django_q.models import Schedule
from hypothesis import given, settings
from hypothesis import strategies as st

from reminders.rules import Escalation
from scheduler.config import (
    MAX_BATCH_SIZE,
    MAX_INTERVAL_HOURS,
    MAX_REMINDER_DAY,
    MIN_REMINDER_DAY,
    NOT_IANA_ZONES,
    ConfigError,
    OverdueConfig,
    as_of_problem,
    format_reminder_days,
    load_overdue_config,
    parse_overdue_config,
)
from scheduler.management.base import ConfiguredCommand
from tests.processes import run_manage
from tests.scheduler.oracle import DEFAULT_RAW

cron_field = st.one_of(st.just("*"), st.integers(1, 12).map(lambda step: f"*/{step}"))
crons = st.tuples(
    st.one_of(cron_field, st.integers(0, 59).map(str)),
    st.one_of(cron_field, st.integers(0, 23).map(str)),
    st.one_of(st.just("*"), st.integers(1, 28).map(str)),
    st.one_of(st.just("*"), st.integers(1, 12).map(str)),
    st.one_of(st.just("*"), st.integers(0, 6).map(str), st.just("MON-FRI")),
).map(" ".join)
schedules = st.one_of(
    st.tuples(st.just("cron"), crons),
    st.tuples(st.just("interval"), st.integers(1, MAX_INTERVAL_HOURS).map(str)),
)
zones = st.sampled_from(sorted(available_timezones() - NOT_IANA_ZONES))
# Negative and zero thresholds too: a courtesy reminder before or on the due date (docs/SPEC.md §13).
reminder_days = st.lists(
    st.integers(MIN_REMINDER_DAY, MAX_REMINDER_DAY), min_size=1, max_size=10, unique=True
).map(lambda days: format_reminder_days(tuple(sorted(days))))


def raw(**variables: str) -> dict[str, str]:
    """The default variables with some replaced; names drop the OVERDUE_INVOICE_ prefix."""
    return {**DEFAULT_RAW, **{f"OVERDUE_INVOICE_{name}": value for name, value in variables.items()}}


def the_problem(variables: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_overdue_config(variables)
    assert len(caught.value.problems) == 1, caught.value.problems
    return caught.value.problems[0]


@settings(max_examples=60, deadline=None)
@given(schedule=schedules, batch_size=st.integers(1, MAX_BATCH_SIZE), zone=zones, days=reminder_days)
def test_valid_settings_round_trip(schedule: tuple[str, str], batch_size: int, zone: str, days: str) -> None:
    schedule_type, schedule_value = schedule
    variables = raw(
        SCHEDULE_TYPE=schedule_type,
        SCHEDULE_VALUE=schedule_value,
        BATCH_SIZE=str(batch_size),
        TIMEZONE=zone,
        REMINDER_DAYS=days,
    )
    with override_settings(**variables):
        config = load_overdue_config()
    assert config == OverdueConfig(
        schedule_type=schedule_type,
        schedule_value=schedule_value,
        batch_size=batch_size,
        timezone=ZoneInfo(zone),
        reminder_days=tuple(int(day) for day in days.split(",")),
    )
    assert format_reminder_days(config.reminder_days) == days


def test_defaults_are_a_daily_midnight_utc_run_with_one_reminder() -> None:
    assert parse_overdue_config(DEFAULT_RAW) == OverdueConfig("cron", "0 0 * * *", 100, ZoneInfo("UTC"), (1,))


INVALID = [
    ("SCHEDULE_TYPE", "daily", {}, "allowed values are 'cron' and 'interval'"),
    ("SCHEDULE_TYPE", "", {}, "allowed values are 'cron' and 'interval'"),
    ("SCHEDULE_VALUE", "0 0 * *", {}, "cron expression of 5 fields"),
    ("SCHEDULE_VALUE", "61 0 * * *", {}, "cron expression of 5 fields"),
    ("SCHEDULE_VALUE", "0 0 * * * *", {}, "cron expression of 5 fields"),
    ("SCHEDULE_VALUE", "0 0 31 2 *", {}, "never fires"),
    ("SCHEDULE_VALUE", "0 " * 60 + "*", {}, "at most 100 characters"),
    (
        "SCHEDULE_VALUE",
        "0",
        {"SCHEDULE_TYPE": "interval"},
        f"whole number of hours from 1 to {MAX_INTERVAL_HOURS}",
    ),
    ("SCHEDULE_VALUE", "1.5", {"SCHEDULE_TYPE": "interval"}, "whole number of hours"),
    ("SCHEDULE_VALUE", str(MAX_INTERVAL_HOURS + 1), {"SCHEDULE_TYPE": "interval"}, "whole number of hours"),
    ("SCHEDULE_VALUE", "0 0 * * *", {"SCHEDULE_TYPE": "interval"}, "whole number of hours"),
    ("BATCH_SIZE", "0", {}, f"whole number from 1 to {MAX_BATCH_SIZE}"),
    ("BATCH_SIZE", str(MAX_BATCH_SIZE + 1), {}, "whole number from 1 to"),
    ("BATCH_SIZE", "1e3", {}, "whole number from 1 to"),
    ("BATCH_SIZE", "", {}, "whole number from 1 to"),
    ("BATCH_SIZE", "\u0663", {}, "whole number from 1 to"),
    ("TIMEZONE", "Mars/Olympus_Mons", {}, "IANA time zone name"),
    ("TIMEZONE", "europe/paris", {}, "IANA time zone name"),
    ("TIMEZONE", "UTC ", {}, "IANA time zone name"),
    ("TIMEZONE", "", {}, "IANA time zone name"),
    ("TIMEZONE", "localtime", {}, "IANA time zone name"),
    ("TIMEZONE", "Factory", {}, "IANA time zone name"),
    ("REMINDER_DAYS", "7,1", {}, "ascending whole numbers of days"),
    ("REMINDER_DAYS", "1,1", {}, "ascending whole numbers of days"),
    ("REMINDER_DAYS", "0,0", {}, "ascending whole numbers of days"),
    ("REMINDER_DAYS", "1,,7", {}, "ascending whole numbers of days"),
    ("REMINDER_DAYS", "", {}, "ascending whole numbers of days"),
    ("REMINDER_DAYS", "+3,7", {}, "ascending whole numbers of days"),
    ("REMINDER_DAYS", "- 3,7", {}, "ascending whole numbers of days"),
    ("REMINDER_DAYS", "--3,7", {}, "ascending whole numbers of days"),
    ("REMINDER_DAYS", "-1.5,7", {}, "ascending whole numbers of days"),
    ("REMINDER_DAYS", "1,-3", {}, "ascending whole numbers of days"),
    ("REMINDER_DAYS", str(MAX_REMINDER_DAY + 1), {}, f"from {MIN_REMINDER_DAY} to {MAX_REMINDER_DAY}"),
    ("REMINDER_DAYS", str(MIN_REMINDER_DAY - 1), {}, f"from {MIN_REMINDER_DAY} to {MAX_REMINDER_DAY}"),
]


@pytest.mark.parametrize(("name", "value", "context", "allowed"), INVALID)
def test_invalid_value_is_reported_naming_variable_value_and_what_is_allowed(
    name: str, value: str, context: dict[str, str], allowed: str
) -> None:
    problem = the_problem(raw(**context, **{name: value}))
    assert problem.startswith(f"OVERDUE_INVOICE_{name}={value!r} is invalid: ")
    assert allowed in problem


@settings(max_examples=50, deadline=None)
@given(size=st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_BATCH_SIZE + 1)))
def test_batch_size_out_of_range_is_reported(size: int) -> None:
    assert the_problem(raw(BATCH_SIZE=str(size))).startswith(f"OVERDUE_INVOICE_BATCH_SIZE='{size}'")


@settings(max_examples=50, deadline=None)
@given(hours=st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_INTERVAL_HOURS + 1)))
def test_interval_django_q_cannot_hold_is_reported(hours: int) -> None:
    """django-q2 keeps the interval in minutes in a PositiveSmallIntegerField."""
    problem = the_problem(raw(SCHEDULE_TYPE="interval", SCHEDULE_VALUE=str(hours)))
    assert problem.startswith(f"OVERDUE_INVOICE_SCHEDULE_VALUE='{hours}'")


@settings(max_examples=50, deadline=None)
@given(
    days=st.lists(st.integers(1, 400), min_size=2, max_size=8).filter(lambda days: days != sorted(set(days)))
)
def test_reminder_days_not_strictly_ascending_are_reported(days: list[int]) -> None:
    value = ",".join(map(str, days))
    assert the_problem(raw(REMINDER_DAYS=value)).startswith(f"OVERDUE_INVOICE_REMINDER_DAYS={value!r}")


@settings(max_examples=50, deadline=None)
@given(text=st.text(max_size=12))
def test_any_text_for_batch_size_parses_to_its_number_or_is_reported(text: str) -> None:
    variables = raw(BATCH_SIZE=text)
    if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_BATCH_SIZE:
        assert parse_overdue_config(variables).batch_size == int(text)
    else:
        assert the_problem(variables).startswith(f"OVERDUE_INVOICE_BATCH_SIZE={text!r}")


def test_every_invalid_variable_is_reported_at_once() -> None:
    variables = raw(
        SCHEDULE_TYPE="cron",
        SCHEDULE_VALUE="nope",
        BATCH_SIZE="0",
        TIMEZONE="Nowhere/City",
        REMINDER_DAYS="3,2",
    )
    variables["REMINDER_ESCALATION"] = "fastest"
    with pytest.raises(ConfigError) as caught:
        parse_overdue_config(variables)
    named = [problem.split("=")[0] for problem in caught.value.problems]
    assert named == [name for name in DEFAULT_RAW if name != "OVERDUE_INVOICE_SCHEDULE_TYPE"]


@pytest.mark.parametrize(
    ("value", "expected"), [("-3,1,7,30", (-3, 1, 7, 30)), ("0", (0,)), ("-365,-1,0", (-365, -1, 0))]
)
def test_thresholds_may_be_zero_or_before_the_due_date(value: str, expected: tuple[int, ...]) -> None:
    assert parse_overdue_config(raw(REMINDER_DAYS=value)).reminder_days == expected


@pytest.mark.parametrize("value", ["highest", "in_sequence"])
def test_escalation_parses(value: str) -> None:
    assert parse_overdue_config({**DEFAULT_RAW, "REMINDER_ESCALATION": value}).escalation == Escalation(value)


def test_escalation_defaults_to_highest() -> None:
    assert parse_overdue_config(DEFAULT_RAW).escalation == Escalation.HIGHEST


@pytest.mark.parametrize("value", ["", "Highest", "sequence", "in-sequence", "highest "])
def test_a_bad_escalation_is_refused_naming_it_and_the_allowed_values(value: str) -> None:
    assert the_problem({**DEFAULT_RAW, "REMINDER_ESCALATION": value}) == (
        f"REMINDER_ESCALATION={value!r} is invalid: allowed values are highest, in_sequence."
    )


def test_run_overdue_check_process_exits_2_naming_a_bad_escalation() -> None:
    result = run_manage("run_overdue_check", "--dry-run", REMINDER_ESCALATION="gentle")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "REMINDER_ESCALATION='gentle' is invalid: allowed values are highest, in_sequence" in result.stderr


def test_schedule_value_is_not_judged_while_the_type_is_invalid() -> None:
    problem = the_problem(raw(SCHEDULE_TYPE="weekly", SCHEDULE_VALUE="6"))
    assert problem.startswith("OVERDUE_INVOICE_SCHEDULE_TYPE='weekly'")


def test_manage_py_check_fails_naming_the_invalid_variable() -> None:
    with override_settings(OVERDUE_INVOICE_BATCH_SIZE="0"), pytest.raises(SystemCheckError) as caught:
        call_command("check", stdout=StringIO(), stderr=StringIO())
    assert "scheduler.E001" in str(caught.value)
    assert "OVERDUE_INVOICE_BATCH_SIZE='0' is invalid: expected a whole number from 1 to 10000." in str(
        caught.value
    )


def test_manage_py_check_passes_with_the_defaults() -> None:
    with override_settings(**DEFAULT_RAW):
        call_command("check", stdout=StringIO(), stderr=StringIO())


def test_manage_py_check_process_fails_on_an_invalid_environment_variable() -> None:
    result = run_manage("check", OVERDUE_INVOICE_TIMEZONE="Mars/Olympus_Mons")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "OVERDUE_INVOICE_TIMEZONE='Mars/Olympus_Mons' is invalid" in result.stderr


@pytest.mark.parametrize("command", ["sync_schedules", "run_overdue_check"])
def test_command_process_exits_2_naming_the_invalid_environment_variable(command: str) -> None:
    result = run_manage(command, OVERDUE_INVOICE_REMINDER_DAYS="30,7")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "OVERDUE_INVOICE_REMINDER_DAYS='30,7' is invalid: expected ascending" in result.stderr


def configured_commands() -> list[str]:
    return sorted(
        name
        for name, app in get_commands().items()
        if app in ("scheduler", "invoicing")
        and issubclass(type(load_command_class(app, name)), ConfiguredCommand)
    )


def test_the_commands_that_need_the_configuration_are_configured_commands() -> None:
    assert {"run_overdue_check", "sync_schedules"} <= set(configured_commands())


@pytest.mark.django_db
@pytest.mark.parametrize("command", configured_commands())
def test_every_configured_command_refuses_an_invalid_configuration_with_exit_2(command: str) -> None:
    with (
        override_settings(OVERDUE_INVOICE_SCHEDULE_VALUE="0 0 31 2 *"),
        pytest.raises(CommandError) as caught,
    ):
        call_command(command, stdout=StringIO(), stderr=StringIO())
    assert caught.value.returncode == 2
    assert "OVERDUE_INVOICE_SCHEDULE_VALUE='0 0 31 2 *' is invalid" in str(caught.value)
    assert not Schedule.objects.exists()


@pytest.mark.parametrize("as_of", [date(1899, 12, 31), date(1, 1, 1)])
def test_a_run_judges_no_date_before_the_first_one_whatever_asks(as_of: date) -> None:
    problem = as_of_problem(as_of, today=date(2026, 3, 1), dry_run=True)
    assert problem == f"as_of={as_of} is invalid: expected a date from 1900-01-01 on."
