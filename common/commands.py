"""What the project's management commands share."""

from __future__ import annotations

from argparse import ArgumentTypeError
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from common.configuration import configuration_problems, describe_problems
from common.exit_codes import REFUSED_EXIT_CODE
from common.progress import LogProgress, TerminalProgress, progress_for


class CheckedCommand(BaseCommand):
    """A command that refuses to run (exit 2) while any configuration variable is invalid."""

    # The configuration checks below give exit 2 and the same message as `manage.py check`.
    requires_system_checks: list[str] = []

    def execute(self, *args: Any, **options: Any) -> str | None:
        if problems := configuration_problems():
            raise CommandError(describe_problems(problems), returncode=REFUSED_EXIT_CODE)
        self.configured()
        return super().execute(*args, **options)

    def configured(self) -> None:
        """Called once the configuration is known to be valid, before the command runs."""

    def progress(self, *, desc: str, unit: str, verb: str) -> TerminalProgress | LogProgress:
        """A bar when this command's output is a terminal, log lines otherwise."""
        return progress_for(self.stdout._out, desc=desc, unit=unit, verb=verb)  # type: ignore[arg-type]


def positive_int(value: str) -> int:
    """An argparse type: a whole number of at least 1, written in ASCII digits."""
    if value.isascii() and value.isdigit() and int(value) >= 1:
        return int(value)
    raise ArgumentTypeError(f"{value!r} is not allowed; expected a whole number of at least 1")
