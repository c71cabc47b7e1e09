"""A database cache for values written on every request, such as the API throttle's request history.

Django's ``DatabaseCache.set`` takes five round trips: it counts the table to decide on culling, then
selects the key and updates or inserts it in a transaction. Here a write is one ``INSERT … ON CONFLICT``
statement (PostgreSQL and SQLite; Django's own write on other databases), and nothing is culled: use it
for a bounded set of keys (the throttle has one per API user) in the default cache's table, whose own
writes (the cluster's heartbeats) cull it. Reads, expiry and the table are Django's (``createcachetable``).

``cached`` keeps an answer that is costly to read (the API's status, aging, run total) in the default
cache for a few seconds, so every web process and thread reads it once in that time.
"""

from __future__ import annotations

import base64
import pickle
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router

UPSERT_VENDORS = ("postgresql", "sqlite")
T = TypeVar("T")


class UpsertDatabaseCache(DatabaseCache):
    def __init__(self, table: str, params: dict[str, Any]) -> None:
        super().__init__(table, params)
        self.table = table

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        connection = connections[router.db_for_write(self.cache_model_class)]
        if connection.vendor not in UPSERT_VENDORS:
            super().set(key, value, timeout, version)
            return
        quote = connection.ops.quote_name
        table, cache_key, value_column, expires = map(quote, (self.table, "cache_key", "value", "expires"))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({cache_key}, {value_column}, {expires}) VALUES (%s, %s, %s) "
                f"ON CONFLICT ({cache_key}) DO UPDATE "
                f"SET {value_column} = EXCLUDED.{value_column}, {expires} = EXCLUDED.{expires}",
                [
                    self.make_and_validate_key(key, version=version),
                    base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1"),
                    connection.ops.adapt_datetimefield_value(self._expires(timeout)),
                ],
            )

    def _expires(self, timeout: Any) -> datetime:
        """As Django's ``DatabaseCache`` stores it: whole seconds, ``datetime.max`` for no timeout."""
        seconds = self.get_backend_timeout(timeout)
        if seconds is None:
            return datetime.max.replace(microsecond=0)
        return datetime.fromtimestamp(seconds, tz=UTC if settings.USE_TZ else None).replace(microsecond=0)


def cached(key: str, read: Callable[[], T], *, seconds: int) -> T:
    """What ``read()`` returns, kept ``seconds`` under ``key`` in the default cache, which every web
    process shares, so each reads it at most once in that time; 0 reads it every time."""
    if not seconds:
        return read()
    return cast(T, caches["default"].get_or_set(key, read, seconds))
