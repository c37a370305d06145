"""Errors reach Sentry only when SENTRY_DSN is set, and never with secrets:
no local variables, no personal data, secret-named fields filtered."""

from __future__ import annotations

import json
import secrets

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from commerce_sync.observability import sentry_init


class Captured(Transport):
    envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        Captured.envelopes.append(envelope)


@pytest.fixture
def sentry():
    Captured.envelopes = []
    sentry_init(
        dsn="https://public@sentry.example/1",
        environment="test",
        traces_sample_rate=0.0,
        transport=Captured,
    )
    yield Captured.envelopes
    sentry_sdk.init()  # no DSN: off again for the other tests


def events(envelopes: list[Envelope]) -> list[dict]:
    return [item.payload.json for env in envelopes for item in env.items if item.type == "event"]


def _sync_with_a_secret_at_hand(token: str, refresh: str) -> None:
    access_token = token  # what must never leave, held in locals while it fails
    credentials = {"refresh_token": refresh}
    raise RuntimeError(f"the ledger refused the write ({len(access_token) + len(credentials)})")


def test_an_error_is_sent_without_secrets_or_locals(sentry):
    values = [secrets.token_hex(8) for _ in range(4)]
    sentry_sdk.set_context("connection", {"credentials": {"access_token": values[2]}})
    sentry_sdk.set_extra("client_secret", values[3])
    try:
        _sync_with_a_secret_at_hand(values[0], values[1])
    except RuntimeError as error:
        sentry_sdk.capture_exception(error)
    sentry_sdk.flush()

    (event,) = events(sentry)
    text = json.dumps(event)
    assert "the ledger refused the write" in text
    for secret in values:
        assert secret not in text
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    assert frames and all("vars" not in frame for frame in frames)
    assert "user" not in event


def test_a_request_error_carries_no_cookies_headers_or_body(sentry, client, db, settings):
    settings.METRICS_TOKEN = "t"
    client.cookies["sessionid"] = "session-secret-3333"
    client.get("/healthz", HTTP_AUTHORIZATION="Bearer header-secret-4444")
    sentry_sdk.capture_message("after a request")
    sentry_sdk.flush()
    text = json.dumps(events(sentry))
    assert "session-secret-3333" not in text and "header-secret-4444" not in text


def test_settings_start_sentry_only_with_a_dsn(monkeypatch):
    import importlib

    import commerce_sync.observability as observability

    calls = []
    monkeypatch.setattr(observability, "sentry_init", lambda **kw: calls.append(kw))
    monkeypatch.setenv("SENTRY_DSN", "")
    import commerce_sync.settings as project_settings

    importlib.reload(project_settings)
    assert calls == []
    monkeypatch.setenv("SENTRY_DSN", "https://public@sentry.example/2")
    importlib.reload(project_settings)
    assert calls and calls[0]["dsn"] == "https://public@sentry.example/2"
    monkeypatch.setenv("SENTRY_DSN", "")
    importlib.reload(project_settings)
