"""The embedded default mail sink: each reminder as an .eml file a new user can open."""

from __future__ import annotations

from email import message_from_bytes

import pytest
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import sanitize_address
from hypothesis import given, settings
from hypothesis import strategies as st

from reminders.mail import PreparedEmail, as_bytes, envelope_sender, safe_address
from reminders.outbox import reminders_send
from tests.reminders.outbox import message_of, pending_reminders


@pytest.mark.django_db
def test_default_backend_writes_one_eml_file_per_reminder_named_by_message_id(settings, tmp_path):
    settings.EMAIL_BACKEND = "reminders.mail.EmlFolderBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "sent-mail")
    settings.DEFAULT_FROM_EMAIL = "billing@shop.example"
    reminders = pending_reminders(2, name="Grace Hopper")
    assert reminders_send().sent == 2
    files = sorted((tmp_path / "sent-mail").glob("*.eml"))
    messages = [message_of(reminder) for reminder in reminders]
    assert [path.name.split("-", 2)[2] for path in files] == [
        f"message-{message.pk}_shop.example.eml" for message in messages
    ]
    message = message_from_bytes(files[0].read_bytes())
    assert message["To"] == reminders[0].invoice.customer.email
    assert message["Message-ID"] == f"<message-{messages[0].pk}@shop.example>"
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


body_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.sampled_from("ab \r\n\x0bé€"), max_size=300),
    st.text(alphabet=st.sampled_from("aé "), min_size=990, max_size=1100),  # Django's long-line limit
)


@given(
    subject=header_text,
    name=header_text,
    body=body_text,
    html=st.one_of(st.none(), body_text),
    extra=st.dictionaries(
        st.sampled_from(["X-Level", "Auto-Submitted", "To", "Date"]), header_text, max_size=2
    ),
)
@settings(max_examples=300, deadline=None)
def test_a_prepared_email_sends_the_bytes_django_writes_for_it(subject, name, body, html, extra):
    """The direct writer is a short cut, never a change: byte for byte what Django's ``message()`` and
    generator write for the same email (same boundary and Date), and the same SMTP addresses; an email it
    does not handle is written by Django itself."""
    arguments = {
        "subject": subject.replace("\n", " ").replace("\r", " "),
        "body": body,
        "from_email": "Billing <billing@shop.example>",
        "to": [f"{name} <customer@example.com>".strip()],
        "bcc": ["office@shop.example"],
        "headers": {"Message-ID": "<reminder-1@shop.example>", **extra},
    }
    email = PreparedEmail(**arguments)
    django_email = EmailMultiAlternatives(**arguments)
    if html is not None:
        email.attach_alternative(html, "text/html")
        django_email.attach_alternative(html, "text/html")
    try:
        expected = django_email.message()
    except ValueError:  # Django refuses a header: preparing refuses it too
        expected = None
    django_failures = (ValueError, AttributeError, IndexError, TypeError)
    try:
        email.prepare()
    except django_failures:  # where Django fails: message(), or its SMTP backend's addresses
        if expected is not None:
            with pytest.raises(django_failures):
                [sanitize_address(a, "utf-8") for a in [email.from_email, *email.recipients()]]
        return
    assert expected is not None
    if email.date:  # the direct path: Django's message with the same Date and boundary
        expected.replace_header("Date", email.date)
        if email.boundary:
            expected.set_boundary(email.boundary)
        assert email.smtp_bytes == expected.as_bytes(linesep="\r\n")
    else:
        assert email.smtp_bytes.count(b"Message-ID: <reminder-1@shop.example>") == 1
    assert email.smtp_recipients == tuple(sanitize_address(a, "utf-8") for a in django_email.recipients())
    assert email.smtp_from == sanitize_address(email.from_email, "utf-8")


def test_the_direct_writer_serves_the_reminders_own_emails():
    """Guards the speed of sending: a reminder email (text, HTML, Message-ID) takes the direct path."""
    email = PreparedEmail(
        subject="Reminder",
        body="Dear Ada,\n",
        from_email="b@shop.example",
        to=["c@example.com"],
        headers={"Message-ID": "<reminder-1@shop.example>", "Auto-Submitted": "auto-generated"},
    )
    email.attach_alternative("<p>Dear Ada,</p>", "text/html")
    email.prepare()
    assert email.date
    assert email.boundary


@pytest.mark.django_db
def test_the_smtp_backend_builds_a_message_while_the_server_answers_its_mail_from(smtp_settings, settings):
    """``take`` runs once MAIL FROM is on the wire; what it builds goes out; when it has nothing, nothing
    is sent and the connection carries the next message."""
    backend = get_connection()
    sender = envelope_sender(settings.DEFAULT_FROM_EMAIL)
    seen = []

    def take(to):
        def build():
            seen.append(backend.connection.last_command)
            email = PreparedEmail(subject="Hi", body="Text", from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
            email.prepare()
            return email

        return build

    with backend:
        assert backend.send_while_answering(sender, take("c@example.com")) is True
        assert backend.send_while_answering(sender, lambda: None) is False
        assert backend.send_while_answering(sender, take("d@example.com")) is True
    assert seen == ["mail", "mail"]
    received = smtp_settings.messages()
    assert [message["rcpt_tos"] for message in received] == [["c@example.com"], ["d@example.com"]]
    assert {message["mail_from"] for message in received} == {"billing@shop.example"}


address_text = st.text(alphabet=st.sampled_from("aZ9.-_+@!#'\"<> é"), min_size=1, max_size=40)


@given(address=st.one_of(address_text, st.emails().map(str)))
@settings(max_examples=500)
def test_a_plain_address_is_made_safe_exactly_as_django_does(address):
    try:
        expected = sanitize_address(address, "utf-8")
    except Exception as exc:  # Django fails on some odd inputs with IndexError or TypeError: the same
        with pytest.raises(type(exc)):
            safe_address(address, "utf-8")
        return
    assert safe_address(address, "utf-8") == expected
