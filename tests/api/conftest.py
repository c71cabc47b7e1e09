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
