import pytest

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
