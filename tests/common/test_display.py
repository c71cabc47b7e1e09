from datetime import UTC, datetime

import pytest

from common.display import count_of, days_overdue_text, due_phrase, duration, moment, threshold_phrase


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (0.0, "0 ms"),
        (0.085, "85 ms"),
        (4.25, "4.2 s"),
        (487.2, "8 min 07 s"),
        (7500, "2 h 05 min"),
    ],
)
def test_a_duration_is_never_rounded_to_zero_seconds(seconds, text):
    assert duration(seconds) == text


def test_a_moment_carries_its_zone(settings):
    settings.TIME_ZONE = "Europe/Paris"
    assert moment(datetime(2026, 2, 10, 23, 0, 4, tzinfo=UTC)) == "2026-02-11 00:00 CET"
    assert moment(None) == "—"


@pytest.mark.parametrize(
    ("number", "text"), [(0, "0 days"), (1, "1 day"), (2, "2 days"), (-1, "-1 days"), (1000, "1,000 days")]
)
def test_count_of_is_singular_for_one_only(number, text):
    assert count_of(number, "day") == text


@pytest.mark.parametrize(
    ("days", "due", "threshold", "cell"),
    [
        (44, "44 days overdue", "44 days", "44"),
        (1, "1 day overdue", "1 day", "1"),
        (0, "due today", "on the due date", "due today"),
        (-1, "due in 1 day", "1 day before due", "due in 1 day"),
        (-3, "due in 3 days", "3 days before due", "due in 3 days"),
        (1200, "1,200 days overdue", "1,200 days", "1,200"),
    ],
)
def test_days_around_the_due_date_read_as_words(days, due, threshold, cell):
    assert (due_phrase(days), threshold_phrase(days), days_overdue_text(days)) == (due, threshold, cell)
