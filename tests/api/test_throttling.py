"""The API throttle counts a user's requests in the ``throttle`` cache, which every web process shares."""

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.processes import run_manage

pytestmark = pytest.mark.django_db

EXECUTIONS = "/api/v1/scheduler/executions"


def test_each_request_of_a_user_is_counted_in_the_throttle_cache(client, staff_user, staff_headers):
    for _ in range(3):
        assert client.get(EXECUTIONS, headers=staff_headers).status_code == 200
    assert len(caches["throttle"].get(f"throttle_user_{staff_user.pk}")) == 3


def test_the_throttle_reads_and_writes_a_users_count_in_two_statements(client, staff_headers):
    client.get(EXECUTIONS, headers=staff_headers)  # the token's use is recorded once
    with CaptureQueriesContext(connection) as captured:
        client.get(EXECUTIONS, headers=staff_headers)
    assert len([query for query in captured if "throttle_user" in query["sql"]]) == 2


@pytest.mark.parametrize(
    ("environment", "backend"),
    [
        ({}, "common.cache.UpsertDatabaseCache"),
        ({"REDIS_URL": "redis://127.0.0.1:6379/0"}, "django.core.cache.backends.redis.RedisCache"),
    ],
)
def test_the_throttle_counts_in_the_database_unless_redis_is_configured(tmp_path, environment, backend):
    read = "from django.conf import settings; print(settings.CACHES['throttle']['BACKEND'])"
    database = f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
    result = run_manage("shell", "--no-imports", "-c", read, DATABASE_URL=database, **environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == backend
