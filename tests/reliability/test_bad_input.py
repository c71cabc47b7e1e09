"""Bad input is refused with a message naming what is wrong, never a crash (docs/SPEC.md §4, §5, P1):
configuration variables, command arguments, and invoice data typed into the admin."""

from __future__ import annotations

import io
import string
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stderr
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from subprocess import CompletedProcess
from zoneinfo import available_timezones

import pytest
from django.core.management import load_command_class
from django.urls import reverse
from django_q.models import Schedule
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from invoicing.models import Invoice
from scheduler.config import (
    MAX_BATCH_SIZE,
    MAX_CRON_LENGTH,
    MAX_INTERVAL_HOURS,
    MAX_REMINDER_DAY,
    MIN_REMINDER_DAY,
    ConfigError,
    parse_overdue_config,
)
from scheduler.models import JobExecutionLog
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.processes import run_manage
from tests.reliability.conftest import reliability_size
from tests.scheduler.oracle import DEFAULT_RAW

pytestmark = pytest.mark.reliability
SIZE = reliability_size()

# --- Configuration variables ----------------------------------------------------------------------

ascii_digits = set(string.digits)


def not_a_whole_number(text: str) -> bool:
    return not (text and set(text) <= ascii_digits)


def whole_numbers_outside(low: int, high: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(max_value=low - 1).map(str),
        st.integers(min_value=high + 1).map(str),
        st.text(max_size=12).filter(not_a_whole_number),
        st.floats().map(str),
    )


cron_fields = st.sampled_from(["*", "0", "5", "*/15", "1-5", "MON"])
# (field position, a value out of its range)
out_of_range = st.one_of(
    st.tuples(st.just(0), st.integers(60, 999)),
    st.tuples(st.just(1), st.integers(24, 999)),
    st.tuples(st.just(2), st.sampled_from([0, *range(32, 100)])),
    st.tuples(st.just(3), st.sampled_from([0, *range(13, 100)])),
    st.tuples(st.just(4), st.integers(8, 999)),
)


def with_field(position_value: tuple[int, int]) -> str:
    fields = ["0", "0", "*", "*", "*"]
    position, value = position_value
    fields[position] = str(value)
    return " ".join(fields)


invalid_crons = st.one_of(
    st.lists(cron_fields, max_size=9).filter(lambda fields: len(fields) != 5).map(" ".join),
    out_of_range.map(with_field),
    # Dates that never come: the 30th or 31st of February, the 31st of a 30-day month.
    st.sampled_from(["0 0 30 2 *", "0 0 31 2 *", "0 0 31 4 *", "0 0 31 6 *", "0 0 31 9 *", "0 0 31 11 *"]),
    st.tuples(st.integers(0, 9), st.characters(min_codepoint=128, exclude_categories=["Cs"])).map(
        lambda at: "0 0 * * *"[: at[0]] + at[1] + "0 0 * * *"[at[0] :]
    ),
    st.integers(MAX_CRON_LENGTH, 3 * MAX_CRON_LENGTH).map(lambda width: "0 0 * * " + ",".join(["1"] * width)),
)
zone_names = available_timezones()
# Thresholds may be zero or negative, down to MIN_REMINDER_DAY (a courtesy reminder, docs/SPEC.md §13).
reminder_days = st.integers(MIN_REMINDER_DAY, MAX_REMINDER_DAY)
invalid_reminder_days = st.one_of(
    # Some threshold out of range.
    st.tuples(
        st.lists(reminder_days, max_size=3),
        st.one_of(st.integers(max_value=MIN_REMINDER_DAY - 1), st.integers(min_value=MAX_REMINDER_DAY + 1)),
    ).map(lambda drawn: ",".join(map(str, sorted({*drawn[0], drawn[1]})))),
    # Not ascending.
    st.lists(reminder_days, min_size=2, max_size=6)
    .filter(lambda days: any(a >= b for a, b in pairwise(days)))
    .map(lambda days: ",".join(map(str, days))),
    # Not numbers, or empty parts.
    st.lists(st.one_of(reminder_days.map(str), st.text(max_size=4)), min_size=1, max_size=4)
    .filter(lambda parts: any(not_a_whole_number(part.strip().removeprefix("-")) for part in parts))
    .map(",".join),
    # Longer than the run log can keep.
    st.lists(st.integers(1000, MAX_REMINDER_DAY), min_size=45, max_size=60, unique=True).map(
        lambda days: ",".join(map(str, sorted(days)))
    ),
)

