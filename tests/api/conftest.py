from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from api.tokens import api_token_create


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def staff_key(staff_user) -> str:
    return api_token_create(username=staff_user.username, name="tests").key


@pytest.fixture
def staff_headers(staff_key) -> dict[str, str]:
    return bearer(staff_key)


BOOKS_PERMISSIONS = [
    f"{action}_{model}"
    for model in ("customer", "invoice", "payment")
    for action in ("view", "add", "change")
]


def headers_with_permissions(username: str, codenames: list[str]) -> dict[str, str]:
    """A bearer header for an active staff user holding exactly these ``invoicing`` permissions."""
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user(username=username, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="invoicing", codename__in=codenames)
    )
    return bearer(api_token_create(username=username, name="tests").key)


@pytest.fixture
def books_headers(db) -> dict[str, str]:
    """A token of finance staff who may read and write customers, invoices and payments."""
    return headers_with_permissions("books", BOOKS_PERMISSIONS)


@pytest.fixture
def finance_headers(db) -> dict[str, str]:
    """A token of staff who may read invoices (the aging)."""
    return headers_with_permissions("reader", ["view_invoice"])


def expire_cached(name: str) -> None:
    """As the clock would once the API's cache time is over: the expiry of the cached ``name`` (aging,
    status) moved into the past in the cache table."""
    table = connection.ops.quote_name("django_cache")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET expires = %s WHERE cache_key LIKE %s",
            [timezone.now() - timedelta(seconds=1), f"%{name}%"],
        )
