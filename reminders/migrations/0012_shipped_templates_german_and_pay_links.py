"""The shipped templates learn languages and pay links (docs/SPEC.md §13): German ones for every level
(Zahlungserinnerung, Mahnung, Letzte Mahnung), and both languages write the due date for the customer's
language (``due_on``) and show an invoice's pay link when it has one, for one invoice and on each row of a
statement. A courtesy reminder before the due date says when the invoice falls due (``due``, and a first
level's ``courtesy`` wording) instead of a negative number of days overdue.

The English templates are changed only while they are still as shipped; one that staff edited is left as
they wrote it. A German level that has a template already is left alone.
"""

import importlib

from django.db import migrations

STATEMENTS = importlib.import_module("reminders.migrations.0009_statement_templates")

ENGLISH = {
    "greeting": "Dear {{ customer.name }},",
    "greeting_html": "Dear {{ customer.name }},",
    # ``due``: "12 days overdue", or before the due date "due in 3 days", "due today" (SPEC §13).
    "single": "invoice {{ invoice.number }}, due on {{ invoice.due_on }}, is {{ due }}",
    "line": "Invoice {{ r.invoice.number }}, due on {{ r.invoice.due_on }}, {{ r.due }}: {{ r.balance }}",
    "other": "Invoice {{ o.number }}, due on {{ o.due_on }}, {{ o.days_overdue }} "
    "day{{ o.days_overdue|pluralize }} overdue: {{ o.balance }}",
    "balance": "Balance due",
    "total": "Total due",
    "also": "Also overdue on your account:",
    "pay": "Pay online",
    "pay_row": "pay online",
    "signature": "Kind regards,\nAccounts receivable",
    "signature_html": "Kind regards,<br>Accounts receivable",
}

GERMAN = {
    "greeting": "Sehr geehrte Damen und Herren,",
    "greeting_html": "Sehr geehrte Damen und Herren,",
    # ``due``: "seit 12 Tagen überfällig", or before the due date "in 3 Tagen fällig", "heute fällig".
    "line": "Rechnung {{ r.invoice.number }}, fällig am {{ r.invoice.due_on }}, {{ r.due }}: {{ r.balance }}",
    "other": "Rechnung {{ o.number }}, fällig am {{ o.due_on }}, seit {{ o.days_overdue }} "
    'Tag{{ o.days_overdue|pluralize:"en" }} überfällig: {{ o.balance }}',
    "balance": "Offener Betrag",
    "total": "Offener Gesamtbetrag",
    "also": "Ebenfalls überfällig auf Ihrem Kundenkonto:",
    "pay": "Online bezahlen",
    "pay_row": "online bezahlen",
    "signature": "Mit freundlichen Grüßen\nIhre Buchhaltung",
    "signature_html": "Mit freundlichen Grüßen<br>Ihre Buchhaltung",
}

# "Rechnung X, fällig am D, ist seit N Tagen überfällig", as German puts it in a sentence.
DE_INVOICE = "die Rechnung {{ invoice.number }}, fällig am {{ invoice.due_on }},"
DE_DAYS = 'seit {{ days_overdue }} Tag{{ days_overdue|pluralize:"en" }}'
# A courtesy reminder before the due date (a threshold of zero or less, SPEC §13) speaks of what falls due.
EN_COURTESY = "this is a friendly reminder that these invoices fall due shortly:"
DE_COURTESY = "wir möchten Sie freundlich daran erinnern, dass folgende Rechnungen in Kürze fällig werden:"
EN_SUBJECTS = {
    1: "{% if statement %}Friendly reminder: {{ reminders|length }} invoices {% if courtesy %}due shortly"
    "{% else %}overdue{% endif %}{% else %}Friendly reminder: invoice {{ invoice.number }} is {{ due }}"
    "{% endif %}",
    2: "{% if statement %}Second reminder: {{ reminders|length }} invoices overdue{% else %}"
    "Second reminder: invoice {{ invoice.number }} is {{ due }}{% endif %}",
}

