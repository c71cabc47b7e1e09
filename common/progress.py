"""Progress of long commands: a bar when a person watches a terminal, log lines otherwise."""

from __future__ import annotations

import logging
from typing import TextIO

from tqdm import tqdm

logger = logging.getLogger(__name__)


class TerminalProgress:
    """A tqdm bar on a terminal."""

    def __init__(self, stream: TextIO, *, desc: str, unit: str) -> None:
        self.stream, self.desc, self.unit = stream, desc, unit
        self.bar: tqdm | None = None

    def start(self, total: int) -> None:
        self.bar = tqdm(total=total, unit=self.unit, desc=self.desc, file=self.stream, dynamic_ncols=True)

    def advance(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class LogProgress:
    """Log lines at every tenth of the work, for output that is not a terminal (cron, containers)."""

    def __init__(self, *, desc: str, unit: str, verb: str) -> None:
        self.desc, self.unit, self.verb = desc, unit, verb
        self.total = self.done = self.reported = 0

    def start(self, total: int) -> None:
        self.total = total
        logger.info("%s: %s %ss to %s.", self.desc, total, self.unit, self.verb)

    def advance(self, done: int) -> None:
        self.done += done
        tenth = self.done * 10 // max(self.total, 1)
        if tenth > self.reported and self.done < self.total:
            self.reported = tenth
            past = self.verb + ("d" if self.verb.endswith("e") else "ed")
            logger.info("%s: %s of %s %ss %s.", self.desc, self.done, self.total, self.unit, past)

    def close(self) -> None:
        """Nothing to tidy."""


def progress_for(stream: TextIO, *, desc: str, unit: str, verb: str) -> TerminalProgress | LogProgress:
    """``verb`` names the work in log lines: "examine" gives "20 invoices to examine", "10 examined"."""
    return (
        TerminalProgress(stream, desc=desc, unit=unit)
        if stream.isatty()
        else LogProgress(desc=desc, unit=unit, verb=verb)
    )