INVALID = {
    "OVERDUE_INVOICE_SCHEDULE_TYPE": st.text(max_size=20).filter(lambda v: v not in ("cron", "interval")),
    "OVERDUE_INVOICE_SCHEDULE_VALUE": invalid_crons,
    "OVERDUE_INVOICE_BATCH_SIZE": whole_numbers_outside(1, MAX_BATCH_SIZE),
    "OVERDUE_INVOICE_TIMEZONE": st.text(max_size=40).filter(lambda v: v not in zone_names),
    "OVERDUE_INVOICE_REMINDER_DAYS": invalid_reminder_days,
}
INTERVAL = {"OVERDUE_INVOICE_SCHEDULE_TYPE": "interval"}
INVALID_INTERVAL = whole_numbers_outside(1, MAX_INTERVAL_HOURS)

bad_variable = st.one_of(
    *(st.tuples(st.just(name), values, st.just({})) for name, values in INVALID.items()),
    st.tuples(st.just("OVERDUE_INVOICE_SCHEDULE_VALUE"), INVALID_INTERVAL, st.just(INTERVAL)),
)


def problems_of(raw: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_overdue_config(raw)
    return caught.value.problems


@settings(max_examples=SIZE.examples * 20, deadline=None)
@given(bad=bad_variable)
def test_an_invalid_value_of_any_variable_is_refused_naming_the_variable_and_the_value(bad):
    """P1: the one problem reported names the variable and the value as the operator wrote it."""
    name, value, others = bad
    [problem] = problems_of({**DEFAULT_RAW, **others, name: value})
    assert problem.startswith(f"{name}={value!r} is invalid: ")


@settings(max_examples=SIZE.examples * 4, deadline=None)
@given(bad=st.lists(bad_variable, min_size=2, unique_by=lambda bad: bad[0]))
def test_several_invalid_variables_are_each_named(bad):
    raw = {**DEFAULT_RAW}
    for _, _, others in bad:
        raw.update(others)
    raw.update({name: value for name, value, _ in bad})
    problems = problems_of(raw)
    named = {problem.split("=", 1)[0] for problem in problems}
    # The schedule value is not judged while the type is invalid: its rule depends on the type.
    wanted = {name for name, _, _ in bad}
    if "OVERDUE_INVOICE_SCHEDULE_TYPE" in wanted:
        wanted.discard("OVERDUE_INVOICE_SCHEDULE_VALUE")
    assert named == wanted


def passable_in_the_environment(value: str) -> bool:
    """An environment value cannot hold NUL or lone surrogates; values starting with ``$`` are the
    subject of their own test below."""
    return (
        "\x00" not in value
        and not value.startswith("$")
        and value == value.encode("utf-8", "ignore").decode()
    )


def run_manage_together(*runs: tuple[tuple[str, ...], dict[str, str]]) -> list[CompletedProcess[str]]:
    """Several ``manage.py`` processes at once: each one is mostly Python start-up."""
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        return list(pool.map(lambda run: run_manage(*run[0], **run[1]), runs))


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("name", "others"),
    [(name, {}) for name in INVALID] + [("OVERDUE_INVOICE_SCHEDULE_VALUE", INTERVAL)],
    ids=[*INVALID, "OVERDUE_INVOICE_SCHEDULE_VALUE-interval"],
)
@settings(
    max_examples=1 if SIZE.name == "small" else 5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_commands_exit_2_naming_an_invalid_variable_before_writing_anything(name, others, data):
    values = INVALID_INTERVAL if others else INVALID[name]
    value = data.draw(values.filter(passable_in_the_environment), label="value")
    env = {**others, name: value}

    finished = run_manage_together((("run_overdue_check",), env), (("sync_schedules",), env))

    for command in finished:
        assert command.returncode == 2, [*command.args, command.stdout, command.stderr]
        assert f"{name}={value!r} is invalid" in command.stderr
    assert not JobExecutionLog.objects.exists()
    assert not Schedule.objects.exists()


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("value", ["$NOT_SET_ANYWHERE", "$DJANGO_SECRET_KEY"])
def test_a_value_starting_with_a_dollar_is_taken_as_written(value):
    """Not as django-environ's reference to another variable: an unset one would silently give the
    default, a set one would be used, and printed in the error, instead."""
    secret = "do-not-print-this-secret-key-0123456789"
    finished = run_manage("sync_schedules", OVERDUE_INVOICE_SCHEDULE_TYPE=value, DJANGO_SECRET_KEY=secret)
    output = finished.stdout + finished.stderr
    assert secret not in output
    assert finished.returncode == 2, output
    assert f"OVERDUE_INVOICE_SCHEDULE_TYPE={value!r} is invalid" in output


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_commands_exit_2_naming_an_invalid_settings_variable():
    invalid = {
        "DJANGO_DEBUG": "maybe",
        "DJANGO_SECURE_SSL_REDIRECT": "yes please",
        "DJANGO_SECURE_HSTS_SECONDS": "a year",
        "Q_CLUSTER_WORKERS": "two",
        "Q_CLUSTER_TIMEOUT": "-5",
        "API_THROTTLE_RATE": "fast",
        "DJANGO_LOG_LEVEL": "LOUD",
        "DATABASE_URL": "not a url",
    }
    finished = run_manage_together(
        *((("run_overdue_check", "--dry-run"), {name: value}) for name, value in invalid.items())
    )
    accepted_or_unnamed = [
        f"{name}={value!r}: exit {command.returncode}"
        for (name, value), command in zip(invalid.items(), finished, strict=True)
        if command.returncode != 2 or name not in command.stdout + command.stderr
    ]
    assert not accepted_or_unnamed, accepted_or_unnamed


# --- Command arguments ----------------------------------------------------------------------------


def parse_command_line(command_name: str, argv: list[str]) -> None:
    """Parse ``argv`` exactly as ``manage.py <command_name>`` does on a command line (where a bad
    argument ends the process with status 2)."""
    command = load_command_class("scheduler", command_name)
    command._called_from_command_line = True
    command.create_parser("manage.py", command_name).parse_args(argv)


# Ours and Django's; argparse also takes any unambiguous abbreviation of them.
KNOWN_OPTIONS = (
    *("--as-of", "--batch-size", "--dry-run", "--help", "--version", "--verbosity", "--settings"),
    *("--pythonpath", "--traceback", "--no-color", "--force-color", "--skip-checks"),
)


def impossible_date(drawn: tuple[int, int, int]) -> str:
    year, month, day = drawn
    return f"{year:04d}-{month:02d}-{day:02d}"


def is_a_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


invalid_dates = st.one_of(
    st.tuples(st.integers(1, 9999), st.integers(13, 99), st.integers(1, 28)).map(impossible_date),
    st.tuples(st.integers(1, 9999), st.integers(1, 12), st.integers(32, 99)).map(impossible_date),
    st.sampled_from(["2026-02-29", "2026-02-30", "2026-04-31", "0000-01-01", ""]),
    st.text(alphabet=st.characters(exclude_categories=["Nd", "Cs"]), max_size=12),
    # A date with something after it (spaces alone are stripped: that date is valid).
    st.tuples(
        st.dates().map(date.isoformat),
        st.text(alphabet=string.ascii_letters + " /:", min_size=1).filter(str.strip),
    ).map("".join),
)
bad_arguments = st.one_of(
    invalid_dates.map(lambda value: ("--as-of", [f"--as-of={value}"])),
    whole_numbers_outside(1, MAX_BATCH_SIZE).map(lambda value: ("--batch-size", [f"--batch-size={value}"])),
    st.sampled_from(["--as-of", "--batch-size"]).map(lambda option: (option, [option])),
    st.from_regex(r"--[a-z][a-z-]{0,12}", fullmatch=True)
    .filter(lambda option: not any(known.startswith(option) for known in KNOWN_OPTIONS))
    .map(lambda option: (option, [option])),
    st.from_regex(r"[a-z0-9]{1,10}", fullmatch=True).map(lambda extra: (extra, [extra])),
)


@settings(max_examples=SIZE.examples * 8, deadline=None)
@given(bad=bad_arguments)
def test_invalid_command_arguments_end_with_status_2_naming_the_argument(bad):
    named, argv = bad
    assume(not (named == "--as-of" and argv[0].startswith("--as-of=") and is_a_date(argv[0][8:])))
    stderr = io.StringIO()
    with pytest.raises(SystemExit) as exited, redirect_stderr(stderr):
        parse_command_line("run_overdue_check", argv)
    assert exited.value.code == 2
    assert named in stderr.getvalue()


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_commands_exit_2_on_invalid_arguments_before_writing_anything():
    invalid = {
        ("run_overdue_check", "--as-of", "2026-02-30"): "--as-of",
        ("run_overdue_check", "--batch-size", "0"): "--batch-size",
        ("run_overdue_check", "--frobnicate"): "--frobnicate",
        ("sync_schedules", "now"): "now",
    }
    finished = run_manage_together(*((args, {}) for args in invalid))
    for named, command in zip(invalid.values(), finished, strict=True):
        assert command.returncode == 2, [*command.args, command.stdout, command.stderr]
        assert named in command.stderr
    assert not JobExecutionLog.objects.exists()
    assert not Schedule.objects.exists()


# --- Invoice data in the admin --------------------------------------------------------------------

printable = st.characters(exclude_categories=["Cs"])


def not_a_number(text: str) -> bool:
    try:
        return not Decimal(text).is_finite()
    except (InvalidOperation, ValueError):
        return True


amounts_not_numbers = st.text(alphabet=printable, max_size=12).filter(not_a_number)
negative_amounts = st.decimals(
    max_value=Decimal("-0.01"), places=2, allow_nan=False, allow_infinity=False
).map(str)
too_precise = (
    st.decimals(min_value=0, max_value=10**6, places=5, allow_nan=False)
    .filter(lambda amount: amount != amount.quantize(Decimal("0.01")))
    .map(str)
)
invalid_invoice_field = st.one_of(
    st.tuples(st.just("total"), st.one_of(amounts_not_numbers, negative_amounts, too_precise)),
    st.tuples(st.just("amount_paid"), st.one_of(amounts_not_numbers, negative_amounts, too_precise)),
    st.tuples(
        st.just("currency"),
        st.text(alphabet=printable, max_size=6).filter(
            lambda code: not (len(code) == 3 and set(code) <= set(string.ascii_uppercase))
        ),
    ),
    st.tuples(st.sampled_from(["issue_date", "due_date"]), invalid_dates),
    st.tuples(
        st.just("due_date"), st.integers(1, 400).map(lambda days: date(2026, 1, 1) - timedelta(days=days))
    ),
    st.tuples(
        st.just("status"),
        st.text(alphabet=printable, max_size=8).filter(lambda s: s not in Invoice.Status.values),
    ),
)


@pytest.mark.reliability
class InvoiceAdminFormTest(TestCase):
    @classmethod
    def setUpTestData(cls):
        from django.contrib.auth import get_user_model

        cls.staff = get_user_model().objects.create_user(username="finance", is_staff=True, is_superuser=True)
        cls.customer = CustomerFactory()
        cls.invoice = InvoiceFactory(customer=cls.customer, number="INV-KEEP")

    def valid_data(self) -> dict[str, str]:
        return {
            "customer": str(self.customer.pk),
            "number": "INV-NEW",
            "issue_date": "2026-01-01",
            "due_date": "2026-01-31",
            "currency": "EUR",
            "total": "100.00",
            "amount_paid": "0.00",
            "status": "sent",
        }

    @settings(max_examples=SIZE.examples * 4, deadline=None)
    @given(bad=invalid_invoice_field, change=st.booleans())
    def test_invalid_invoice_data_gets_a_form_error_on_its_field_never_a_500(self, bad, change):
        field, value = bad
        self.client.force_login(self.staff)
        url = (
            reverse("admin:invoicing_invoice_change", args=[self.invoice.pk])
            if change
            else reverse("admin:invoicing_invoice_add")
        )
        before = list(Invoice.objects.order_by("pk").values())

        response = self.client.post(url, {**self.valid_data(), field: str(value)})

        assert response.status_code == 200  # the form again, with its errors; not a redirect, not a 500
        errors = response.context["adminform"].form.errors
        assert field in errors, errors
        assert list(Invoice.objects.order_by("pk").values()) == before

    def test_valid_invoice_data_is_saved(self):
        self.client.force_login(self.staff)
        response = self.client.post(reverse("admin:invoicing_invoice_add"), self.valid_data())
        assert response.status_code == 302
        assert Invoice.objects.filter(number="INV-NEW").exists()
