import pytest


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
