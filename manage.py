#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

CONFIG_EXIT_CODE = 2


def refuse_invalid_configuration() -> None:
    """Every command but `check` (which lists the problems as errors) refuses an invalid configuration."""
    from scheduler.config import configuration_problems, describe_problems

    if sys.argv[1:2] != ["check"] and (problems := configuration_problems()):
        sys.stderr.write(describe_problems(problems) + "\n")
        sys.exit(CONFIG_EXIT_CODE)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    refuse_invalid_configuration()
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
