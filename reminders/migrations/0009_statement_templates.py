"""The shipped templates learn statements (docs/SPEC.md §10): a message may carry several reminders of one
customer, so each template lists them with totals per currency and the customer's other overdue invoices,
and still reads as before for one invoice. The firm and final notices speak of earlier reminders only when
one was sent (``earlier_reminders``), and the HTML says every sentence the text says.

Only a template still as shipped is changed; one that staff edited is left as they wrote it.
"""

import importlib

from django.db import migrations

SHIPPED = importlib.import_module("reminders.migrations.0003_default_templates")

DATE = '|date:"j F Y"'
SINGLE = (
    "invoice {{ invoice.number }}, due on {{ invoice.due_date" + DATE + " }}, is {{ days_overdue }} "
    "day{{ days_overdue|pluralize }} overdue"
)
LINE = (
    "invoice {{ r.invoice.number }}, due on {{ r.invoice.due_date" + DATE + " }}, {{ r.days_overdue }} "
    "day{{ r.days_overdue|pluralize }} overdue: {{ r.balance }}"
)
OTHER = (
    "invoice {{ o.number }}, due on {{ o.due_date" + DATE + " }}, {{ o.days_overdue }} "
    "day{{ o.days_overdue|pluralize }} overdue: {{ o.balance }}"
)
TOTALS = "{% for t in totals %}{{ t.amount }}{% if not forloop.last %}, {% endif %}{% endfor %}"

# Per level: the opening for one invoice, the opening for a statement, and the closing sentences.
WORDING = {
    1: (
        "this is a friendly reminder that " + SINGLE + ".",
        "this is a friendly reminder that these invoices are overdue:",
        [
            "If you have paid in the meantime, thank you, and please disregard this message. Otherwise we "
            "would be grateful if you settled the balance at your earliest convenience."
        ],
    ),
    2: (
        "{% if earlier_reminders %}despite our earlier reminder{{ earlier_reminders|pluralize }}, "
        "{% endif %}" + SINGLE + ", and we have not yet received your payment.",
        "{% if earlier_reminders %}despite our earlier reminders, {% endif %}"
        "we have not yet received your payment for these overdue invoices:",
        [
            "Please pay the balance within 7 days. If there is a problem with an invoice, reply to this "
            "email so that we can resolve it."
        ],
    ),
    3: (
        "{% if earlier_reminders %}despite our earlier reminders, {% endif %}"
        + SINGLE
        + " and remains unpaid.",
        "{% if earlier_reminders %}despite our earlier reminders, {% endif %}"
        "these invoices remain unpaid after their due dates:",
        [
            "This is our final notice. If we do not receive the balance within 7 days, we will have to take "
            "further steps to recover it.",
            "If you have paid in the meantime, please send us the payment details.",
        ],
    ),
}

SUBJECTS = {
    1: "{% if statement %}Friendly reminder: {{ reminders|length }} invoices overdue{% else %}"
    + SHIPPED.DEFAULTS[0][2]
    + "{% endif %}",
    2: "{% if statement %}Second reminder: {{ reminders|length }} invoices overdue{% else %}"
    + SHIPPED.DEFAULTS[1][2]
    + "{% endif %}",
    3: "{% if statement %}Final notice: {{ reminders|length }} invoices overdue{% else %}"
    + SHIPPED.DEFAULTS[2][2]
    + "{% endif %}",
}


def text_body(level):
    single, statement, closing = WORDING[level]
    return (
        "Dear {{ customer.name }},\n\n"
        "{% if statement %}" + statement + "\n\n"
        "{% for r in reminders %}- " + LINE[0].upper() + LINE[1:] + "\n{% endfor %}\n"
        "Total due: " + TOTALS + "\n"
        "{% else %}" + single + "\n\nBalance due: {{ balance }}\n{% endif %}"
        "{% if other_invoices %}\nAlso overdue on your account:\n"
        "{% for o in other_invoices %}- "
        + OTHER[0].upper()
        + OTHER[1:]
        + "\n{% endfor %}{% endif %}\n"
        + "\n\n".join(closing)
        + "\n\n"
        + SHIPPED.SIGNATURE
    )


def html_body(level):
    single, statement, closing = WORDING[level]
    return (
        "<p>Dear {{ customer.name }},</p>\n"
        "{% if statement %}<p>" + statement + "</p>\n<ul>\n"
        "{% for r in reminders %}<li>" + LINE[0].upper() + LINE[1:] + "</li>\n{% endfor %}</ul>\n"
        "<p>Total due: <strong>" + TOTALS + "</strong></p>\n"
        "{% else %}<p>" + single + "</p>\n<p>Balance due: <strong>{{ balance }}</strong></p>\n{% endif %}"
        "{% if other_invoices %}<p>Also overdue on your account:</p>\n<ul>\n"
        "{% for o in other_invoices %}<li>" + OTHER[0].upper() + OTHER[1:] + "</li>\n{% endfor %}</ul>\n"
        "{% endif %}"
        + "".join(f"<p>{sentence}</p>\n" for sentence in closing)
        + "<p>Kind regards,<br>Accounts receivable</p>\n"
    )


def update_shipped(apps, schema_editor):
    ReminderTemplate = apps.get_model("reminders", "ReminderTemplate")
    for level, _, subject in SHIPPED.DEFAULTS:
        ReminderTemplate.objects.filter(
            level=level, subject=subject, text_body=SHIPPED.TEXT[level], html_body=SHIPPED.HTML[level]
        ).update(subject=SUBJECTS[level], text_body=text_body(level), html_body=html_body(level))


def restore_shipped(apps, schema_editor):
    ReminderTemplate = apps.get_model("reminders", "ReminderTemplate")
    for level, _, subject in SHIPPED.DEFAULTS:
        ReminderTemplate.objects.filter(
            level=level, subject=SUBJECTS[level], text_body=text_body(level), html_body=html_body(level)
        ).update(subject=subject, text_body=SHIPPED.TEXT[level], html_body=SHIPPED.HTML[level])


class Migration(migrations.Migration):
    dependencies = [("reminders", "0008_messages")]

    operations = [migrations.RunPython(update_shipped, restore_shipped)]
