from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The HTTP API (docs/SPEC.md §7, §11): bearer tokens, their authentication, and every endpoint."""

    name = "api"
    verbose_name = "API"
