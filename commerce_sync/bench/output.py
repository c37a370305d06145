"""Benchmarks print one JSON object on stdout and nothing else: their logs
(django-q's enqueue lines, the sync's own) go to stderr."""

from __future__ import annotations

import logging
import sys


def logs_to_stderr() -> None:
    """Point every root-logger stream handler that writes to stdout (the
    project's default, settings.LOGGING) at stderr, for this process."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)
