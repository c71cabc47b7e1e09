#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

# Commands that work on the project's tables: on a database that is not migrated (or cannot be
# reached) they stop with one clear line instead of a traceback per query.
NEEDS_MIGRATED_DATABASE = {
    "run_overdue_check",
    "send_reminders",
    "sync_schedules",
    "seed_demo_data",
    "import_invoices",
    "export_invoices",
    "show_notifications",
    "create_api_token",
    "revoke_api_token",
    "qcluster",
}


def refuse_unready_database(command: str) -> None:
    from django.db import DatabaseError, connection
    from django.db.migrations.executor import MigrationExecutor

    from common.exit_codes import FAILED_EXIT_CODE, REFUSED_EXIT_CODE

    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        sys.stderr.write(f"{command}: the database cannot be reached: {reason}\n")
        sys.exit(FAILED_EXIT_CODE)
    if pending:
        sys.stderr.write(
            f"{command}: the database is not migrated ({len(pending)} migrations to apply): "
            "run `python manage.py migrate`.\n"
        )
        sys.exit(REFUSED_EXIT_CODE)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.management import execute_from_command_line

    from common.configuration import configuration_problems, describe_problems
    from common.exit_codes import REFUSED_EXIT_CODE

    command = sys.argv[1] if len(sys.argv) > 1 else ""
    # Every command but `check` (which lists the problems as errors) refuses an invalid configuration.
    if command != "check":
        django.setup()
        if problems := configuration_problems():
            sys.stderr.write(describe_problems(problems) + "\n")
            sys.exit(REFUSED_EXIT_CODE)
    if command in NEEDS_MIGRATED_DATABASE and "--help" not in sys.argv[2:]:
        refuse_unready_database(command)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
