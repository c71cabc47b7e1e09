"""A progress bar for long commands, shown only when a person is watching a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from tqdm import tqdm


@contextmanager
def progress_bar(*, total: int, unit: str, stream: TextIO, desc: str) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; draws a tqdm bar on ``stream`` when it is a terminal, nothing otherwise."""
    if not stream.isatty():
        yield lambda n: None
        return
    with tqdm(total=total, unit=unit, desc=desc, file=stream, dynamic_ncols=True) as bar:
        yield bar.update
