from django.apps import AppConfig


class CommonConfig(AppConfig):
    """What every app shares: configuration problems and exit codes, small parsers, display helpers,
    progress, the read-only admin base."""

    name = "common"
    verbose_name = "Common"

    def ready(self) -> None:
        from common import checks  # noqa: F401  (registers the settings' own configuration check)
