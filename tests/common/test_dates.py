from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.dates import DATE_RULE, FIRST_DATE, LAST_DATE, parse_iso_date


@given(st.dates(min_value=FIRST_DATE, max_value=LAST_DATE))
def test_every_date_in_range_reads_back_from_its_iso_form(day: date) -> None:
    assert parse_iso_date(day.isoformat()) == day


@pytest.mark.parametrize(
    "text",
    [
        "1899-12-31",  # before the first date
        "0001-01-01",
        "2026-02-30",  # no such day
        "20260301",  # fromisoformat reads these; the product takes one written form only
        "2026-W09-1",
        "\uff12\uff10\uff12\uff16-01-01",  # fullwidth digits
        "2026-3-1",
        " 2026-03-01",
        "",
    ],
)
def test_anything_else_is_refused_saying_what_is_allowed(text: str) -> None:
    with pytest.raises(ValueError, match="expected a date YYYY-MM-DD from 1900-01-01 to 9999-12-31"):
        parse_iso_date(text)
    assert DATE_RULE == "expected a date YYYY-MM-DD from 1900-01-01 to 9999-12-31"
