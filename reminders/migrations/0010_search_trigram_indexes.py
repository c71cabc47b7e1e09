"""A trigram index on the reminder's recipient for the reminders' search (SPEC §9). PostgreSQL only
(``common.migration_operations``); the model does not declare it."""

from django.db import migrations

from common.migration_operations import AddTrigramIndex


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0005_search_trigram_indexes"),
        ("reminders", "0009_statement_templates"),
    ]

    operations = [
        AddTrigramIndex(model_name="notification", column="recipient", name="notification_recipient_trgm"),
    ]
