"""ApiToken moved from `scheduler` to `api` (api 0001, scheduler 0005): a token issued before the move,
and the permissions given on tokens, work after it. Run by Django's migration executor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from api.models import ApiToken
from api.tokens import api_token_for_key
from tests.api.conftest import bearer

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_MOVE = [("scheduler", "0004_adopt_legacy_notifications"), ("api", None)]
KEY = "issued-before-the-move-0000000000000000000"


@pytest.fixture
def before_move() -> Iterator[MigrationExecutor]:
    """The schema as it was while `scheduler` owned the tokens; the latest schema again afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_MOVE)
    executor.loader.build_graph()
    yield executor
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def models_before_move(executor: MigrationExecutor):
    """The models as they were before the move, users and content types as they are now."""
    now = [node for node in executor.loader.graph.leaf_nodes() if node[0] in ("auth", "contenttypes")]
    return executor.loader.project_state([BEFORE_MOVE[0], *now]).apps


def test_a_token_issued_before_the_move_still_authenticates_after_it(before_move, client):
    old_apps = models_before_move(before_move)
    user = old_apps.get_model("auth", "User").objects.create(username="ops", is_staff=True)
    old_token = old_apps.get_model("scheduler", "ApiToken").objects.create(
        user_id=user.pk, name="grafana", prefix=KEY[:8], key_hash=ApiToken.hash_key(KEY)
    )

    before_move.migrate(before_move.loader.graph.leaf_nodes())

    token = api_token_for_key(key=KEY)
    assert token is not None
    assert (token.pk, token.name, token.user.username) == (old_token.pk, "grafana", "ops")
    response = client.get("/api/v1/scheduler/status", headers=bearer(KEY))
    assert response.status_code == 200, response.content


def test_a_permission_given_on_tokens_before_the_move_holds_after_it(before_move):
    old_apps = models_before_move(before_move)
    content_type = old_apps.get_model("contenttypes", "ContentType").objects.get_or_create(
        app_label="scheduler", model="apitoken"
    )[0]
    permission = old_apps.get_model("auth", "Permission").objects.get_or_create(
        content_type=content_type, codename="change_apitoken", defaults={"name": "Can change API token"}
    )[0]
    clerk = old_apps.get_model("auth", "User").objects.create(username="clerk", is_staff=True)
    clerk.user_permissions.add(permission)

    before_move.migrate(before_move.loader.graph.leaf_nodes())

    assert Permission.objects.get(pk=permission.pk).content_type.app_label == "api"
    assert User.objects.get(username="clerk").has_perm("api.change_apitoken")
