"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commerce_sync.settings")

application = get_asgi_application()

from connectors.checks import refuse_to_serve_without_secrets  # noqa: E402 - needs the app registry

refuse_to_serve_without_secrets()
