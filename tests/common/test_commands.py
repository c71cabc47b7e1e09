from argparse import ArgumentTypeError

import pytest

from common.commands import positive_int


@pytest.mark.parametrize(("text", "number"), [("1", 1), ("42", 42), ("007", 7)])
def test_positive_int_reads_whole_numbers_from_one(text: str, number: int) -> None:
    assert positive_int(text) == number


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "", " 1", "\uff11", "ten"])
def test_positive_int_refuses_anything_else_naming_the_value(text: str) -> None:
    with pytest.raises(
        ArgumentTypeError, match=f"{text!r} is not allowed; expected a whole number of at least 1"
    ):
        positive_int(text)
