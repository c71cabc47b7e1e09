"""The database cache that writes in one statement (common.cache), which the API throttle counts in."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.cache import UpsertDatabaseCache

pytestmark = pytest.mark.django_db


def cache() -> UpsertDatabaseCache:
    return UpsertDatabaseCache("django_cache", {})


def rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM django_cache")
        return cursor.fetchone()[0]


def test_a_value_written_again_replaces_the_first():
    store = cache()
    for value in (["first"], ["second", 2]):
        store.set("key", value, 60)
    assert store.get("key") == ["second", 2]
    assert rows() == 1


def test_a_write_is_one_statement():
    store = cache()
    with CaptureQueriesContext(connection) as captured:
        store.set("key", 2, 60)
        store.set("other", 3, 60)
    assert len(captured) == 2
    assert (store.get("key"), store.get("other")) == (2, 3)


def test_an_expired_value_is_not_read():
    store = cache()
    store.set("gone", 1, 60)
    store.set("gone", 2, 0)
    assert store.get("gone", "missing") == "missing"


def test_a_value_without_timeout_is_kept():
    store = cache()
    store.set("kept", 1, None)
    assert store.get("kept") == 1
