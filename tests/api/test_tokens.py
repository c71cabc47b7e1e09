import hashlib
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from api.models import ApiToken
from api.tokens import TokenError, api_token_create, api_token_for_key, api_token_revoke
from tests.api.factories import ApiTokenFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)


def test_issued_key_is_stored_only_as_its_sha256(staff_user):
    issued = api_token_create(username="ops", name="alerting")
    token = ApiToken.objects.get()
    assert token.key_hash == hashlib.sha256(issued.key.encode()).hexdigest()
    assert token.prefix == issued.key[:8]
    stored = [str(getattr(token, field.attname)) for field in ApiToken._meta.concrete_fields]
    assert not any(issued.key in value for value in stored)


def test_each_issued_key_is_new_and_long(staff_user):
    keys = {api_token_create(username="ops").key for _ in range(3)}
    assert len(keys) == 3
    assert all(len(key) >= 43 for key in keys)


def test_a_token_can_be_issued_to_a_user_who_is_not_staff(django_user_model):
    django_user_model.objects.create_user(username="clerk")
    assert api_token_create(username="clerk").token.user.username == "clerk"


def test_unknown_user_gets_no_token():
    with pytest.raises(TokenError, match="No user named 'ghost'"):
        api_token_create(username="ghost")


def test_inactive_user_gets_no_token(django_user_model):
    django_user_model.objects.create_user(username="gone", is_active=False)
    with pytest.raises(TokenError, match="'gone' is inactive"):
        api_token_create(username="gone")
    assert not ApiToken.objects.exists()


def test_revoking_by_prefix_sets_the_revocation_time(staff_user):
    issued = api_token_create(username="ops")
    token = api_token_revoke(prefix=issued.key[:8], now=NOW)
    assert token.revoked_at == NOW
    assert not token.is_active


def test_revoking_twice_keeps_the_first_revocation_time(staff_user):
    issued = api_token_create(username="ops")
    api_token_revoke(prefix=issued.key[:8], now=NOW)
    assert api_token_revoke(prefix=issued.key[:8], now=NOW + timedelta(days=1)).revoked_at == NOW


@pytest.mark.parametrize("prefix", ["nomatch1", "short"])
def test_revoking_an_unknown_or_short_prefix_is_refused(staff_user, prefix):
    api_token_create(username="ops")
    with pytest.raises(TokenError, match="first 8 characters"):
        api_token_revoke(prefix=prefix)


def test_lookup_records_use_at_most_once_a_minute(staff_user):
    key = api_token_create(username="ops").key
    api_token_for_key(key=key, now=NOW)
    api_token_for_key(key=key, now=NOW + timedelta(seconds=59))
    assert ApiToken.objects.get().last_used_at == NOW
    api_token_for_key(key=key, now=NOW + timedelta(seconds=60))
    assert ApiToken.objects.get().last_used_at == NOW + timedelta(seconds=60)


def test_lookup_of_a_revoked_token_does_not_record_use(staff_user):
    key = api_token_create(username="ops").key
    api_token_revoke(prefix=key[:8])
    assert api_token_for_key(key=key, now=NOW).revoked_at is not None
    assert ApiToken.objects.get().last_used_at is None


def test_lookup_of_an_unknown_key_finds_nothing(staff_user):
    api_token_create(username="ops")
    assert api_token_for_key(key="not-a-key") is None


def test_create_api_token_command_prints_the_key_once(staff_user):
    out, err = StringIO(), StringIO()
    call_command("create_api_token", "ops", "--name", "grafana", stdout=out, stderr=err)
    key = out.getvalue().strip()
    token = ApiToken.objects.get()
    assert token.key_hash == ApiToken.hash_key(key)
    assert token.name == "grafana"
    assert key not in err.getvalue()
    assert "not shown again" in err.getvalue()


def test_create_api_token_command_warns_about_a_user_who_is_not_staff(django_user_model):
    django_user_model.objects.create_user(username="clerk")
    err = StringIO()
    call_command("create_api_token", "clerk", stdout=StringIO(), stderr=err)
    assert "not staff" in err.getvalue()


@pytest.mark.parametrize(("username", "message"), [("ghost", "No user named 'ghost'"), ("gone", "inactive")])
def test_create_api_token_command_refuses_unknown_and_inactive_users_with_exit_2(
    django_user_model, username, message
):
    django_user_model.objects.create_user(username="gone", is_active=False)
    with pytest.raises(CommandError, match=message) as raised:
        call_command("create_api_token", username, stdout=StringIO(), stderr=StringIO())
    assert raised.value.returncode == 2


def test_revoke_api_token_command_revokes_by_prefix(staff_user):
    key = api_token_create(username="ops").key
    out = StringIO()
    call_command("revoke_api_token", key[:8], stdout=out)
    assert ApiToken.objects.get().revoked_at is not None
    assert "revoked" in out.getvalue()


def test_no_key_starts_with_a_dash_that_the_revoke_command_would_read_as_an_option(staff_user):
    keys = [api_token_create(username="ops").key for _ in range(200)]
    assert not [key for key in keys if key.startswith("-")]


def test_revoke_api_token_command_refuses_an_unknown_prefix_with_exit_2(staff_user):
    with pytest.raises(CommandError, match="No token with prefix") as raised:
        call_command("revoke_api_token", "zzzzzzzz", stdout=StringIO())
    assert raised.value.returncode == 2


@pytest.mark.django_db
def test_a_token_is_found_by_its_key_and_never_by_its_stored_hash():
    token = ApiTokenFactory(key="k" * 43)
    assert api_token_for_key(key="k" * 43) == token
    assert api_token_for_key(key=token.key_hash) is None
