"""Trigram indexes for the desk's searches (SPEC §9): a customer's name or email, an invoice's number, any
part of them. PostgreSQL only (``common.migration_operations``); the models do not declare them."""

from django.db import migrations

from common.migration_operations import AddTrigramIndex, TrigramExtension


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0008_customer_email_suppression"),
    ]

    operations = [
        TrigramExtension(),
        AddTrigramIndex(model_name="customer", column="name", name="customer_name_trgm"),
        AddTrigramIndex(model_name="customer", column="email", name="customer_email_trgm"),
        AddTrigramIndex(model_name="invoice", column="number", name="invoice_number_trgm"),
    ]
