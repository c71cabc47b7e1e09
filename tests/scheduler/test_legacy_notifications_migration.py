"""The data migration that moves reminders kept by level (`invoicing_notification`) to reminders kept by
threshold (`scheduler` 0004): run by Django's migration executor on a hand-made legacy table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from reminders.models import Notification
from scheduler.models import JobExecutionLog
from tests.scheduler.factories import JobExecutionLogFactory

BEFORE = [
    ("scheduler", "0003_execution_request_id_and_dry_run_index"),
    ("invoicing", "0003_customer_reference_payments"),
    # The last schema whose reminders carried their own delivery, which the adoption writes.
    ("reminders", "0005_last_attempt_index"),
]
ADOPT = [("scheduler", "0004_adopt_legacy_notifications")]

# The table as the first release created it: reminders identified by (invoice, level).
LEGACY_TABLE_SQL = """
CREATE TABLE invoicing_notification (
    id bigserial PRIMARY KEY,
    invoice_id bigint NOT NULL REFERENCES invoicing_invoice (id),
    level smallint NOT NULL CHECK (level >= 1),
    days_overdue integer NOT NULL CHECK (days_overdue >= 1),
    recipient varchar(254) NOT NULL,
    message text NOT NULL,
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    execution_id bigint NOT NULL REFERENCES scheduler_jobexecutionlog (id),
    CONSTRAINT notification_once_per_level UNIQUE (invoice_id, level)
)
"""

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the legacy table is written for PostgreSQL"
    ),
]


@pytest.fixture
def before_adoption() -> Iterator[MigrationExecutor]:
    """The schema just before the adoption, with the legacy table; the latest schema again afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    with connection.cursor() as cursor:
        cursor.execute(LEGACY_TABLE_SQL)
    executor.loader.build_graph()
    yield executor
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS invoicing_notification")
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def legacy_run(reminder_days: str) -> JobExecutionLog:
    return JobExecutionLogFactory(reminder_days=reminder_days)


def legacy_reminder(invoice_id: int, level: int, days: int, run: JobExecutionLog) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO invoicing_notification (invoice_id, level, days_overdue, recipient, message, "
            "execution_id) VALUES (%s, %s, %s, 'ap@customer.example', 'Dear …', %s) RETURNING id",
            [invoice_id, level, days, run.pk],
        )
        return cursor.fetchone()[0]


def adopt(executor: MigrationExecutor) -> None:
    """The adoption, then every later migration (the models are today's)."""
    executor.migrate(ADOPT)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def old_invoice(executor: MigrationExecutor, number: str) -> Any:
    """An invoice written through the models as they were before the adoption (today's have columns the
    tables do not have yet)."""
    apps = executor.loader.project_state(BEFORE).apps
    customer = apps.get_model("invoicing", "Customer").objects.create(
        name=f"Customer of {number}", email="ap@customer.example"
    )
    return apps.get_model("invoicing", "Invoice").objects.create(
        customer=customer,
        number=number,
        issue_date=date(2026, 1, 1),
        due_date=date(2026, 1, 31),
        currency="EUR",
        total=Decimal("100.00"),
        status="sent",
    )


def legacy_table_exists() -> bool:
    return "invoicing_notification" in connection.introspection.table_names()


def test_legacy_reminders_keep_the_threshold_their_level_stood_for_in_their_run(before_adoption):
    first, second = old_invoice(before_adoption, "INV-1"), old_invoice(before_adoption, "INV-2")
    short, long = legacy_run("7,30"), legacy_run("1,7,30")
    ids = [
        legacy_reminder(first.pk, 1, 8, short),  # level 1 of 7,30: 7 days
        legacy_reminder(first.pk, 2, 31, short),  # level 2 of 7,30: 30 days
        legacy_reminder(second.pk, 1, 2, long),  # level 1 of 1,7,30: 1 day
        legacy_reminder(second.pk, 3, 40, long),  # level 3 of 1,7,30: 30 days
    ]

    adopt(before_adoption)

    rows = list(
        Notification.objects.order_by("id").values_list(
            "id", "invoice_id", "threshold_days", "level", "run_id"
        )
    )
    assert rows == [
        (ids[0], first.pk, 7, 1, short.pk),
        (ids[1], first.pk, 30, 2, short.pk),
        (ids[2], second.pk, 1, 1, long.pk),
        (ids[3], second.pk, 30, 3, long.pk),
    ]
    # Adopted as cancelled, each later became a cancelled message of one.
    assert set(Notification.objects.values_list("delivery__state", flat=True)) == {"cancelled"}
    assert not legacy_table_exists()
    # The sequence continues after the copied ids: a new reminder does not collide with them.
    assert Notification.objects.create(
        invoice_id=first.pk,
        threshold_days=60,
        level=3,
        days_overdue=61,
        recipient="a@b.example",
        message="m",
        run_id=1,
    ).pk > max(ids)


def test_the_repeated_reminders_of_a_threshold_change_become_one(before_adoption):
    """The defect's own data: `7,30` then `1,7,30` gave an invoice level 2 (30 days) and then level 3
    (30 days again). Both are the same threshold; the first is kept, and the migration does not stop
    on the unique key."""
    invoice = old_invoice(before_adoption, "INV-1")
    short, long = legacy_run("7,30"), legacy_run("1,7,30")
    kept = legacy_reminder(invoice.pk, 2, 30, short)
    legacy_reminder(invoice.pk, 3, 31, long)

    adopt(before_adoption)

    assert list(Notification.objects.values_list("id", "threshold_days", "level", "run_id")) == [
        (kept, 30, 2, short.pk)
    ]
    assert not legacy_table_exists()
