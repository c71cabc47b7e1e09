"""docker-compose.yml: the mail server is required, and each long-running service has a healthcheck
that tells a live process from a dead one. (No docker engine here: the file is read, and the web
healthcheck's own command is run against a real server.)"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
REQUIRED = re.compile(r"\$\{EMAIL_URL:\?[^}]+\}")
WEB_HEALTH_URL = "http://127.0.0.1:8000/api/v1/scheduler/health"


@pytest.mark.parametrize("service", ["web", "qcluster"])
def test_compose_refuses_to_start_a_sending_service_without_email_url(service):
    assert REQUIRED.fullmatch(SERVICES[service]["environment"]["EMAIL_URL"])


def test_env_example_has_an_email_url_line_to_fill_in():
    lines = (ROOT / ".env.example").read_text().splitlines()
    assert "EMAIL_URL=" in lines


def test_the_demo_s_sent_mail_stays_out_of_the_image():
    assert "sent-mail" in (ROOT / ".dockerignore").read_text().splitlines()


def test_the_cluster_s_healthcheck_is_the_cluster_health_command():
    assert SERVICES["qcluster"]["healthcheck"]["test"] == ["CMD", "python", "manage.py", "cluster_health"]
    assert "cluster_health" in get_commands()


def web_healthcheck(url: str) -> int:
    """Run the web service's healthcheck command against ``url``; its exit code."""
    kind, program, flag, code = SERVICES["web"]["healthcheck"]["test"]
    assert (kind, program, flag) == ("CMD", "python", "-c")
    assert WEB_HEALTH_URL in code
    done = subprocess.run([sys.executable, "-c", code.replace(WEB_HEALTH_URL, url)], timeout=30, check=False)
    return done.returncode


@pytest.mark.django_db(transaction=True)
def test_the_web_healthcheck_passes_while_the_server_answers_even_when_the_scheduler_is_unhealthy(
    live_server,
):
    # No cluster, no run: the health endpoint answers 503, and the web process is alive all the same.
    assert web_healthcheck(f"{live_server.url}/api/v1/scheduler/health") == 0


def test_the_web_healthcheck_fails_when_nothing_answers():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    assert web_healthcheck(f"http://127.0.0.1:{port}/api/v1/scheduler/health") == 1


@pytest.mark.django_db(transaction=True)
def test_the_web_healthcheck_fails_when_the_server_answers_with_an_error(live_server):
    assert web_healthcheck(f"{live_server.url}/api/v1/scheduler/no-such-page") == 1
