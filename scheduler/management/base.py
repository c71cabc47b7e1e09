from common.commands import CheckedCommand
from scheduler.config import OverdueConfig, load_overdue_config


class ConfiguredCommand(CheckedCommand):
    """A command that needs the overdue check's configuration: refused (exit 2) while it is invalid."""

    def configured(self) -> None:
        self.config: OverdueConfig = load_overdue_config()
