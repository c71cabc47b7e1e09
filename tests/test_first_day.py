"""A new operator's first day: `make demo` on its own database whatever `.env` says, a scriptable
`make superuser`, an image without local state or secrets, no published secret key outside debug."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from tests.processes import ROOT, needs_postgresql, test_database_url

SUPERUSER_VARS = ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_EMAIL", "DJANGO_SUPERUSER_PASSWORD")
# Skips the install step: the suite already runs inside the installed virtualenv.
MAKE = ["make", "--no-print-directory", "-o", ".venv/.installed"]


def make(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    """``make`` without a terminal and without the superuser variables of the test run."""
    base = {name: value for name, value in os.environ.items() if name not in SUPERUSER_VARS}
    return subprocess.run(
        [*MAKE, *args],
        cwd=cwd,
        env={**base, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Path:
    """The code as a fresh clone has it, with the suite's virtualenv."""
    clone = tmp_path / "clone"
    local_state = shutil.ignore_patterns(
        *(".git", ".venv", ".env", ".local-secret-key", "db.sqlite3*", "staticfiles", "__pycache__"),
        *("docs", "tests"),
    )
    shutil.copytree(ROOT, clone, ignore=local_state)
    (clone / ".venv").symlink_to((ROOT / ".venv").resolve())
    return clone


# --- make demo ------------------------------------------------------------------------------------


def demo_commands(clone: Path, *args: str) -> list[str]:
    planned = make("-n", "demo", *args, cwd=clone)
    assert planned.returncode == 0, planned.stderr
    return [line for line in planned.stdout.splitlines() if "manage.py" in line]


