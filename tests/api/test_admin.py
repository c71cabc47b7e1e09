import pytest
from django.urls import reverse

from api.models import ApiToken
from api.tokens import api_token_create

pytestmark = pytest.mark.django_db

TOKENS_URL = reverse("admin:api_apitoken_changelist")


def test_token_list_shows_prefixes_never_hashes_or_keys(superuser_client, staff_user):
    issued = api_token_create(username=staff_user.username, name="grafana")
    html = superuser_client.get(TOKENS_URL).content.decode()
    assert f"{issued.token.prefix}…" in html
    assert issued.token.key_hash not in html
    assert issued.key not in html
    detail = superuser_client.get(reverse("admin:api_apitoken_change", args=[issued.token.pk]))
    assert issued.token.key_hash not in detail.content.decode()


def test_tokens_cannot_be_added_in_the_admin(superuser_client):
    assert superuser_client.get(reverse("admin:api_apitoken_add")).status_code == 403


def test_revoke_action_revokes_the_selected_tokens(superuser_client, staff_user):
    chosen = api_token_create(username=staff_user.username).token
    other = api_token_create(username=staff_user.username).token
    response = superuser_client.post(
        TOKENS_URL, {"action": "revoke", "_selected_action": [chosen.pk]}, follow=True
    )
    assert "Revoked 1 token(s)" in response.content.decode()
    assert ApiToken.objects.get(pk=chosen.pk).revoked_at is not None
    assert ApiToken.objects.get(pk=other.pk).revoked_at is None
