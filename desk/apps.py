from django.apps import AppConfig


class DeskConfig(AppConfig):
    """The finance desk (SPEC §11): the admin site, its dashboard, templates and template tags."""

    name = "desk"
    verbose_name = "Finance desk"
