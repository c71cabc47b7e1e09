"""Q_CLUSTER per docs/SPEC.md §6, as django-q2 itself reads it in a freshly started process."""

import json
from pathlib import Path

import pytest
from django.conf import settings

from tests.processes import run_manage

# Printed by a `manage.py shell` with the environment under test; django-q2's Conf is read at import.
READ_CONF = """
import json
from pathlib import Path
from django.conf import settings
from django_q.brokers import get_broker
from django_q.conf import Conf
print(json.dumps({
    "broker": type(get_broker()).__name__, "orm": Conf.ORM, "redis": Conf.REDIS,
    "time_zone": Conf.TIME_ZONE, "catch_up": Conf.CATCH_UP, "ack_failures": Conf.ACK_FAILURES,
    "max_attempts": Conf.MAX_ATTEMPTS, "timeout": Conf.TIMEOUT, "retry": Conf.RETRY,
    "cache_backend": settings.CACHES[Conf.CACHE]["BACKEND"],
}))
"""
# A run over 1,000,000 invoices takes seconds to minutes (docs/SPEC.md §9); the timeout must not cut it short.
LONGEST_REALISTIC_RUN = 15 * 60


def cluster_conf(scratch: Path, **env: str) -> dict[str, object]:
    # The ORM broker connects when it is built; an empty scratch database is all it needs.
    database = f"sqlite:///{scratch / 'scratch.sqlite3'}"
    result = run_manage("shell", "--no-imports", "-c", READ_CONF, DATABASE_URL=database, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def default_conf(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return cluster_conf(tmp_path_factory.mktemp("conf"), OVERDUE_INVOICE_TIMEZONE="Europe/Paris")


def test_cluster_uses_the_orm_broker_on_the_default_database(default_conf: dict[str, object]) -> None:
    assert (default_conf["broker"], default_conf["orm"]) == ("ORM", "default")
    assert not default_conf["redis"]


def test_cluster_runs_schedules_on_the_configured_zones_clock(default_conf: dict[str, object]) -> None:
    assert default_conf["time_zone"] == "Europe/Paris"


def test_cluster_never_catches_up_and_tries_a_task_once(default_conf: dict[str, object]) -> None:
    assert (default_conf["catch_up"], default_conf["ack_failures"], default_conf["max_attempts"]) == (
        False,
        True,
        1,
    )


def test_task_timeout_covers_a_long_run_and_is_below_retry(default_conf: dict[str, object]) -> None:
    assert LONGEST_REALISTIC_RUN < default_conf["timeout"] < default_conf["retry"]  # type: ignore[operator]


def test_heartbeats_go_to_the_shared_database_cache(default_conf: dict[str, object]) -> None:
    assert default_conf["cache_backend"] == "django.core.cache.backends.db.DatabaseCache"
    assert settings.CACHES["default"]["LOCATION"] == "django_cache"


def test_redis_url_moves_the_broker_to_redis(tmp_path: Path) -> None:
    conf = cluster_conf(tmp_path, REDIS_URL="redis://127.0.0.1:6379/0")
    assert (conf["broker"], conf["orm"], conf["redis"]) == ("Redis", None, "redis://127.0.0.1:6379/0")


@pytest.mark.parametrize(
    ("name", "value"), [("Q_CLUSTER_WORKERS", "two"), ("Q_CLUSTER_TIMEOUT", "-5"), ("Q_CLUSTER_RETRY", "0")]
)
def test_cluster_number_not_a_positive_whole_number_is_refused_naming_it(name: str, value: str) -> None:
    result = run_manage("check", **{name: value})
    assert result.returncode != 0
    assert f"{name}={value!r} is invalid: expected a whole number of at least 1." in result.stderr


def test_timeout_not_below_retry_is_refused_at_start() -> None:
    result = run_manage("check", Q_CLUSTER_TIMEOUT="3660", Q_CLUSTER_RETRY="3660")
    assert result.returncode != 0
    assert "Q_CLUSTER_TIMEOUT=3660 must be below Q_CLUSTER_RETRY=3660" in result.stderr
