#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.management import execute_from_command_line

    from config.environment import CONFIG_EXIT_CODE, configuration_problems, describe_problems

    # Every command but `check` (which lists the problems as errors) refuses an invalid configuration.
    if sys.argv[1:2] != ["check"]:
        django.setup()
        if problems := configuration_problems():
            sys.stderr.write(describe_problems(problems) + "\n")
            sys.exit(CONFIG_EXIT_CODE)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
