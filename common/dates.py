"""The calendar dates the product accepts, and the one way a date is written to it."""

from __future__ import annotations

import re
from datetime import date

# Real calendar dates only (docs/SPEC.md §3): before 1900 date arithmetic with large thresholds
# overflows; the database keeps invoices' dates in this range too.
FIRST_DATE = date(1900, 1, 1)
LAST_DATE = date(9999, 12, 31)
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DATE_RULE = f"expected a date YYYY-MM-DD from {FIRST_DATE} to {LAST_DATE}"


def parse_iso_date(text: str) -> date:
    """A date written ``YYYY-MM-DD`` in ASCII digits, from ``FIRST_DATE`` to ``LAST_DATE``; raises
    ``ValueError`` saying what is allowed. ``date.fromisoformat`` alone would also read ``20260301``,
    ``2026-W09-1`` and other digits than ASCII: only the one written form is accepted."""
    if ISO_DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            pass
        else:
            if FIRST_DATE <= day <= LAST_DATE:
                return day
    raise ValueError(DATE_RULE)
