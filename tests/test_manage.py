"""manage.py on a database that is not ready: one clear line, never a traceback per query."""

import pytest

from tests.processes import run_manage

COMMANDS = [
    ["run_overdue_check"],
    ["sync_schedules"],
    ["seed_demo_data"],
    ["create_api_token", "someone"],
    ["qcluster"],
]


@pytest.mark.processes
@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command[0])
def test_a_command_on_an_unmigrated_database_says_to_migrate_and_exits_2(tmp_path, command):
    result = run_manage(*command, timeout=60, DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert result.returncode == 2
    assert "the database is not migrated" in result.stderr
    assert "run `python manage.py migrate`" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.processes
def test_a_run_that_cannot_reach_the_database_says_so_in_one_line():
    # Nothing listens on port 9 of the loopback (the discard port is not served here).
    result = run_manage("run_overdue_check", timeout=60, DATABASE_URL="postgres://nobody@127.0.0.1:9/none")
    assert result.returncode == 1
    assert result.stderr.startswith("run_overdue_check: the database cannot be reached:")
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.splitlines()) == 1
