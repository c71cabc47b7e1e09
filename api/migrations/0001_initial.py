"""ApiToken moves from `scheduler` to `api` with its table, rows and permissions: the table keeps its name
(only the model's state moves), and the token's content type is relabelled so that the permissions given
on it, and the admin's history of it, stay attached."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def relabel_content_type(apps, schema_editor, *, source, target):
    content_types = apps.get_model("contenttypes", "ContentType").objects.using(schema_editor.connection.alias)
    if not content_types.filter(app_label=target, model="apitoken").exists():
        content_types.filter(app_label=source, model="apitoken").update(app_label=target)


def to_api(apps, schema_editor):
    relabel_content_type(apps, schema_editor, source="scheduler", target="api")


def to_scheduler(apps, schema_editor):
    relabel_content_type(apps, schema_editor, source="api", target="scheduler")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("scheduler", "0004_adopt_legacy_notifications"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ApiToken",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("name", models.CharField(blank=True, max_length=100)),
                        ("prefix", models.CharField(help_text="First characters of the key, to tell tokens apart.", max_length=8)),
                        ("key_hash", models.CharField(editable=False, max_length=64, unique=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("last_used_at", models.DateTimeField(blank=True, null=True)),
                        ("revoked_at", models.DateTimeField(blank=True, null=True)),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="api_tokens", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "verbose_name": "API token",
                        "db_table": "scheduler_apitoken",
                        "ordering": ["-created_at"],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(to_api, to_scheduler),
    ]
