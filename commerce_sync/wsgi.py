"""WSGI entry point (gunicorn commerce_sync.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commerce_sync.settings")

application = get_wsgi_application()

from connectors.checks import refuse_to_serve_without_secrets  # noqa: E402 - needs the app registry

refuse_to_serve_without_secrets()
