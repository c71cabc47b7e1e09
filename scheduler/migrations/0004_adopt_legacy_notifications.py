"""Reminders created before the `reminders` app kept them in `invoicing_notification`, identified by
their level (a position in the run's list of thresholds). Copy them into `reminders_notification` with
the threshold that level stood for in the run that created it, then drop the old table.

The copies are marked `cancelled` ("before delivery"): they were recorded before reminders were
emailed, and an upgrade must not mail a backlog of old reminders at once.

Levels as positions let a change of the thresholds give an invoice a second reminder for the same
threshold. Only the first of those is kept (the unique key now refuses the second); how many were
dropped is printed.
"""

from django.db import migrations

LEGACY_TABLE = "invoicing_notification"
CHUNK = 5000


def _threshold(reminder_days: str, level: int) -> int:
    days = [int(day) for day in reminder_days.split(",")]
    return days[min(level, len(days)) - 1]


def adopt_legacy_notifications(apps, schema_editor):
    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return
    Notification = apps.get_model("reminders", "Notification")
    runs = dict(apps.get_model("scheduler", "JobExecutionLog").objects.values_list("id", "reminder_days"))
    last_id = copied = seen = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, invoice_id, level, days_overdue, recipient, message, created_at, execution_id "
                f"FROM {LEGACY_TABLE} WHERE id > %s ORDER BY id LIMIT %s",
                [last_id, CHUNK],
            )
            rows = cursor.fetchall()
        if not rows:
            break
        seen += len(rows)
        before = Notification.objects.count()
        Notification.objects.bulk_create(
            (Notification(
                id=id_,
                invoice_id=invoice_id,
                threshold_days=_threshold(runs[run_id], level),
                level=level,
                days_overdue=days,
                recipient=recipient,
                message=message,
                created_at=created_at,
                run_id=run_id,
                delivery_state="cancelled",
                cancel_reason="before delivery",
            )
            for id_, invoice_id, level, days, recipient, message, created_at, run_id in rows),
            ignore_conflicts=True,
        )
        copied += Notification.objects.count() - before
        last_id = rows[-1][0]
    print(f"\n  {copied} reminders adopted; {seen - copied} repeated a threshold and were dropped.")
    schema_editor.execute(f"DROP TABLE {LEGACY_TABLE}")
    if connection.vendor == "postgresql":
        schema_editor.execute(
            "SELECT setval(pg_get_serial_sequence('reminders_notification', 'id'), "
            "COALESCE((SELECT max(id) FROM reminders_notification), 1))"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("scheduler", "0003_execution_request_id_and_dry_run_index"),
        ("reminders", "0001_initial"),
    ]

    operations = [migrations.RunPython(adopt_legacy_notifications, migrations.RunPython.noop)]
