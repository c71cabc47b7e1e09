"""SIGTERM and SIGINT during a command (docs/SPEC.md §4 step 5): what `kill`, `docker stop`, systemd and
Ctrl-C send. The signal becomes an exception in the running code, so its own clean-up path runs: a run
ends its log `failed` naming the signal and releases the lock; a sender records what it sent and gives
back the rest. The process then exits 128 + the signal."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOPPING_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(KeyboardInterrupt):
    """The process was asked to stop by ``signum``.

    A KeyboardInterrupt, so that psycopg cancels the query in flight and the connection stays usable for
    writing the run's log.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        return f"stopped by {self.name}"


def _raise(signum: int, frame: FrameType | None) -> None:
    # Further signals are ignored while the run cleans up: a second Ctrl-C must not cut the log's
    # last write short. SIGKILL still ends a process that hangs.
    for other in STOPPING_SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    raise Interrupted(signum)


@contextmanager
def stopping_signals_raise() -> Iterator[None]:
    """Inside the block, SIGTERM and SIGINT raise ``Interrupted``; the former handlers come back after."""
    previous = {signum: signal.signal(signum, _raise) for signum in STOPPING_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
