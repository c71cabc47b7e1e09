from typing import Any

from django.core.management.base import BaseCommand, CommandError

from scheduler.config import ConfigError, OverdueConfig, load_overdue_config

CONFIG_EXIT_CODE = 2


class ConfiguredCommand(BaseCommand):
    """A command that needs the overdue-check configuration: refuses to run (exit 2) when it is invalid."""

    # Our own check below gives exit 2 and the same message as `manage.py check`.
    requires_system_checks: list[str] = []

    def load_config(self) -> OverdueConfig:
        try:
            return load_overdue_config()
        except ConfigError as exc:
            lines = "\n".join(f"  - {problem}" for problem in exc.problems)
            raise CommandError(f"Invalid configuration:\n{lines}", returncode=CONFIG_EXIT_CODE) from exc

    def execute(self, *args: Any, **options: Any) -> str | None:
        self.config = self.load_config()
        return super().execute(*args, **options)
