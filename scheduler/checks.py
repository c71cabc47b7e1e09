from typing import Any

from django.core.checks import Error, register

from common.configuration import CONFIGURATION_TAG
from scheduler.config import ConfigError, load_overdue_config


@register(CONFIGURATION_TAG)
def overdue_config_check(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Every invalid overdue-check variable is an error naming the variable, its value and what is allowed."""
    try:
        load_overdue_config()
    except ConfigError as exc:
        return [Error(problem, id="scheduler.E001") for problem in exc.problems]
    return []
