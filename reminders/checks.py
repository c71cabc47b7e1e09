"""System checks of sending (SPEC §10): with debug off, reminders are not written as files on the server
just because ``EMAIL_URL`` was forgotten. ``manage.py check --deploy`` reports it, and every sender (the
``send_reminders`` command, the cluster's task) refuses to start while it stands."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from reminders.mail import EmlFolderBackend

SENDING_TAG = "sending"
FILES_BACKEND = f"{EmlFolderBackend.__module__}.{EmlFolderBackend.__name__}"

EMAIL_URL_UNSET = (
    "EMAIL_URL is not set while DJANGO_DEBUG is off: reminders would be written as .eml files on this "
    "server and recorded as sent, and no customer would get them. Set EMAIL_URL to the mail server "
    "(smtp://host:25, smtp+tls://user:password@host:587, smtp+ssl://user:password@host:465), or to "
    "filemail:///sent-mail to keep files on purpose (a demo); DJANGO_DEBUG=1 is for development only."
)


@checks.register(SENDING_TAG, deploy=True)
def email_url_check(app_configs: Any, **kwargs: Any) -> list[checks.Error]:
    files_by_default = settings.EMAIL_BACKEND == FILES_BACKEND and not settings.EMAIL_URL_IS_SET
    if settings.DEBUG or not files_by_default:
        return []
    return [checks.Error(EMAIL_URL_UNSET, id="reminders.E001")]


def sending_problems() -> list[str]:
    """Why no sender may start now (each naming the variable and what is allowed); empty when it may."""
    found = checks.run_checks(tags=[SENDING_TAG], include_deployment_checks=True)
    return [message.msg for message in found if message.is_serious()]
