"""The outbox switch (SPEC §10): staff pause sending, and resume it; ``reminders.selectors.sending_paused``
is what every sender asks before it claims."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AnonymousUser, User
from django.utils import timezone

from reminders.models import OutboxSwitch


def sending_pause(
    *, by: User | AnonymousUser | None, reason: str = "", now: datetime | None = None
) -> OutboxSwitch:
    """Pause sending: no sender claims anything from now on (what a sender has on the wire finishes).
    Pausing again keeps who paused it first, and when; ``by`` None (or anonymous) is "someone"."""
    switch, _ = OutboxSwitch.objects.get_or_create(id=1)
    if not switch.paused:
        switch.paused, switch.paused_at = True, now or timezone.now()
        switch.paused_by = by if isinstance(by, User) else None
    switch.reason = reason or switch.reason
    switch.full_clean()
    switch.save()
    return switch


def sending_resume() -> OutboxSwitch:
    """Let senders claim again; the next sending (a command, the cluster's schedule) sends what is due."""
    switch, _ = OutboxSwitch.objects.update_or_create(
        id=1, defaults={"paused": False, "paused_by": None, "paused_at": None, "reason": ""}
    )
    return switch
