#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

# What a command stopped with Ctrl-C prints instead of a traceback. A sync
# cut short is marked failed by the next run, which covers its period again;
# what was written is found by its key and never written twice.
INTERRUPTED = (
    "Interrupted. Nothing written is lost or written twice: run the command again "
    "(an interrupted sync is finished by the next run over its period)."
)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commerce_sync.settings")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)  # the shell's code for a process stopped by SIGINT


if __name__ == "__main__":
    main()
