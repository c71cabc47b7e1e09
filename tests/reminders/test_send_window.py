"""The send window with the sender (docs/SPEC.md §13, P29): nothing is claimed outside it, a sender at
work stops claiming when it closes, the command says when it opens next and exits 0, and waiting for it
is not unhealthy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from reminders.models import Message
from reminders.monitoring import delivery_status
from reminders.outbox import SendConfig, reminders_send
from reminders.window import build_window
from scheduler.tasks import send_reminders_task
from tests.reminders.factories import MessageFactory
from tests.reminders.outbox import pending_reminders, sent_reminders, unsent

# Monday 2 March 2026, 07:00 in Berlin (CET, +1).
MONDAY_7 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
WORKDAYS = "mon-fri 08:00-18:00"


class Clock:
    """The sender's clock: starts at ``at`` and moves ``step`` each time it is read."""

    def __init__(self, at: datetime, step: timedelta = timedelta(0)) -> None:
        self.at, self.step = at, step

    def __call__(self) -> datetime:
        now = self.at
        self.at += self.step
        return now


@pytest.fixture
def berlin_workdays(settings):
    settings.REMINDER_SEND_WINDOW, settings.REMINDER_HOLIDAYS = WORKDAYS, "DE-BY"
    settings.TIME_ZONE = "Europe/Berlin"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.REMINDER_BCC = []


@pytest.mark.django_db
def test_a_sender_before_the_window_opens_claims_nothing(berlin_workdays):
    pending_reminders(3, today=MONDAY_7.date())
    report = reminders_send(clock=Clock(MONDAY_7))
    assert (report.tried, report.chunks, report.window_closed) == (0, 0, True)
    assert unsent() == 3
    assert not Message.objects.exists()
    assert "the send window closed" in report.summary()


@pytest.mark.django_db
def test_a_sender_inside_the_window_sends(berlin_workdays):
    pending_reminders(3, today=MONDAY_7.date())
    report = reminders_send(clock=Clock(MONDAY_7 + timedelta(hours=2)))
    assert (report.sent, report.window_closed) == (3, False)


@pytest.mark.django_db
def test_a_sender_at_work_stops_claiming_when_the_window_closes(berlin_workdays):
    closing = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # 18:00 in Berlin
    pending_reminders(12, today=closing.date())
    clock = Clock(closing - timedelta(minutes=3), step=timedelta(seconds=20))
    report = reminders_send(config=SendConfig.from_settings(chunk_size=2, connections=1), clock=clock)
    assert report.window_closed
    assert 0 < report.sent < 12
    assert unsent() == 12 - report.sent
    claims = set(Message.objects.values_list("last_attempt_at", flat=True))
    assert claims
    assert max(claims) < closing  # no claim after the window closed


@pytest.mark.django_db
def test_a_holiday_keeps_the_window_shut_all_day(berlin_workdays):
    epiphany_noon = datetime(2026, 1, 6, 11, 0, tzinfo=UTC)  # a Tuesday; a holiday in Bavaria
    pending_reminders(1, today=epiphany_noon.date())
    assert reminders_send(clock=Clock(epiphany_noon)).tried == 0
    assert reminders_send(clock=Clock(epiphany_noon + timedelta(days=1))).sent == 1


@pytest.mark.django_db
def test_send_reminders_outside_the_window_says_when_it_opens_and_sends_nothing(settings):
    today = datetime.now(UTC)
    shut_until = (today + timedelta(days=2)).strftime("%a").lower()
    settings.REMINDER_SEND_WINDOW, settings.TIME_ZONE = f"{shut_until} 09:00-17:00", "Europe/Berlin"
    pending_reminders(2)
    out = StringIO()
    call_command("send_reminders", stdout=out)
    opening = build_window(f"{shut_until} 09:00-17:00", "", "Europe/Berlin").next_open(today)
    assert opening is not None
    local = opening.astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.strftime("%a").lower(), local.hour, local.minute) == (shut_until, 9, 0)
    assert out.getvalue() == (
        f"Outside the send window {shut_until} 09:00-17:00 (Europe/Berlin): nothing is sent now; it opens "
        f"next at {local:%Y-%m-%d} 09:00 {local:%Z} (Europe/Berlin).\n"
    )
    assert unsent() == 2


@pytest.mark.django_db
def test_the_clusters_sending_task_outside_the_window_sends_nothing(settings):
    today = datetime.now(UTC)
    settings.REMINDER_SEND_WINDOW = (today + timedelta(days=2)).strftime("%a").lower()
    pending_reminders(2)
    assert send_reminders_task()["sent"] == 0
    assert unsent() == 2


@pytest.mark.django_db
def test_waiting_for_the_window_is_not_unhealthy_until_it_has_been_open_an_hour(berlin_workdays):
    waiting_since = datetime(2026, 2, 27, 17, 30, tzinfo=UTC)  # Friday evening, after the window closed
    MessageFactory(next_attempt_at=waiting_since)
    saturday = datetime(2026, 2, 28, 12, 0, tzinfo=UTC)
    status = delivery_status(now=saturday)
    assert (status.window_shut, status.health) == (True, "ok")
    opened = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # Monday 08:00 in Berlin
    assert delivery_status(now=opened + timedelta(minutes=59)).health == "ok"
    assert delivery_status(now=opened + timedelta(minutes=61)).health == "unavailable"


class SentOnlyInsideTheWindow(TestCase):
    """P29: whatever the window, zone, holidays and instant, a sending sends iff the window is open."""

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        window=st.sampled_from([WORKDAYS, "mon,wed,fri 02:00-03:30", "sat-sun", "always", "12:00-12:30"]),
        zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]),
        country=st.sampled_from(["", "DE-BY", "US"]),
        # Around the DST transitions of 2026 in those zones, and holidays (Christmas, Easter Monday).
        day=st.sampled_from(
            [
                datetime(2026, m, d, tzinfo=UTC)
                for m, d in ((3, 8), (3, 29), (4, 5), (4, 6), (10, 25), (12, 25))
            ]
        ),
        minutes=st.integers(-24 * 60, 24 * 60),
    )
    def test_p29_nothing_is_sent_outside_the_window(self, window, zone, country, day, minutes):
        at = day + timedelta(minutes=minutes)
        with self.settings(
            REMINDER_SEND_WINDOW=window,
            REMINDER_HOLIDAYS=country,
            TIME_ZONE=zone,
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
            REMINDER_BCC=[],
        ):
            pending_reminders(1, today=at.date())
            report = reminders_send(clock=Clock(at))
            expected = build_window(window, country, zone).is_open(at)
            assert report.sent == (1 if expected else 0)
            assert sent_reminders() == report.sent