# Per language and level: the name, the subject, the opening for one invoice, the opening for a statement,
# and the closing sentences.
WORDING = {
    "en": {
        level: (
            name,
            STATEMENTS.SUBJECTS[level],
            STATEMENTS.WORDING[level][0].replace(STATEMENTS.SINGLE, ENGLISH["single"]),
            "{% if courtesy %}" + EN_COURTESY + "{% else %}" + STATEMENTS.WORDING[level][1] + "{% endif %}"
            if level == 1
            else STATEMENTS.WORDING[level][1],
            STATEMENTS.WORDING[level][2],
        )
        for level, name in ((1, "Friendly reminder"), (2, "Firm reminder"), (3, "Final notice"))
    },
    "de": {
        1: (
            "Zahlungserinnerung",
            "{% if statement %}Zahlungserinnerung: {{ reminders|length }} {% if courtesy %}bald fällige"
            "{% else %}überfällige{% endif %} Rechnungen{% else %}"
            "Zahlungserinnerung: Rechnung {{ invoice.number }} ist {{ due }}{% endif %}",
            "{% if courtesy %}wir möchten Sie freundlich daran erinnern, dass "
            + DE_INVOICE
            + " {{ due }} ist.{% else %}bei der Durchsicht unserer Konten haben wir festgestellt, dass "
            + DE_INVOICE
            + " {{ due }} ist.{% endif %}",
            "{% if courtesy %}"
            + DE_COURTESY
            + "{% else %}bei der Durchsicht unserer Konten haben wir festgestellt, dass folgende Rechnungen "
            "überfällig sind:{% endif %}",
            [
                "Sollten Sie die Zahlung inzwischen veranlasst haben, danken wir Ihnen und bitten Sie, dieses "
                "Schreiben als gegenstandslos zu betrachten. Andernfalls bitten wir Sie, den offenen Betrag "
                "in den nächsten Tagen zu begleichen."
            ],
        ),
        2: (
            "Mahnung",
            "{% if statement %}Mahnung: {{ reminders|length }} überfällige Rechnungen{% else %}"
            "Mahnung: Rechnung {{ invoice.number }} ist {{ due }}{% endif %}",
            "{% if earlier_reminders %}trotz unserer Zahlungserinnerung ist "
            + DE_INVOICE
            + " weiterhin offen und {{ due }}.{% else %}"
            + DE_INVOICE
            + " ist {{ due }}, und wir konnten bisher keinen Zahlungseingang feststellen.{% endif %}",
            "{% if earlier_reminders %}trotz unserer Zahlungserinnerung konnten wir{% else %}wir konnten"
            "{% endif %} für folgende überfällige Rechnungen bisher keinen Zahlungseingang feststellen:",
            [
                "Bitte überweisen Sie den offenen Betrag innerhalb von 7 Tagen. Sollte es mit einer Rechnung "
                "ein Problem geben, antworten Sie bitte auf diese E-Mail, damit wir es klären können."
            ],
        ),
        3: (
            "Letzte Mahnung",
            "{% if statement %}Letzte Mahnung: {{ reminders|length }} unbezahlte Rechnungen{% else %}"
            "Letzte Mahnung: Rechnung {{ invoice.number }} über {{ balance }}{% endif %}",
            "{% if earlier_reminders %}trotz unserer bisherigen Mahnungen ist "
            + DE_INVOICE
            + " "
            + DE_DAYS
            + " unbezahlt.{% else %}"
            + DE_INVOICE
            + " ist "
            + DE_DAYS
            + " unbezahlt.{% endif %}",
            "{% if earlier_reminders %}trotz unserer bisherigen Mahnungen sind{% else %}nach Ablauf ihrer "
            "Fälligkeit sind{% endif %} folgende Rechnungen weiterhin unbezahlt:",
            [
                "Dies ist unsere letzte Mahnung. Sollte der offene Betrag nicht innerhalb von 7 Tagen bei "
                "uns eingehen, sehen wir uns gezwungen, weitere Schritte zur Beitreibung der Forderung "
                "einzuleiten.",
                "Falls Sie inzwischen gezahlt haben, senden Sie uns bitte die Zahlungsdetails.",
            ],
        ),
    },
}
PHRASES = {"en": ENGLISH, "de": GERMAN}
TOTALS = STATEMENTS.TOTALS


