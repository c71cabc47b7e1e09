"""ApiToken now belongs to `api` (its 0001): only the model's state leaves `scheduler`, the table stays."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("scheduler", "0004_adopt_legacy_notifications"),
        ("api", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ApiToken")],
            database_operations=[],
        ),
    ]
