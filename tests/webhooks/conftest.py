"""Fixtures for the webhook tests: a receiver on loopback (allowed by
WEBHOOK_ALLOW_PRIVATE, which only tests turn on) and a partner endpoint."""

from collections.abc import Iterator

import pytest

from tests.doubles.webhook_receiver import WebhookReceiver


@pytest.fixture
def allow_private(settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def receiver(allow_private) -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running
