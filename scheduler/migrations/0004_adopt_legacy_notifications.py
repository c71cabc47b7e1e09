"""Reminders created before the `reminders` app kept them in `invoicing_notification`, identified by
their level (a position in the run's list of thresholds). Copy them into `reminders_notification` with
the threshold that level stood for in the run that created it, then drop the old table.

The copies are marked `cancelled` ("before delivery"): they were recorded before reminders were
emailed, and an upgrade must not mail a backlog of old reminders at once.

Two legacy rows of one invoice can stand for the same threshold: a change of the list moved it to
another level (`7,30` then `1,7,30` repeated the 30-day reminder as level 3). That repeat is the defect
this identity ends; the first of them (lowest id) is kept and the later ones are left out (how many
is printed).
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
    last_id = seen = 0
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
        copies = [
            Notification(
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
            for id_, invoice_id, level, days, recipient, message, created_at, run_id in rows
        ]
        # The copies go in by id, so of two for one threshold the first (an earlier chunk's, or the
        # earlier row of this statement) is kept.
        Notification.objects.bulk_create(copies, ignore_conflicts=True)
        last_id, seen = rows[-1][0], seen + len(rows)
    adopted = Notification.objects.filter(cancel_reason="before delivery").count()
    print(f"\n  {adopted} reminders adopted; {seen - adopted} repeated a threshold and were left out.")
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
