from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from common.configuration import CONFIGURATION_TAG


@register(CONFIGURATION_TAG)
def settings_check(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Every invalid settings variable is an error naming the variable, its value and what is allowed."""
    return [Error(problem, id="config.E001") for problem in settings.CONFIGURATION_PROBLEMS]
