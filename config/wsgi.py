import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

from common.configuration import configuration_problems, describe_problems

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

if problems := configuration_problems():
    raise ImproperlyConfigured(describe_problems(problems))
