"""Generic OAuth 2 helpers and the shared token source, against the Xero double's
identity endpoints (refresh tokens are single use there, as at Xero)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from commerce_sync.core.models import Connection
from commerce_sync.core.services.connections import connection_create
from commerce_sync.core.services.credentials import ConnectionTokenSource
from commerce_sync.errors import CredentialsRevoked
from connectors.oauth import OAuthClient, TokenSet, pkce_challenge
from connectors.xero.oauth import xero_oauth_client
from tests.connectors.test_xero import uk_books
from tests.doubles.xero_double import XeroDouble
from tests.factories import MerchantFactory


@pytest.fixture
def identity(settings: Any) -> Iterator[XeroDouble]:
    with XeroDouble(uk_books(), token_delay=0.2) as double:
        settings.XERO_API_URL = double.api_url
        settings.XERO_IDENTITY_URL = double.url
        settings.XERO_CLIENT_ID = "client-id"
        settings.XERO_CLIENT_SECRET = "client-secret"
        yield double


def _connection(merchant: Any, *, expires_in: int) -> Connection:
    return connection_create(
        merchant=merchant,
        platform_key="xero",
        source_type=Connection.SourceType.ACCOUNTING,
        credentials={
            "access_token": "xero-access-0",
            "refresh_token": "xero-refresh-0",
            "expires_at": (timezone.now() + timedelta(seconds=expires_in)).isoformat(),
        },
        settings={"tenant_id": "t"},
        status=Connection.Status.LINKED,
    )


def test_authorisation_url_has_state_and_pkce(settings: Any) -> None:
    settings.XERO_CLIENT_ID = "client-id"
    request = xero_oauth_client().authorization_request(redirect_uri="https://app/callback")
    url = urlsplit(request.url)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == settings.XERO_AUTHORIZE_URL
    assert query["state"] == request.state and len(request.state) >= 32
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == pkce_challenge(request.code_verifier)
    assert 43 <= len(request.code_verifier) <= 128
    assert "offline_access" in query["scope"].split()
    assert query["client_id"] == "client-id" and query["response_type"] == "code"
    assert request.code_verifier not in repr(request)
    # Two requests never share a state or a verifier.
    other = xero_oauth_client().authorization_request(redirect_uri="https://app/callback")
    assert (other.state, other.code_verifier) != (request.state, request.code_verifier)


def test_a_callback_with_another_state_is_refused(settings: Any) -> None:
    client = xero_oauth_client()
    with pytest.raises(CredentialsRevoked, match="does not match"):
        client.exchange_code(
            code="c", redirect_uri="r", code_verifier="v", state="forged", expected_state="mine"
        )


def test_refresh_rotates_and_a_spent_token_is_revoked(identity: XeroDouble) -> None:
    client = xero_oauth_client()
    tokens = client.refresh("xero-refresh-0")
    assert (tokens.access_token, tokens.refresh_token) == ("xero-access-1", "xero-refresh-1")
    assert "xero-access-1" not in repr(tokens) and "xero-refresh-1" not in repr(tokens)
    with pytest.raises(CredentialsRevoked) as revoked:
        client.refresh("xero-refresh-0")  # already used: Xero answers invalid_grant
    assert (
        "invalid_grant" in revoked.value.message and "xero-refresh-0" not in revoked.value.message
    )
    client.revoke("xero-refresh-1")
    assert identity.refresh_tokens == set()


def test_a_fresh_token_is_used_as_is(merchant: Any, identity: XeroDouble) -> None:
    source = ConnectionTokenSource(_connection(merchant, expires_in=1800), xero_oauth_client())
    assert source.access_token() == "xero-access-0"
    assert identity.refreshes == 0
    assert "xero-access-0" not in repr(source)


def test_refresh_now_after_another_worker_refreshed_uses_its_token(
    merchant: Any, identity: XeroDouble
) -> None:
    connection = _connection(merchant, expires_in=1800)
    first = ConnectionTokenSource(connection, xero_oauth_client())
    stale = ConnectionTokenSource(Connection.objects.get(pk=connection.pk), xero_oauth_client())
    assert first.refresh_now(rejected="xero-access-0") == "xero-access-1"
    # The second worker still holds xero-access-0; it finds xero-access-1 stored instead of refreshing.
    assert stale.refresh_now(rejected="xero-access-0") == "xero-access-1"
    assert identity.refreshes == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_refreshing_at_once_refresh_once(identity: XeroDouble) -> None:
    merchant = MerchantFactory()
    connection = _connection(merchant, expires_in=30)  # inside the refresh margin
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        try:
            source = ConnectionTokenSource(
                Connection.objects.get(pk=connection.pk), xero_oauth_client()
            )
            barrier.wait()
            results.append(source.access_token())
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert results == ["xero-access-1", "xero-access-1"]
    assert identity.refreshes == 1
    stored = Connection.objects.get(pk=connection.pk).credentials
    # The rotated refresh token was kept: it is the one Xero will accept next.
    assert stored["refresh_token"] == "xero-refresh-1" and identity.refresh_tokens == {
        "xero-refresh-1"
    }


def test_token_set_keeps_secrets_out_of_repr() -> None:
    tokens = TokenSet(access_token="a-secret", refresh_token="r-secret", expires_at=timezone.now())
    assert "secret" not in repr(tokens)
    assert "secret" not in repr(OAuthClient(xero_oauth_client().platform))
