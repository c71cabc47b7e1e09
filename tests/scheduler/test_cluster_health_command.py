"""``manage.py cluster_health``: the qcluster container's healthcheck (docker-compose.yml)."""

import socket
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.conf import Conf

from tests.scheduler.conftest import save_heartbeat

pytestmark = pytest.mark.django_db


def cluster_health(*args: str) -> str:
    out = StringIO()
    call_command("cluster_health", *args, stdout=out)
    return out.getvalue()


def refused(*args: str) -> CommandError:
    with pytest.raises(CommandError) as raised:
        cluster_health(*args)
    assert raised.value.returncode == 1
    return raised.value


def test_a_fresh_heartbeat_from_this_machine_is_healthy():
    save_heartbeat(cluster_id="c1", at=timezone.now() - timedelta(seconds=2))
    output = cluster_health()
    assert output.startswith(f"Cluster c1 on {socket.gethostname()} is idle: heartbeat 2.")


def test_no_heartbeat_is_unhealthy_and_says_how_to_start_a_cluster():
    error = refused()
    assert str(error) == (
        f"No cluster heartbeat from this machine ({socket.gethostname()}) in the last 60 s: "
        "start one with manage.py qcluster."
    )


def test_a_heartbeat_older_than_a_minute_is_unhealthy():
    save_heartbeat(at=timezone.now() - timedelta(seconds=61))
    refused()


def test_a_stopping_cluster_is_unhealthy():
    save_heartbeat(state=Conf.STOPPING)
    refused()


def test_another_machine_s_cluster_counts_only_with_any_host():
    save_heartbeat(cluster_id="far", host="another-machine")
    refused()
    assert cluster_health("--any-host").startswith("Cluster far on another-machine is idle")
