from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.tokens import PREFIX_LENGTH, TokenError, api_token_revoke
from common.exit_codes import REFUSED_EXIT_CODE


class Command(BaseCommand):
    help = "Revoke the monitoring API token whose key starts with PREFIX; requests with it then get 401."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix", help=f"The first {PREFIX_LENGTH} characters of the key.")

    def handle(self, *args: Any, prefix: str, **options: Any) -> None:
        try:
            token = api_token_revoke(prefix=prefix)
        except TokenError as exc:
            raise CommandError(str(exc), returncode=REFUSED_EXIT_CODE) from exc
        self.stdout.write(
            f"Token {token.prefix}… of {token.user} revoked at {token.revoked_at:%Y-%m-%d %H:%M:%S %Z}."
        )
