import socket
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from common.commands import CheckedCommand
from scheduler.status import HEARTBEAT_MAX_AGE, fresh_heartbeats

NOT_ALIVE_EXIT_CODE = 1


class Command(CheckedCommand):
    help = (
        "Exit 0 when a django-q2 cluster on this machine has a fresh heartbeat, 1 otherwise: a "
        "healthcheck for the qcluster container or a process manager."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--any-host", action="store_true", help="a cluster on any machine sharing the database will do"
        )

    def handle(self, *args: Any, any_host: bool, **options: Any) -> None:
        now = timezone.now()
        host = None if any_host else socket.gethostname()
        where = "any machine" if host is None else f"this machine ({host})"
        alive = fresh_heartbeats(now=now, host=host)
        if not alive:
            raise CommandError(
                f"No cluster heartbeat from {where} in the last {HEARTBEAT_MAX_AGE.seconds} s: "
                "start one with manage.py qcluster.",
                returncode=NOT_ALIVE_EXIT_CODE,
            )
        newest = max(alive, key=lambda stat: stat.timestamp)
        age = (now - newest.timestamp).total_seconds()
        self.stdout.write(
            f"Cluster {newest.cluster_id} on {newest.host} is {str(newest.status).lower()}: "
            f"heartbeat {age:.1f} s old."
        )
