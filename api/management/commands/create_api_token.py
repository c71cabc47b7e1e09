from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.tokens import TokenError, api_token_create
from common.exit_codes import REFUSED_EXIT_CODE


class Command(BaseCommand):
    help = "Issue a bearer token for the monitoring API to USERNAME. The key is printed once, never stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What the token is for, e.g. 'alerting'.")

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        try:
            issued = api_token_create(username=username, name=name)
        except TokenError as exc:
            raise CommandError(str(exc), returncode=REFUSED_EXIT_CODE) from exc
        self.stdout.write(issued.key)
        self.stderr.write(
            f"Token {issued.token.prefix}… issued to {username!r}. Store the key now: it is not shown again. "
            f"Send it as 'Authorization: Bearer <key>'."
        )
        if not issued.token.user.is_staff:
            self.stderr.write(self.style.WARNING(f"{username!r} is not staff: the API refuses them (403)."))
