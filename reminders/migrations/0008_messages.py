"""Messages become the outbox (docs/SPEC.md §10): every reminder's delivery so far becomes a message of
one, with its state, attempts, Message-ID, lease and the text that was sent; the reminder links to it.
The message takes the reminder's id, so the link is one statement whatever the table's size; history is
kept whole. The reverse puts each message's delivery back on its reminders."""

import django.db.models.deletion
import django.db.models.functions.datetime
from django.core.management.color import no_style
from django.db import migrations, models

DELIVERY = (
    "state, attempts, last_error, next_attempt_at, leased_until, last_attempt_at, sent_at, message_id, "
    "subject, text_body, html_body"
)
LEGACY = (
    "delivery_state, attempts, last_error, next_attempt_at, leased_until, last_attempt_at, sent_at, "
    "message_id, sent_subject, sent_body, sent_html"
)


def reminders_to_messages(apps, schema_editor):
    Message = apps.get_model("reminders", "Message")
    connection = schema_editor.connection
    legacy = LEGACY.replace("leased_until", "CASE WHEN n.delivery_state = 'sending' THEN n.leased_until END")
    legacy = ", ".join(
        f"n.{column}" if not column.startswith("CASE") else column for column in legacy.split(", ")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reminders_message "
            f"(id, customer_id, recipient, claim_token, refused_copies, created_at, {DELIVERY}) "
            f"SELECT n.id, i.customer_id, n.recipient, '', '', n.created_at, {legacy} "
            "FROM reminders_notification AS n JOIN invoicing_invoice AS i ON i.id = n.invoice_id"
        )
        cursor.execute("UPDATE reminders_notification SET delivery_id = id")
        for sql in connection.ops.sequence_reset_sql(no_style(), [Message]):
            cursor.execute(sql)
        if connection.vendor == "postgresql":
            # The new links are checked now: the columns dropped next cannot be while checks are pending.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def messages_to_reminders(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        columns = [
            f"{old} = (SELECT m.{new} FROM reminders_message AS m "
            "WHERE m.id = reminders_notification.delivery_id)"
            for old, new in zip(LEGACY.split(", "), DELIVERY.split(", "), strict=True)
        ]
        cursor.execute(
            f"UPDATE reminders_notification SET {', '.join(columns)} WHERE delivery_id IS NOT NULL"
        )
        cursor.execute(
            "UPDATE reminders_notification SET delivery_state = 'cancelled' WHERE cancel_reason <> ''"
        )
        cursor.execute(
            "UPDATE reminders_notification SET delivery_state = 'failed' "
            "WHERE delivery_state IN ('bounced', 'complained')"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0002_invoice_dates_in_range"),
        ("reminders", "0007_outbox_switch"),
    ]

    operations = [
        migrations.CreateModel(
            name="Message",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "recipient",
                    models.CharField(
                        blank=True,
                        help_text="The customer's address when the message was built.",
                        max_length=254,
                    ),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("sending", "Sending"),
                            ("sent", "Sent"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                            ("bounced", "Bounced"),
                            ("complained", "Complained"),
                        ],
                        db_default="pending",
                        max_length=10,
                    ),
                ),
                (
                    "attempts",
                    models.PositiveSmallIntegerField(
                        db_default=0, help_text="How many times it was offered to the mail server."
                    ),
                ),
                ("last_error", models.TextField(blank=True, db_default="")),
                (
                    "next_attempt_at",
                    models.DateTimeField(blank=True, help_text="Empty: as soon as possible.", null=True),
                ),
                ("leased_until", models.DateTimeField(blank=True, null=True)),
                (
                    "claim_token",
                    models.CharField(
                        blank=True,
                        db_default="",
                        help_text="The claim of the sender holding it.",
                        max_length=32,
                    ),
                ),
                (
                    "last_attempt_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When a sender last claimed it; the messages of one chunk share it.",
                        null=True,
                    ),
                ),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                (
                    "message_id",
                    models.CharField(
                        blank=True,
                        db_default="",
                        help_text="The Message-ID header, kept across retries.",
                        max_length=200,
                    ),
                ),
                ("subject", models.TextField(blank=True, db_default="")),
                ("text_body", models.TextField(blank=True, db_default="")),
                ("html_body", models.TextField(blank=True, db_default="")),
                (
                    "refused_copies",
                    models.TextField(
                        blank=True,
                        db_default="",
                        help_text="Blind copies the mail server refused, with its reply.",
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=django.db.models.functions.datetime.Now(), editable=False
                    ),
                ),
            ],
            options={
                "ordering": ["-id"],
            },
        ),
        migrations.AddField(
            model_name="message",
            name="customer",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="messages", to="invoicing.customer"
            ),
        ),
        migrations.AddField(
            model_name="notification",
            name="delivery",
            field=models.ForeignKey(
                blank=True,
                help_text="The message that carries it; empty until a sender takes it.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="reminders",
                to="reminders.message",
            ),
        ),
        migrations.RunPython(reminders_to_messages, messages_to_reminders),
        migrations.RemoveConstraint(
            model_name="notification",
            name="notification_delivery_state_valid",
        ),
        migrations.RemoveIndex(
            model_name="notification",
            name="notification_outbox",
        ),
        migrations.RemoveIndex(
            model_name="notification",
            name="notification_last_attempt",
        ),
        migrations.RemoveField(
            model_name="notification",
            name="attempts",
        ),
        migrations.RemoveField(
            model_name="notification",
            name="delivery_state",
        ),
        migrations.RemoveField(
            model_name="notification",
            name="last_attempt_at",
        ),
        migrations.RemoveField(
            model_name="notification",
            name="last_error",
        ),
        migrations.RemoveField(
            model_name="notification",
            name="leased_until",
        ),
        migrations.RemoveField(
            model_name="notification",
            name="message_id",
        ),
        migrations.RemoveField(
            model_name="notification",
            name="next_attempt_at",
        ),
        migrations.RemoveField(
            model_name="notification",
            name="sent_at",
        ),
        migrations.RemoveField(
            model_name="notification",
            name="sent_body",
        ),
        migrations.RemoveField(
            model_name="notification",
            name="sent_html",
        ),
        migrations.RemoveField(
            model_name="notification",
            name="sent_subject",
        ),
        migrations.AlterField(
            model_name="notification",
            name="cancel_reason",
            field=models.CharField(
                blank=True, db_default="", help_text="Why it was left out of its message.", max_length=20
            ),
        ),
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(
                condition=models.Q(("cancel_reason", ""), ("delivery__isnull", True)),
                fields=["id"],
                name="notification_ungrouped",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("state__in", ("pending", "sending"))),
                fields=["id"],
                name="message_outbox",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("last_attempt_at__isnull", False)),
                fields=["last_attempt_at"],
                name="message_last_attempt",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(fields=["message_id"], name="message_message_id_idx"),
        ),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "state__in",
                        ["pending", "sending", "sent", "failed", "cancelled", "bounced", "complained"],
                    )
                ),
                name="message_state_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.CheckConstraint(
                condition=models.Q(("state", "sending"), ("leased_until__isnull", True), _connector="OR"),
                name="message_lease_only_sending",
            ),
        ),
    ]
