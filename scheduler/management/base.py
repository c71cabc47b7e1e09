from typing import Any

from django.core.management.base import BaseCommand, CommandError

from scheduler.config import OverdueConfig, configuration_problems, describe_problems, load_overdue_config

CONFIG_EXIT_CODE = 2


class ConfiguredCommand(BaseCommand):
    """A command that needs the configuration: refuses to run (exit 2) when any variable is invalid."""

    # Our own check below gives exit 2 and the same message as `manage.py check`.
    requires_system_checks: list[str] = []

    def load_config(self) -> OverdueConfig:
        if problems := configuration_problems():
            raise CommandError(describe_problems(problems), returncode=CONFIG_EXIT_CODE)
        return load_overdue_config()

    def execute(self, *args: Any, **options: Any) -> str | None:
        self.config = self.load_config()
        return super().execute(*args, **options)
