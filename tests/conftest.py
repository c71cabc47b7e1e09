import pytest


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """On SQLite the test database is a file of this session, not Django's in-memory default, so that
    a ``manage.py`` process started by a test opens the database the test wrote (tests/processes.py)."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3" and not database.get("TEST", {}).get("NAME"):
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("database") / "test.sqlite3")


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user(
        username="finance", password="s3cret-pass!", is_staff=True, is_superuser=True
    )
    client.force_login(user)
    return client


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(username="ops", is_staff=True)


@pytest.fixture
def superuser_client(client, django_user_model):
    user = django_user_model.objects.create_user(username="finance", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client
