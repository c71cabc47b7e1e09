"""What the project's management commands share."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from common.progress import LogProgress, TerminalProgress, progress_for
from config.environment import CONFIG_EXIT_CODE, configuration_problems, describe_problems


class CheckedCommand(BaseCommand):
    """A command that refuses to run (exit 2) while any configuration variable is invalid."""

    # The configuration checks below give exit 2 and the same message as `manage.py check`.
    requires_system_checks: list[str] = []

    def execute(self, *args: Any, **options: Any) -> str | None:
        if problems := configuration_problems():
            raise CommandError(describe_problems(problems), returncode=CONFIG_EXIT_CODE)
        self.configured()
        return super().execute(*args, **options)

    def configured(self) -> None:
        """Called once the configuration is known to be valid, before the command runs."""

    def progress(self, *, desc: str, unit: str, verb: str) -> TerminalProgress | LogProgress:
        """A bar when this command's output is a terminal, log lines otherwise."""
        return progress_for(self.stdout._out, desc=desc, unit=unit, verb=verb)  # type: ignore[arg-type]
