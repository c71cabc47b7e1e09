"""The embedded default mail sink: each reminder as an .eml file a new user can open."""

from __future__ import annotations

from email import message_from_bytes

import pytest

from reminders.delivery import reminders_send
from tests.reminders.outbox import pending_reminders

pytestmark = pytest.mark.django_db


def test_default_backend_writes_one_eml_file_per_reminder_named_by_message_id(settings, tmp_path):
    settings.EMAIL_BACKEND = "reminders.mail.EmlFolderBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "sent-mail")
    settings.DEFAULT_FROM_EMAIL = "billing@shop.example"
    reminders = pending_reminders(2, name="Grace Hopper")
    assert reminders_send().sent == 2
    files = sorted((tmp_path / "sent-mail").glob("*.eml"))
    assert [path.name.split("-", 2)[2] for path in files] == [
        f"reminder-{reminder.pk}_shop.example.eml" for reminder in reminders
    ]
    message = message_from_bytes(files[0].read_bytes())
    assert message["To"] == reminders[0].recipient
    assert message["Message-ID"] == f"<reminder-{reminders[0].pk}@shop.example>"
    text = message.get_payload()[0].get_payload(decode=True).decode()
    assert "Dear Grace Hopper" in text
