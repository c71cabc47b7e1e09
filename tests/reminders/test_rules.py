import unicodedata
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from reminders.rules import money, plain_text

UNSAFE = {"Cc", "Cf", "Zl", "Zp"}


@given(st.text())
def test_plain_text_replaces_exactly_the_control_separator_and_format_characters(value):
    """P6: the printable shortcut gives what the character-by-character rule gives, for any text."""
    expected = "".join(" " if unicodedata.category(char) in UNSAFE else char for char in value)
    assert plain_text(value) == expected


def test_plain_text_removes_line_breaks_and_bidi_overrides():
    assert plain_text("Acme\r\nBcc: x\u202e") == "Acme  Bcc: x "


@given(st.decimals(min_value=0, max_value=10**9, places=3))
def test_money_rounds_to_the_currencys_minor_units_half_up(amount):
    assert money(amount, "EUR") == f"EUR {amount.quantize(Decimal('0.01'), rounding='ROUND_HALF_UP')}"
    assert money(amount, "JPY") == f"JPY {amount.quantize(Decimal('1'), rounding='ROUND_HALF_UP')}"
    assert money(amount, "BHD") == f"BHD {amount.quantize(Decimal('0.001'), rounding='ROUND_HALF_UP')}"
