from django.apps import AppConfig


class CommonConfig(AppConfig):
    """Helpers shared by `reminders` and `scheduler` (progress display, the read-only admin base)."""

    name = "common"
    verbose_name = "Common"
