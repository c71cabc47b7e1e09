from typing import Any

from django.core.management.base import BaseCommand, CommandError

from config.environment import CONFIG_EXIT_CODE, configuration_problems, describe_problems
from scheduler.config import OverdueConfig, load_overdue_config


class ConfiguredCommand(BaseCommand):
    """A command that needs the configuration: refuses to run (exit 2) when any variable is invalid."""

    # The configuration checks below give exit 2 and the same message as `manage.py check`.
    requires_system_checks: list[str] = []

    def execute(self, *args: Any, **options: Any) -> str | None:
        if problems := configuration_problems():
            raise CommandError(describe_problems(problems), returncode=CONFIG_EXIT_CODE)
        self.config: OverdueConfig = load_overdue_config()
        return super().execute(*args, **options)
