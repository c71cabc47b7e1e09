"""Security: a production deploy passes ``check --deploy`` and needs its own secret key; the API is
throttled, staff-only, and its tokens are hashed, revocable and never written to logs; the admin is
staff-only; a run's log holds no customer data beyond invoice id and number."""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from api.models import ApiToken
from api.tokens import api_token_create, api_token_revoke
from reminders.models import Notification
from scheduler.models import RunStatus
from scheduler.services import overdue_check_run
from tests.invoicing.factories import CustomerFactory, InvoiceFactory
from tests.processes import ROOT, manage_command, needs_postgresql, process_env, wait_until
from tests.reliability.conftest import report
from tests.scheduler.factories import JobExecutionLogFactory
from tests.scheduler.oracle import make_config
from tests.scheduler.test_overdue_check import refuse_reminders_to

pytestmark = pytest.mark.reliability

# --- Settings of a production deploy --------------------------------------------------------------

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "billing.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://billing.example.com",
    "DJANGO_SECURE_SSL_REDIRECT": "1",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_SECURE_HSTS_PRELOAD": "1",
    "DJANGO_BEHIND_TLS_PROXY": "1",
    "EMAIL_URL": "smtp+tls://billing:app-password@smtp.example.com:587",
}


def manage_with(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``manage.py`` with exactly these ``DJANGO_*`` variables: none inherited from the test run."""
    base = {name: value for name, value in os.environ.items() if not name.startswith("DJANGO_")}
    return subprocess.run(
        manage_command(*args),
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.processes
def test_production_settings_pass_the_deploy_check_with_no_warning():
    checked = manage_with(PRODUCTION, "check", "--deploy", "--fail-level", "WARNING")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no issues" in checked.stdout


@pytest.mark.processes
@pytest.mark.parametrize(
    ("left_out", "warning"),
    [("DJANGO_SECURE_SSL_REDIRECT", "security.W008"), ("DJANGO_SECURE_HSTS_SECONDS", "security.W004")],
)
def test_the_https_settings_come_from_the_environment(left_out, warning):
    env = {name: value for name, value in PRODUCTION.items() if name != left_out}
    checked = manage_with(env, "check", "--deploy", "--fail-level", "WARNING")
    assert checked.returncode != 0
    assert warning in checked.stderr


@pytest.mark.processes
@pytest.mark.parametrize("key", [None, ""], ids=["unset", "empty"])
def test_settings_refuse_to_load_without_a_secret_key_when_debug_is_off(key):
    env = {name: value for name, value in PRODUCTION.items() if name != "DJANGO_SECRET_KEY"}
    if key is not None:
        env["DJANGO_SECRET_KEY"] = key
    checked = manage_with(env, "check")
    assert checked.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in checked.stderr


@pytest.mark.processes
@pytest.mark.parametrize("key", ["change-me-to-a-long-random-string", "local-only-insecure-key-change-me"])
def test_settings_refuse_a_published_placeholder_key_when_debug_is_off(key):
    refused = manage_with({**PRODUCTION, "DJANGO_SECRET_KEY": key}, "check")
    assert refused.returncode != 0
    assert f"DJANGO_SECRET_KEY={key!r} is a placeholder" in refused.stderr
    assert "DJANGO_DEBUG is off" in refused.stderr


@pytest.mark.processes
def test_settings_refuse_a_django_insecure_key_when_debug_is_off_without_printing_it():
    key = "django-insecure-" + secrets.token_urlsafe(40)
    refused = manage_with({**PRODUCTION, "DJANGO_SECRET_KEY": key}, "migrate", "--check")
    assert refused.returncode == 2
    assert "DJANGO_SECRET_KEY starts with 'django-insecure'" in refused.stderr
    assert key not in refused.stdout + refused.stderr


@pytest.mark.processes
def test_debug_may_use_the_placeholder_key():
    placeholder = "local-only-insecure-key-change-me"
    checked = manage_with({"DJANGO_DEBUG": "1", "DJANGO_SECRET_KEY": placeholder}, "check")
    assert checked.returncode == 0, checked.stderr


@pytest.mark.processes
def test_debug_alone_may_start_without_a_secret_key():
    checked = manage_with({"DJANGO_DEBUG": "1"}, "check")
    assert checked.returncode == 0, checked.stderr


# --- Throttling, through a real server ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str, **headers: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)
    except urllib.error.URLError:
        return 0, {}  # not listening yet


@pytest.mark.processes
@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_user_over_the_throttle_rate_gets_429_from_a_real_server_and_keys_stay_out_of_its_output(
    django_user_model, tmp_path
):
    for username in ("ops", "oncall"):
        django_user_model.objects.create_user(username=username, is_staff=True)
    key, other_key = (api_token_create(username=name).key for name in ("ops", "oncall"))
    port = free_port()
    output = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=process_env(API_THROTTLE_RATE="3/minute", DJANGO_ALLOWED_HOSTS="127.0.0.1"),
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: get(f"{base}/admin/login/")[0] == 200, timeout=60)
        answers = [get(f"{base}/api/v1/scheduler/status", Authorization=f"Bearer {key}") for _ in range(4)]
        other = get(f"{base}/api/v1/scheduler/status", Authorization=f"Bearer {other_key}")
        in_query = get(f"{base}/api/v1/scheduler/status?token={other_key}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        output.close()

    assert [status for status, _ in answers] == [200, 200, 200, 429]
    assert int(answers[-1][1]["Retry-After"]) > 0
    assert other[0] == 200, "each user has a bucket of their own"
    assert in_query[0] == 401
    logged = (tmp_path / "gunicorn.log").read_text()
    assert key not in logged
    assert other_key not in logged
    report("API throttling", rate="3/minute", requests=4, throttled_with_429=1, keys_in_server_output=0)


# --- Tokens ---------------------------------------------------------------------------------------

STATUS_URL = "/api/v1/scheduler/status"


@pytest.mark.django_db
def test_a_token_is_stored_hashed_revocable_and_its_key_never_logged_or_sent_to_the_database(
    client, django_user_model, caplog
):
    django_user_model.objects.create_user(username="ops", is_staff=True)
    caplog.set_level(logging.DEBUG)
    out, err = StringIO(), StringIO()
    with CaptureQueriesContext(connection) as queries:
        call_command("create_api_token", "ops", stdout=out, stderr=err)
        key = out.getvalue().strip()
        answers = [
            client.get(STATUS_URL, headers={"Authorization": f"Bearer {key}"}).status_code,
            client.get(STATUS_URL, {"token": key}).status_code,
            client.get(STATUS_URL, headers={"Authorization": f"Bearer {key}x"}).status_code,
        ]
        call_command("revoke_api_token", key[:8], stdout=StringIO())
        answers.append(client.get(STATUS_URL, headers={"Authorization": f"Bearer {key}"}).status_code)

    assert answers == [200, 401, 401, 401]
    token = ApiToken.objects.get()
    assert token.key_hash == ApiToken.hash_key(key)
    assert token.revoked_at is not None
    stored = " ".join(str(value) for value in ApiToken.objects.values().get().values())
    assert key not in stored
    assert key not in err.getvalue()
    assert len(key) >= 40
    logged = [record.getMessage() for record in caplog.records]
    assert logged, "the requests above are logged (401s): the check below must have something to read"
    assert not [message for message in logged if key in message]
    assert not [query["sql"] for query in queries.captured_queries if key in query["sql"]]


# --- Staff only -----------------------------------------------------------------------------------

API_ENDPOINTS = [
    ("get", STATUS_URL),
    ("get", "/api/v1/scheduler/executions"),
    ("get", "/api/v1/scheduler/executions/{run}"),
    ("post", "/api/v1/scheduler/run"),
]


@pytest.fixture
def callers(django_user_model) -> dict[str, dict[str, str]]:
    """Authorization headers of each kind of caller."""

    def token_of(username: str, **fields) -> str:
        django_user_model.objects.create_user(username=username, **fields)
        return f"Bearer {api_token_create(username=username).key}"

    staff, revoked = token_of("staff", is_staff=True), token_of("revoked", is_staff=True)
    api_token_revoke(prefix=revoked.removeprefix("Bearer ")[:8])
    demoted = token_of("demoted", is_staff=True)
    django_user_model.objects.filter(username="demoted").update(is_staff=False)
    deactivated = token_of("deactivated", is_staff=True)
    django_user_model.objects.filter(username="deactivated").update(is_active=False)
    return {
        "anonymous": {},
        "not staff": {"Authorization": token_of("clerk")},
        "demoted from staff": {"Authorization": demoted},
        "deactivated": {"Authorization": deactivated},
        "revoked token": {"Authorization": revoked},
        "staff": {"Authorization": staff},
    }


EXPECTED_API = {
    "anonymous": 401,
    "not staff": 403,
    "demoted from staff": 403,
    "deactivated": 401,
    "revoked token": 401,
}


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), API_ENDPOINTS)
def test_only_active_staff_get_past_the_api(client, callers, method, path):
    url = path.format(run=JobExecutionLogFactory().pk)
    answers = {
        who: getattr(client, method)(url, headers=headers).status_code for who, headers in callers.items()
    }
    assert answers == {**EXPECTED_API, "staff": 202 if method == "post" else 200}


@pytest.mark.django_db
def test_health_tells_only_staff_why(client, callers):
    bodies = {
        who: client.get("/api/v1/scheduler/health", headers=headers).json()
        for who, headers in callers.items()
    }
    assert bodies.pop("staff").keys() > {"status"}
    assert [who for who, body in bodies.items() if set(body) != {"status"} and body.get("status")] == []


ADMIN_PAGES = [
    "admin:index",
    "admin:scheduler_jobexecutionlog_changelist",
    "admin:api_apitoken_changelist",
    "admin:invoicing_invoice_changelist",
    "admin:invoicing_customer_changelist",
    "admin:reminders_notification_changelist",
]


@pytest.mark.django_db
@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_only_staff_get_into_the_admin(client, django_user_model, page):
    url = reverse(page)
    answers = {}
    for who, fields in {
        "anonymous": None,
        "not staff": {},
        "deactivated staff": {"is_staff": True, "is_active": False},
        "staff without permissions": {"is_staff": True},
        "superuser": {"is_staff": True, "is_superuser": True},
    }.items():
        client.logout()
        if fields is not None:
            client.force_login(
                django_user_model.objects.create_user(username=who.replace(" ", "-"), **fields)
            )
        response = client.get(url)
        answers[who] = (
            "login"
            if response.status_code == 302 and "/admin/login/" in response["Location"]
            else response.status_code
        )
    index = page == "admin:index"
    assert answers == {
        "anonymous": "login",
        "not staff": "login",
        "deactivated staff": "login",
        # The index shows a staff user the apps they may use (none); every model page is refused.
        "staff without permissions": 200 if index else 403,
        "superuser": 200,
    }


# --- No customer data in run logs -----------------------------------------------------------------

AS_OF = date(2026, 3, 15)


def customer_data_in_run(log, customer) -> list[str]:
    written = json.dumps(log.errors) + log.traceback
    return [datum for datum in (customer.name, customer.email) if datum in written]


def overdue_with_one_private_customer():
    private = CustomerFactory(name="Zelda Quill-Private", email="zelda.quill@private.example")
    bad = InvoiceFactory(customer=private, due_date=AS_OF - timedelta(days=3))
    InvoiceFactory.create_batch(3, due_date=AS_OF - timedelta(days=3))
    return private, bad


@pytest.mark.django_db
def test_a_failing_invoice_is_logged_by_id_number_and_error_only(caplog):
    private, bad = overdue_with_one_private_customer()
    refuse_reminders_to(bad.pk)

    log = overdue_check_run(triggered_by="command", as_of=AS_OF, config=make_config())

    assert log.status == RunStatus.COMPLETED_WITH_ERRORS
    assert [set(error) for error in log.errors] == [{"invoice_id", "number", "error"}]
    assert (log.errors[0]["invoice_id"], log.errors[0]["number"]) == (bad.pk, bad.number)
    assert customer_data_in_run(log, private) == []
    assert not [r.getMessage() for r in caplog.records if private.email in r.getMessage()]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the row in the error text is PostgreSQL's DETAIL line"
)
@pytest.mark.django_db
def test_a_reminder_refused_by_a_check_constraint_leaves_no_customer_data_in_the_run_log(caplog):
    private, bad = overdue_with_one_private_customer()
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE reminders_notification ADD CONSTRAINT reliability_refuse_one "
            f"CHECK (invoice_id <> {int(bad.pk)}) NOT VALID"
        )

    log = overdue_check_run(triggered_by="command", as_of=AS_OF, config=make_config())

    assert log.status == RunStatus.COMPLETED_WITH_ERRORS
    assert Notification.objects.count() == 3
    assert customer_data_in_run(log, private) == []
    assert not [r.getMessage() for r in caplog.records if private.email in r.getMessage()]
