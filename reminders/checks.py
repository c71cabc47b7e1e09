"""System checks of sending (SPEC §10): with debug off, reminders are not written as files on the server
just because ``EMAIL_URL`` was forgotten. ``manage.py check --deploy`` reports it, and every sender (the
``send_reminders`` command, the cluster's task) refuses to start while it stands."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.mail import get_connection

from reminders.mail import EmlFolderBackend

SENDING_TAG = "sending"
FILES_BACKEND = f"{EmlFolderBackend.__module__}.{EmlFolderBackend.__name__}"

EMAIL_URL_UNSET = (
    "EMAIL_URL is not set while DJANGO_DEBUG is off: reminders would be written as .eml files on this "
    "server and recorded as sent, and no customer would get them. Set EMAIL_URL to the mail server "
    "(smtp://host:25, smtp+tls://user:password@host:587, smtp+ssl://user:password@host:465), or to "
    "filemail:///sent-mail to keep files on purpose (a demo); DJANGO_DEBUG=1 is for development only."
)

PROVIDER_WEBHOOK_UNPROTECTED = (
    "ANYMAIL_WEBHOOK_SECRET is not set while EMAIL_URL names a provider (anymail://…) and DJANGO_DEBUG is "
    "off: anyone could post a bounce to /anymail/<esp>/tracking/ and suppress a customer's address. Set it "
    "to a random user:password and give the provider the webhook URL https://user:password@host/anymail/"
    "<esp>/tracking/."
)


@checks.register(SENDING_TAG, deploy=True)
def email_url_check(app_configs: Any, **kwargs: Any) -> list[checks.Error]:
    files_by_default = settings.EMAIL_BACKEND == FILES_BACKEND and not settings.EMAIL_URL_IS_SET
    if settings.DEBUG or not files_by_default:
        return []
    return [checks.Error(EMAIL_URL_UNSET, id="reminders.E001")]


@checks.register(SENDING_TAG, deploy=True)
def provider_check(app_configs: Any, **kwargs: Any) -> list[checks.Error]:
    """With ``EMAIL_URL=anymail://<esp>``: the provider's settings anymail needs are there, and its
    tracking webhook is protected (without ``ANYMAIL_WEBHOOK_SECRET`` anyone could post a bounce)."""
    if not settings.EMAIL_BACKEND.startswith("anymail."):
        return []
    found = []
    try:
        get_connection(fail_silently=False)
    except Exception as exc:  # anymail names the missing setting, e.g. ANYMAIL_POSTMARK_SERVER_TOKEN
        found.append(
            checks.Error(f"EMAIL_URL names a provider anymail cannot use: {exc}", id="reminders.E002")
        )
    if not settings.DEBUG and not settings.ANYMAIL.get("WEBHOOK_SECRET"):
        found.append(checks.Error(PROVIDER_WEBHOOK_UNPROTECTED, id="reminders.E003"))
    return found


def sending_problems() -> list[str]:
    """Why no sender may start now (each naming the variable and what is allowed); empty when it may."""
    found = checks.run_checks(tags=[SENDING_TAG], include_deployment_checks=True)
    return [message.msg for message in found if message.is_serious()]
