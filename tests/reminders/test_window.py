"""The send window (SPEC §13, P29) as pure functions: ``REMINDER_SEND_WINDOW`` and ``REMINDER_HOLIDAYS``
parsed or refused naming variable, value and form; ``is_open`` and ``next_open`` over windows, zones, DST
transition days and public holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reminders.window import (
    END_OF_DAY,
    SendWindow,
    WindowError,
    build_window,
    holiday_calendar,
    parse_window,
    window_problems,
)

BERLIN = ZoneInfo("Europe/Berlin")
# Zones with DST (one of them by half an hour), one without, one far east, one south.
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Auckland",
]
# Days on which clocks moved in those zones, around which instants are drawn.
TRANSITION_DAYS = [
    date(2026, 3, 29),  # Europe forward
    date(2026, 10, 25),  # Europe back
    date(2026, 3, 8),  # New York forward
    date(2026, 11, 1),  # New York back
    date(2026, 4, 5),  # Lord Howe and Auckland back
    date(2026, 10, 4),  # Lord Howe forward
    date(2026, 9, 27),  # Auckland forward
    date(2026, 12, 25),  # a holiday in DE, DE-BY and US
]
HOLIDAYS = ["", "DE", "DE-BY", "US"]
STEP = timedelta(minutes=15)


def quarter(minutes: int) -> time:
    return END_OF_DAY if minutes == 24 * 60 else time(minutes // 60, minutes % 60)


@st.composite
def windows(draw: st.DrawFn) -> SendWindow:
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    start = draw(st.integers(0, 24 * 4 - 1)) * 15
    end = draw(st.integers(start // 15 + 1, 24 * 4)) * 15
    zone = draw(st.sampled_from(ZONES))
    country = draw(st.sampled_from(HOLIDAYS))
    return SendWindow(
        days=days,
        start=quarter(start),
        end=quarter(end),
        zone=ZoneInfo(zone),
        holiday=holiday_calendar(country),
    )


# Instants on the quarter hour (as every window edge and every transition is), near a transition day.
instants = st.builds(
    lambda day, quarters: datetime.combine(day, time(0), tzinfo=UTC) + quarters * STEP,
    st.sampled_from(TRANSITION_DAYS),
    st.integers(-4 * 24 * 3, 4 * 24 * 3),
)


def oracle_open(window: SendWindow, at: datetime, country: str | None = None) -> bool:
    """The rule read off a wall clock in the zone, the holidays asked of the package afresh."""
    local = at.astimezone(window.zone)
    if local.weekday() not in window.days or (window.holiday and window.holiday(local.date())):
        return False
    return window.start <= local.time() and (local.time() < window.end or window.end == END_OF_DAY)


@settings(max_examples=300, deadline=None)
@given(window=windows(), at=instants)
def test_p29_open_exactly_on_an_allowed_day_that_is_no_holiday_inside_the_span(window, at):
    assert window.is_open(at) == oracle_open(window, at)


@settings(max_examples=150, deadline=None)
@given(window=windows(), at=instants)
def test_p29_next_open_is_the_first_open_quarter_hour_from_then_on(window, at):
    opening = window.next_open(at)
    assert opening is not None  # no window of these is shut for a year
    assert opening >= at
    assert window.is_open(opening)
    walked = at
    while walked < opening:
        assert not window.is_open(walked), f"open at {walked}, before the reported opening {opening}"
        walked += STEP
    assert walked == opening


@settings(max_examples=150, deadline=None)
@given(window=windows(), at=instants)
def test_p29_an_open_stretch_began_when_the_window_was_last_shut(window, at):
    since = window.open_since(at)
    if not window.is_open(at) or window.always:
        assert since is None
        return
    assert since is not None
    assert since <= at
    assert window.is_open(since)
    assert not window.is_open(since - timedelta(seconds=1)) or at - since >= timedelta(days=6)


def test_a_span_inside_the_hour_a_spring_forward_skips_does_not_open_that_day():
    window = SendWindow(start=time(2, 0), end=time(3, 0), zone=BERLIN)
    saturday_noon = datetime(2026, 3, 28, 11, 0, tzinfo=UTC)
    # 2026-03-29 02:00-03:00 in Berlin does not exist: the next opening is Monday 02:00 CEST.
    assert window.next_open(saturday_noon) == datetime(2026, 3, 30, 0, 0, tzinfo=UTC)


def test_a_start_inside_the_skipped_hour_opens_when_the_clock_jumps_past_it():
    window = SendWindow(start=time(2, 30), end=time(4, 0), zone=BERLIN)
    assert window.next_open(datetime(2026, 3, 28, 12, 0, tzinfo=UTC)) == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC
    )


def test_a_repeated_hour_is_inside_the_span_both_times():
    window = SendWindow(start=time(2, 0), end=time(3, 0), zone=BERLIN)
    first, second = datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert window.is_open(first)
    assert window.is_open(second)


def test_christmas_in_bavaria_moves_the_opening_past_the_holidays_and_the_weekend():
    window = build_window("mon-fri 08:00-18:00", "DE-BY", "Europe/Berlin")
    christmas_eve_evening = datetime(2026, 12, 24, 18, 0, tzinfo=UTC)
    assert window.next_open(christmas_eve_evening) == datetime(2026, 12, 28, 7, 0, tzinfo=UTC)
    note = window.closed_note(christmas_eve_evening)
    assert note == (
        "Outside the send window mon-fri 08:00-18:00, closed on public holidays of DE-BY (Europe/Berlin): "
        "nothing is sent now; it opens next at 2026-12-28 08:00 CET (Europe/Berlin)."
    )


def test_a_bavarian_holiday_is_not_one_in_berlin():
    epiphany = datetime(2026, 1, 6, 10, 0, tzinfo=UTC)
    assert not build_window("mon-fri 08:00-18:00", "DE-BY", "Europe/Berlin").is_open(epiphany)
    assert build_window("mon-fri 08:00-18:00", "DE-BE", "Europe/Berlin").is_open(epiphany)
    assert date(2026, 1, 6) in holidays.country_holidays("DE", subdiv="BY")


@pytest.mark.parametrize(
    ("text", "days", "start", "end"),
    [
        ("always", set(range(7)), time(0), END_OF_DAY),
        ("", set(range(7)), time(0), END_OF_DAY),
        ("mon-fri 08:00-18:00", {0, 1, 2, 3, 4}, time(8), time(18)),
        ("Mon,Wed,Fri", {0, 2, 4}, time(0), END_OF_DAY),
        ("mon-wed,sat 09:00-17:30", {0, 1, 2, 5}, time(9), time(17, 30)),
        ("fri-mon", {4, 5, 6, 0}, time(0), END_OF_DAY),
        ("07:00-24:00", set(range(7)), time(7), END_OF_DAY),
    ],
)
def test_window_texts_give_their_days_and_span(text, days, start, end):
    assert parse_window(text) == (frozenset(days), start, end)


@pytest.mark.parametrize(
    "text",
    [
        "monday",
        "mon-fri 18:00-08:00",
        "mon-fri 8-18",
        "mon-fri 08:00-18:00 sat",
        "25:00-26:00",
        "09:60-10:00",
    ],
)
def test_a_bad_window_is_refused_naming_variable_value_and_form(text):
    with pytest.raises(WindowError) as refused:
        parse_window(text)
    assert str(refused.value).startswith(f"REMINDER_SEND_WINDOW={text!r} is invalid: expected 'always'")
    assert "'mon-fri 08:00-18:00'" in str(refused.value)


def test_an_unknown_country_or_subdivision_is_refused_naming_it():
    assert window_problems("always", "XX") == [
        "REMINDER_HOLIDAYS='XX' is invalid: 'XX' is not a country the holidays package knows; expected a "
        "country code, optionally with a subdivision, e.g. DE, DE-BY, AT, US-CA."
    ]
    (problem,) = window_problems("always", "DE-ZZ")
    assert problem.startswith("REMINDER_HOLIDAYS='DE-ZZ' is invalid: 'ZZ' is not a subdivision of DE")
    assert "BY" in problem
    assert window_problems("mon-fri 08:00-18:00", "de-by") == []