def test_demo_uses_the_embedded_sqlite_file_whatever_dot_env_names(fresh_clone):
    shutil.copy(fresh_clone / ".env.example", fresh_clone / ".env")
    assert "DATABASE_URL=postgres://" in (fresh_clone / ".env").read_text()
    commands = demo_commands(fresh_clone)
    assert len(commands) == 7
    assert all(line.startswith(f"DATABASE_URL='sqlite:///{fresh_clone}/db.sqlite3' ") for line in commands)
    # The first command, as make runs it: the explicit variable beats .env, so SQLite, not PostgreSQL.
    migrated = subprocess.run(
        commands[0], shell=True, cwd=fresh_clone, env=make_env(fresh_clone), capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr
    assert (fresh_clone / "db.sqlite3").stat().st_size > 0


def test_demo_mail_goes_into_sent_mail_whatever_dot_env_names(fresh_clone):
    (fresh_clone / ".env").write_text("EMAIL_URL=smtp+tls://user:password@smtp.example.com:587\n")
    commands = demo_commands(fresh_clone)
    assert all(" EMAIL_URL='filemail:///sent-mail' " in line for line in commands)


def make_env(clone: Path) -> dict[str, str]:
    """The environment make gives its commands (the exported local secret key)."""
    key = make("-s", "--eval", "key: ; @echo $$DJANGO_SECRET_KEY", "key", cwd=clone).stdout.strip()
    return {**os.environ, "DJANGO_SECRET_KEY": key}


def test_demo_uses_the_database_it_is_told_to(fresh_clone):
    commands = demo_commands(fresh_clone, "DEMO_DATABASE_URL=postgres://postgres@127.0.0.1:5432/demo")
    expected = "DATABASE_URL='postgres://postgres@127.0.0.1:5432/demo' "
    assert all(line.startswith(expected) for line in commands)


def test_demo_does_not_follow_an_exported_database_url(fresh_clone):
    commands = make("-n", "demo", cwd=fresh_clone, DATABASE_URL="postgres://postgres@127.0.0.1:5432/prod")
    assert "/prod" not in commands.stdout
    assert f"sqlite:///{fresh_clone}/db.sqlite3" in commands.stdout


# --- The local secret key -------------------------------------------------------------------------


def test_make_gives_each_clone_its_own_random_key_kept_in_an_ignored_file(fresh_clone, tmp_path):
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SECRET_KEY"}
    first = make_env_without_key(fresh_clone, env)
    assert first == make_env_without_key(fresh_clone, env)
    assert len(first) >= 50
    assert first not in settings.PLACEHOLDER_SECRET_KEYS
    assert oct((fresh_clone / ".local-secret-key").stat().st_mode & 0o777) == "0o600"
    other = tmp_path / "other"
    shutil.copytree(fresh_clone, other, symlinks=True, ignore=shutil.ignore_patterns(".local-secret-key"))
    assert make_env_without_key(other, env) != first
    assert ".local-secret-key" in (ROOT / ".gitignore").read_text().split()


def make_env_without_key(clone: Path, env: dict[str, str]) -> str:
    printed = subprocess.run(
        [*MAKE, "-s", "--eval", "key: ; @echo $$DJANGO_SECRET_KEY", "key"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return printed.stdout.strip()


def test_the_key_in_env_example_is_a_refused_placeholder():
    lines = (ROOT / ".env.example").read_text().splitlines()
    example = dict(line.split("=", 1) for line in lines if re.match(r"^\w+=", line))
    assert example["DJANGO_SECRET_KEY"] in settings.PLACEHOLDER_SECRET_KEYS


# --- make superuser -------------------------------------------------------------------------------


def test_superuser_without_a_terminal_or_its_variables_fails_and_says_what_to_set():
    refused = make("superuser")
    assert refused.returncode == 2
    assert "no terminal" in refused.stderr
    assert all(name in refused.stderr for name in SUPERUSER_VARS)
    assert "skipped" not in refused.stdout + refused.stderr


def test_superuser_names_the_variables_missing_when_only_some_are_set():
    refused = make("superuser", DJANGO_SUPERUSER_USERNAME="admin")
    assert refused.returncode == 2
    assert "DJANGO_SUPERUSER_EMAIL DJANGO_SUPERUSER_PASSWORD not set" in refused.stderr


@pytest.mark.processes
@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_superuser_is_created_without_questions_from_its_variables():
    created = make(
        "superuser",
        DEMO_DATABASE_URL=test_database_url(),
        DJANGO_SUPERUSER_USERNAME="admin",
        DJANGO_SUPERUSER_EMAIL="admin@billing.example",
        DJANGO_SUPERUSER_PASSWORD="a-long-pass-phrase-1",
    )
    assert created.returncode == 0, created.stderr
    admin = get_user_model().objects.get(username="admin")
    assert (admin.is_superuser, admin.email) == (True, "admin@billing.example")
    assert admin.check_password("a-long-pass-phrase-1")
    assert "a-long-pass-phrase-1" not in created.stdout + created.stderr


# --- The image ------------------------------------------------------------------------------------


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins (``!`` re-includes); a directory's pattern covers
    everything below it; ``*`` stays within one path segment, ``**`` spans any number."""
    excluded = False
    parents = [str(Path(*Path(path).parts[:n])) for n in range(1, len(Path(path).parts) + 1)]
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.removeprefix("!").strip("/")
        regex = re.escape(body).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, candidate) for candidate in parents):
            excluded = not negated
    return excluded


@pytest.fixture(scope="module")
def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        "db.sqlite3",
        "db.sqlite3-journal",
        "db.sqlite3.overdue-check.lock",
        ".env",
        ".local-secret-key",
        "staticfiles/admin/css/base.css",
        "invoicing/__pycache__/models.cpython-311.pyc",
        "__pycache__/x.pyc",
        ".pytest_cache/README.md",
        ".ruff_cache/CACHEDIR.TAG",
        ".hypothesis/examples/1",
        ".git/HEAD",
        "docs/admin-run-history.png",
    ],
)
def test_the_image_gets_no_local_state_secret_or_screenshot(dockerignore, path):
    assert dockerignore_excludes(path, dockerignore)


@pytest.mark.parametrize(
    "path",
    ["manage.py", "requirements.txt", "config/settings.py", "invoicing/models.py", "scheduler/admin.py"],
)
def test_the_image_gets_the_code(dockerignore, path):
    assert not dockerignore_excludes(path, dockerignore)


def test_the_code_the_image_needs_is_all_there(dockerignore):
    """Every tracked file under the apps and config reaches the image (templates, migrations, static)."""
    needed = [
        str(path.relative_to(ROOT))
        for folder in ("config", "invoicing", "scheduler")
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert needed
    assert [path for path in needed if dockerignore_excludes(path, dockerignore)] == []


def test_hadolint_finds_nothing_in_the_dockerfile():
    linted = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "hadolint"), "Dockerfile"], cwd=ROOT, capture_output=True, text=True
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


# --- Trying it over plain HTTP --------------------------------------------------------------------

TRIAL_HOST = "192.0.2.10:8000"


def test_the_plain_http_block_of_env_example_turns_the_secure_cookies_off(fresh_clone):
    example = (fresh_clone / ".env.example").read_text()
    block = example[example.index("# Trying it over plain HTTP") :]
    trial = re.sub(r"^# (DJANGO_\w+=)", r"\1", block, flags=re.MULTILINE)
    (fresh_clone / ".env").write_text(f"DJANGO_SECRET_KEY=trial-{'k' * 50}\nDJANGO_DEBUG=0\n{trial}")
    env = {name: value for name, value in os.environ.items() if not name.startswith(("DJANGO_", "DATABASE_"))}
    shown = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "shell", "-c", READ_COOKIE_SETTINGS],
        cwd=fresh_clone,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    hosts, session_secure, csrf_secure, origins = shown.stdout.splitlines()[-1].split(" ")
    assert "192.0.2.10" in hosts.split(",")
    assert (session_secure, csrf_secure) == ("False", "False")
    assert origins == f"http://{TRIAL_HOST}"


READ_COOKIE_SETTINGS = (
    "from django.conf import settings as s; print(','.join(s.ALLOWED_HOSTS), s.SESSION_COOKIE_SECURE, "
    "s.CSRF_COOKIE_SECURE, ','.join(s.CSRF_TRUSTED_ORIGINS))"
)


@pytest.mark.django_db
def test_with_those_settings_the_admin_login_works_from_another_host_over_http(settings, django_user_model):
    settings.ALLOWED_HOSTS = ["192.0.2.10"]
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    django_user_model.objects.create_superuser("admin", "admin@billing.example", "a-long-pass-phrase-1")
    browser = Client(enforce_csrf_checks=True, HTTP_HOST=TRIAL_HOST, HTTP_ORIGIN=f"http://{TRIAL_HOST}")
    form = browser.get("/admin/login/")
    assert not form.cookies["csrftoken"]["secure"]
    login = {"username": "admin", "password": "a-long-pass-phrase-1", "next": "/admin/"}
    answered = browser.post("/admin/login/", {**login, "csrfmiddlewaretoken": form.context["csrf_token"]})
    assert answered.status_code == 302, answered.content[:300]
    assert not answered.cookies["sessionid"]["secure"]
