"""The outbox switch (SPEC §10): staff pause sending in the admin, with who and when; every sender obeys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import IntegrityError
from django.urls import reverse

from reminders.models import OutboxSwitch
from reminders.monitoring import delivery_status
from reminders.outbox import SendConfig, reminders_send
from reminders.selectors import sending_paused
from reminders.switch import sending_pause, sending_resume
from tests.reminders.factories import MessageFactory
from tests.reminders.outbox import pending_reminders, states, unsent

pytestmark = pytest.mark.django_db

SWITCH_URL = reverse("admin:reminders_outboxswitch_changelist")
PAUSED_AT = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)


@pytest.fixture
def finance(django_user_model):
    return django_user_model.objects.create_user(username="finance", password="pw-finance-1234")


def test_sending_is_on_until_someone_pauses_it():
    assert sending_paused() is None


def test_a_pause_records_who_paused_it_when_and_why(finance):
    sending_pause(by=finance, reason="going live", now=PAUSED_AT)
    pause = sending_paused()
    assert pause is not None
    assert (pause.paused_by, pause.paused_at, pause.reason) == (finance, PAUSED_AT, "going live")


def test_pausing_again_keeps_the_first_pause(finance, django_user_model):
    sending_pause(by=finance, now=PAUSED_AT)
    other = django_user_model.objects.create_user(username="other")
    sending_pause(by=other, now=datetime(2026, 3, 3, tzinfo=UTC))
    pause = sending_paused()
    assert pause is not None
    assert (pause.paused_by, pause.paused_at) == (finance, PAUSED_AT)


def test_resume_clears_the_pause(finance):
    sending_pause(by=finance)
    sending_resume()
    assert sending_paused() is None
    assert OutboxSwitch.objects.get().paused_by is None


def test_the_database_keeps_one_switch():
    OutboxSwitch.objects.create(id=1)
    with pytest.raises(IntegrityError):
        OutboxSwitch.objects.create(id=2)


def test_a_paused_outbox_claims_nothing(smtp_settings, finance):
    reminders = pending_reminders(3)
    sending_pause(by=finance)
    report = reminders_send()
    assert (report.tried, report.chunks) == (0, 0)
    assert set(states(reminders).values()) == {"pending"}
    assert smtp_settings.messages() == []


class PauseAfterFirstChunk:
    """A progress display that pauses sending when the first chunk is recorded, as staff might."""

    def __init__(self, by) -> None:
        self.by = by

    def start(self, total: int) -> None:
        """Nothing to do before the first chunk."""

    def advance(self, done: int) -> None:
        sending_pause(by=self.by)


def test_a_pause_while_sending_stops_the_next_claims(smtp_settings, finance):
    pending_reminders(10)
    config = SendConfig.from_settings(chunk_size=2, connections=1)
    report = reminders_send(config=config, progress=PauseAfterFirstChunk(finance))
    # The first chunk only (one connection, one chunk on the wire): nothing is claimed after the pause.
    assert report.sent == 2
    assert unsent() == 10 - report.sent


def test_send_reminders_says_who_paused_sending_and_since_when(smtp_settings, finance, settings):
    settings.TIME_ZONE = "UTC"
    pending_reminders(2)
    sending_pause(by=finance, reason="checking the first run", now=PAUSED_AT)
    out = StringIO()
    call_command("send_reminders", stdout=out)
    assert out.getvalue() == (
        "Sending is paused (by finance since 2026-03-02 08:15 UTC: checking the first run); nothing was "
        "sent. Resume it in the admin: Reminders → Outbox switch.\n"
    )
    assert smtp_settings.messages() == []


def test_the_switch_page_shows_sending_on(staff_client):
    page = staff_client.get(SWITCH_URL).content.decode()
    assert "Sending is on" in page
    assert 'value="pause"' in page


def test_staff_pause_and_resume_sending_in_the_admin(staff_client):
    response = staff_client.post(SWITCH_URL, {"action": "pause", "reason": "going live"})
    assert response.status_code == 302
    pause = sending_paused()
    assert pause is not None
    assert pause.paused_by.username == "finance"
    page = staff_client.get(SWITCH_URL).content.decode()
    assert "Sending is paused" in page
    assert "Paused by <strong>finance</strong>" in page
    assert "Reason: going live" in page
    staff_client.post(SWITCH_URL, {"action": "resume"})
    assert sending_paused() is None
    changes = LogEntry.objects.filter(object_id="1").order_by("id").values_list("change_message", flat=True)
    assert list(changes) == ["Sending paused.", "Sending resumed."]


def test_an_unknown_switch_action_is_refused(staff_client):
    response = staff_client.post(SWITCH_URL, {"action": "explode"})
    assert response.status_code == 400
    assert sending_paused() is None


def test_staff_who_may_only_view_the_switch_cannot_pause_it(client, django_user_model):
    clerk = django_user_model.objects.create_user(username="clerk", password="pw-clerk-1234", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_outboxswitch"))
    client.force_login(clerk)
    assert "Only staff who may change" in client.get(SWITCH_URL).content.decode()
    assert client.post(SWITCH_URL, {"action": "pause"}).status_code == 403
    assert sending_paused() is None


def test_staff_without_permission_do_not_see_the_switch(client, django_user_model):
    clerk = django_user_model.objects.create_user(username="clerk", password="pw-clerk-1234", is_staff=True)
    client.force_login(clerk)
    assert client.get(SWITCH_URL).status_code == 403


def test_reminders_waiting_while_sending_is_paused_do_not_make_delivery_unavailable(finance):
    MessageFactory(next_attempt_at=PAUSED_AT)
    later = PAUSED_AT + timedelta(hours=5)
    assert delivery_status(now=later).health == "unavailable"
    sending_pause(by=finance, now=PAUSED_AT)
    status = delivery_status(now=later)
    assert status.paused
    assert status.health == "ok"
