from datetime import UTC, datetime

import pytest

from common.display import count_of, duration, moment


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
