"""The shipped templates: friendly (level 1), firm (level 2) and final notice (level 3 and above).

Staff edit them in the admin; this migration only adds a level that has no template yet, and its reverse
removes nothing a person may have edited.
"""

from django.db import migrations

SIGNATURE = "Kind regards,\nAccounts receivable\n"

TEXT = {
    1: (
        "Dear {{ customer.name }},\n\n"
        "this is a friendly reminder that invoice {{ invoice.number }}, due on "
        '{{ invoice.due_date|date:"j F Y" }}, is {{ days_overdue }} day{{ days_overdue|pluralize }} overdue.\n\n'
        "Balance due: {{ balance }}\n\n"
        "If you have paid in the meantime, thank you, and please disregard this message. Otherwise we would "
        "be grateful if you settled the balance at your earliest convenience.\n\n" + SIGNATURE
    ),
    2: (
        "Dear {{ customer.name }},\n\n"
        "invoice {{ invoice.number }}, due on {{ invoice.due_date|date:\"j F Y\" }}, is now "
        "{{ days_overdue }} days overdue, and we have not yet received your payment.\n\n"
        "Balance due: {{ balance }}\n\n"
        "Please pay the balance within 7 days. If there is a problem with this invoice, reply to this "
        "email so that we can resolve it.\n\n" + SIGNATURE
    ),
    3: (
        "Dear {{ customer.name }},\n\n"
        "despite our earlier reminders, invoice {{ invoice.number }}, due on "
        '{{ invoice.due_date|date:"j F Y" }}, remains unpaid {{ days_overdue }} days after its due date.\n\n'
        "Balance due: {{ balance }}\n\n"
        "This is our final notice. If we do not receive the balance within 7 days, we will have to take "
        "further steps to recover it. If you have paid in the meantime, please send us the payment "
        "details.\n\n" + SIGNATURE
    ),
}

HTML = {
    1: (
        "<p>Dear {{ customer.name }},</p>\n"
        "<p>this is a friendly reminder that invoice <strong>{{ invoice.number }}</strong>, due on "
        '{{ invoice.due_date|date:"j F Y" }}, is {{ days_overdue }} day{{ days_overdue|pluralize }} overdue.</p>\n'
        "<p>Balance due: <strong>{{ balance }}</strong></p>\n"
        "<p>If you have paid in the meantime, thank you, and please disregard this message.</p>\n"
        "<p>Kind regards,<br>Accounts receivable</p>\n"
    ),
    2: (
        "<p>Dear {{ customer.name }},</p>\n"
        "<p>invoice <strong>{{ invoice.number }}</strong> is now {{ days_overdue }} days overdue.</p>\n"
        "<p>Balance due: <strong>{{ balance }}</strong></p>\n"
        "<p>Please pay the balance within 7 days.</p>\n"
        "<p>Kind regards,<br>Accounts receivable</p>\n"
    ),
    3: (
        "<p>Dear {{ customer.name }},</p>\n"
        "<p>invoice <strong>{{ invoice.number }}</strong> remains unpaid {{ days_overdue }} days after its "
        "due date.</p>\n"
        "<p>Balance due: <strong>{{ balance }}</strong></p>\n"
        "<p><strong>This is our final notice.</strong> If we do not receive the balance within 7 days, we "
        "will have to take further steps to recover it.</p>\n"
        "<p>Kind regards,<br>Accounts receivable</p>\n"
    ),
}

DEFAULTS = [
    (
        1,
        "Friendly reminder",
        "Friendly reminder: invoice {{ invoice.number }} is {{ days_overdue }} "
        "day{{ days_overdue|pluralize }} overdue",
    ),
    (2, "Firm reminder", "Second reminder: invoice {{ invoice.number }} is {{ days_overdue }} days overdue"),
    (3, "Final notice", "Final notice: invoice {{ invoice.number }}, {{ balance }} overdue"),
]


def add_defaults(apps, schema_editor):
    ReminderTemplate = apps.get_model("reminders", "ReminderTemplate")
    for level, name, subject in DEFAULTS:
        ReminderTemplate.objects.get_or_create(
            level=level,
            defaults={"name": name, "subject": subject, "text_body": TEXT[level], "html_body": HTML[level]},
        )


class Migration(migrations.Migration):
    dependencies = [("reminders", "0002_reminder_template")]

    operations = [migrations.RunPython(add_defaults, migrations.RunPython.noop)]
