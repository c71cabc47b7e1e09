"""The embedded default mail sink: each reminder as an .eml file a new user can open."""

from __future__ import annotations

from email import message_from_bytes

import pytest
from django.core.mail import EmailMultiAlternatives
from hypothesis import given, settings
from hypothesis import strategies as st

from reminders.delivery import reminders_send
from reminders.mail import as_bytes
from tests.reminders.outbox import pending_reminders


@pytest.mark.django_db
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


header_text = st.text(
    alphabet=st.one_of(st.sampled_from("ab Z9.,:;<>@\"'()=?_-\t"), st.characters(codec="utf-8")), max_size=120
)


@given(subject=header_text, name=header_text, body=st.text(max_size=300))
@settings(max_examples=300)
def test_backends_write_the_same_bytes_as_django(subject, name, body):
    """Our fast header folding is a short cut, never a change: byte for byte what Django writes."""
    email = EmailMultiAlternatives(
        subject=subject.replace("\n", " ").replace("\r", " "),
        body=body,
        from_email="Billing <billing@shop.example>",
        to=[f"{name} <customer@example.com>".strip()],
        headers={"Message-ID": "<reminder-1@shop.example>", "Auto-Submitted": "auto-generated"},
    )
    email.attach_alternative(f"<p>{body}</p>", "text/html")
    try:
        message = email.message()
    except ValueError:  # Django refuses the header: nothing is written, by either path
        return
    fast = as_bytes(message)  # sets the boundary on the message, so Django reuses it below
    assert fast == message.as_bytes(linesep="\r\n")