def text_body(language, level):
    words = PHRASES[language]
    _, _, single, statement, closing = WORDING[language][level]
    return (
        words["greeting"] + "\n\n"
        "{% if statement %}" + statement + "\n\n"
        "{% for r in reminders %}- " + words["line"] + "{% if r.invoice.payment_url %} ("
        + words["pay_row"]
        + ": {{ r.invoice.payment_url }}){% endif %}\n{% endfor %}\n"
        + words["total"]
        + ": "
        + TOTALS
        + "\n{% else %}"
        + single
        + "\n\n"
        + words["balance"]
        + ": {{ balance }}\n{% if invoice.payment_url %}"
        + words["pay"]
        + ": {{ invoice.payment_url }}\n{% endif %}{% endif %}"
        "{% if other_invoices %}\n" + words["also"] + "\n"
        "{% for o in other_invoices %}- " + words["other"] + "{% if o.payment_url %} ("
        + words["pay_row"]
        + ": {{ o.payment_url }}){% endif %}\n{% endfor %}{% endif %}\n"
        + "\n\n".join(closing)
        + "\n\n"
        + words["signature"]
        + "\n"
    )


def html_body(language, level):
    words = PHRASES[language]
    _, _, single, statement, closing = WORDING[language][level]
    row_link = (
        "{% if r.invoice.payment_url %} (" + words["pay_row"] + ': <a href="{{ r.invoice.payment_url }}">'
        "{{ r.invoice.payment_url }}</a>){% endif %}"
    )
    other_link = (
        "{% if o.payment_url %} (" + words["pay_row"] + ': <a href="{{ o.payment_url }}">{{ o.payment_url }}'
        "</a>){% endif %}"
    )
    return (
        "<p>" + words["greeting_html"] + "</p>\n"
        "{% if statement %}<p>" + statement + "</p>\n<ul>\n"
        "{% for r in reminders %}<li>" + words["line"] + row_link + "</li>\n{% endfor %}</ul>\n"
        "<p>" + words["total"] + ": <strong>" + TOTALS + "</strong></p>\n"
        "{% else %}<p>" + single + "</p>\n<p>" + words["balance"] + ": <strong>{{ balance }}</strong></p>\n"
        "{% if invoice.payment_url %}<p>"
        + words["pay"]
        + ': <a href="{{ invoice.payment_url }}">{{ invoice.payment_url }}</a></p>\n'
        "{% endif %}{% endif %}"
        "{% if other_invoices %}<p>" + words["also"] + "</p>\n<ul>\n"
        "{% for o in other_invoices %}<li>" + words["other"] + other_link + "</li>\n"
        "{% endfor %}</ul>\n{% endif %}"
        + "".join(f"<p>{sentence}</p>\n" for sentence in closing)
        + "<p>"
        + words["signature_html"]
        + "</p>\n"
    )


def ship(apps, schema_editor):
    ReminderTemplate = apps.get_model("reminders", "ReminderTemplate")
    for level in (1, 2, 3):
        ReminderTemplate.objects.filter(
            level=level,
            language="en",
            text_body=STATEMENTS.text_body(level),
            html_body=STATEMENTS.html_body(level),
        ).update(text_body=text_body("en", level), html_body=html_body("en", level))
        if level in EN_SUBJECTS:
            ReminderTemplate.objects.filter(
                level=level, language="en", subject=STATEMENTS.SUBJECTS[level]
            ).update(subject=EN_SUBJECTS[level])
        name, subject, *_ = WORDING["de"][level]
        ReminderTemplate.objects.get_or_create(
            level=level,
            language="de",
            defaults={
                "name": name,
                "subject": subject,
                "text_body": text_body("de", level),
                "html_body": html_body("de", level),
            },
        )


def unship(apps, schema_editor):
    ReminderTemplate = apps.get_model("reminders", "ReminderTemplate")
    for level in (1, 2, 3):
        name, subject, *_ = WORDING["de"][level]
        ReminderTemplate.objects.filter(
            level=level,
            language="de",
            subject=subject,
            text_body=text_body("de", level),
            html_body=html_body("de", level),
        ).delete()
        ReminderTemplate.objects.filter(
            level=level, language="en", text_body=text_body("en", level), html_body=html_body("en", level)
        ).update(text_body=STATEMENTS.text_body(level), html_body=STATEMENTS.html_body(level))
        if level in EN_SUBJECTS:
            ReminderTemplate.objects.filter(level=level, language="en", subject=EN_SUBJECTS[level]).update(
                subject=STATEMENTS.SUBJECTS[level]
            )


class Migration(migrations.Migration):
    dependencies = [("reminders", "0011_reminder_template_language")]

    operations = [migrations.RunPython(ship, unship)]
