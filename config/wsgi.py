import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

from scheduler.config import configuration_problems, describe_problems  # noqa: E402  (needs settings)

if problems := configuration_problems():
    raise ImproperlyConfigured(describe_problems(problems))
