"""Stripe Connect OAuth for standard accounts, beside the restricted-key
path: the merchant connects its Stripe account from the setup flow
(`read_only`, no PKCE), the connection keeps the account id only, the day
is read with the platform's key and the `Stripe-Account` header (through the
strict Stripe double, its answers checked against Stripe's OpenAPI), a
deauthorised account becomes a Deauthorized connection, and unlinking asks
Stripe to deauthorize the account."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from commerce_sync.core.models import AuditLog, Connection
from commerce_sync.core.services.connections import connection_create, connection_unlink
from commerce_sync.errors import ConfigurationError, CredentialsRevoked
from commerce_sync.syncs.runs import sync_run_execute
from connectors.stripe.oauth import stripe_connect_oauth_client
from tests.connectors.test_sources_end_to_end import seed, sync_and_check
from tests.connectors.test_stripe import STRIPE_EXPECTED
from tests.doubles.stripe_double import ACCOUNT, CONNECT_CLIENT, PLATFORM_KEY, StripeDouble
from tests.factories import MerchantFactory
from tests.setup_flow.helpers import start_path

pytestmark = pytest.mark.django_db


def connect_settings(settings: Any, double: StripeDouble) -> None:
    settings.STRIPE_API_URL = double.url
    settings.STRIPE_CONNECT_URL = double.url
    settings.STRIPE_CONNECT_CLIENT_ID = CONNECT_CLIENT
    settings.STRIPE_SECRET_KEY = PLATFORM_KEY


def test_a_merchant_connects_its_stripe_account_in_the_setup_flow(
    client, partner, raw_credentials, settings
):
    merchant = MerchantFactory(partner=partner)
    stripe = connection_create(merchant=merchant, platform_key="stripe", source_type="commerce")
    connection_create(merchant=merchant, platform_key="beancount", source_type="accounting")
    with StripeDouble() as double:
        connect_settings(settings, double)
        client.get(start_path(merchant))
        assert f"/setup/connect/{stripe.pk}" in client.get("/setup/stage/commerce").content.decode()
        response = client.get(f"/setup/connect/{stripe.pk}")
        assert response["Location"].startswith(f"{double.url}/oauth/authorize?")
        asked = {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}
        assert set(asked) == {"response_type", "client_id", "scope", "state", "redirect_uri"}
        assert (asked["response_type"], asked["scope"]) == ("code", "read_only")
        assert asked["client_id"] == CONNECT_CLIENT
        back = requests.get(
            response["Location"], params={"decision": "allow"}, allow_redirects=False, timeout=5
        )
        callback = urlsplit(back.headers["Location"])
        done = client.get(f"{callback.path}?{callback.query}")
        assert done.status_code == 302 and done["Location"] == "/setup/stage/commerce"
        assert double.connect_requests == [("/oauth/token", {"grant_type": "authorization_code"})]
        assert double.accounts == {ACCOUNT}
    stripe.refresh_from_db()
    assert stripe.status == Connection.Status.LINKED
    # The account only: the account's own tokens are not kept.
    assert stripe.credentials == {"stripe_account": ACCOUNT}
    assert ACCOUNT not in raw_credentials(stripe.pk)


def seed_connected(settings: Any, tmp_path: Any) -> Any:
    return seed(
        settings,
        tmp_path,
        platform_key="stripe",
        connection_settings={},
        credentials={"stripe_account": ACCOUNT},
    )


def test_a_connected_account_is_read_with_the_platform_key_and_syncs_once(settings, tmp_path):
    with StripeDouble(page_size=3) as double:
        connect_settings(settings, double)
        double.accounts.add(ACCOUNT)
        seeded = seed_connected(settings, tmp_path)
        run = sync_and_check(seeded, STRIPE_EXPECTED)
        assert double.violations == []
        assert set(double.accounts_asked) == {ACCOUNT}
    assert run.counters["records_read"] == {"orders": 6, "transactions": 11}


def test_an_account_deauthorised_on_stripe_deauthorises_the_connection(settings, tmp_path):
    with StripeDouble() as double:
        connect_settings(settings, double)
        seeded = seed_connected(settings, tmp_path)  # never connected, or disconnected since
        run = sync_run_execute(merchant=seeded.merchant, now=seeded.now)
        assert double.violations == []
    assert run is not None and run.status_code == 4040
    seeded.commerce.refresh_from_db()
    assert seeded.commerce.status == Connection.Status.DEAUTHORIZED
    assert f"account {ACCOUNT} (403)" in seeded.commerce.last_error
    assert PLATFORM_KEY not in seeded.commerce.last_error


def test_unlinking_deauthorizes_the_account_on_stripe(
    settings, tmp_path, django_capture_on_commit_callbacks
):
    with StripeDouble() as double:
        connect_settings(settings, double)
        double.accounts.add(ACCOUNT)
        seeded = seed_connected(settings, tmp_path)
        with django_capture_on_commit_callbacks(execute=True):
            connection_unlink(connection=seeded.commerce, actor="test")
        assert double.accounts == set()
        assert double.connect_requests == [
            ("/oauth/deauthorize", {"client_id": CONNECT_CLIENT, "stripe_user_id": ACCOUNT})
        ]
    revoked = AuditLog.objects.get(action="connection.revoke", object_id=str(seeded.commerce.pk))
    assert revoked.changes == {"platform_key": "stripe", "outcome": "ok"}


def test_a_refused_code_and_an_unconfigured_platform_are_clear_errors(settings):
    with StripeDouble() as double:
        connect_settings(settings, double)
        client = stripe_connect_oauth_client()
        begun = client.authorization_request(redirect_uri="https://sync.example/cb")
        with pytest.raises(CredentialsRevoked, match="invalid_grant"):
            client.exchange_code(
                code="ac_unknown",
                redirect_uri="https://sync.example/cb",
                code_verifier="",
                state=begun.state,
                expected_state=begun.state,
            )
        with pytest.raises(CredentialsRevoked, match="does not match"):
            client.exchange_code(
                code="ac_x", redirect_uri="", code_verifier="", state="forged", expected_state="s"
            )
        with pytest.raises(CredentialsRevoked, match="invalid_client"):
            client.deauthorize("acct_not_connected")
    settings.STRIPE_CONNECT_CLIENT_ID = ""
    with pytest.raises(ConfigurationError, match="STRIPE_CONNECT_CLIENT_ID"):
        stripe_connect_oauth_client().authorization_request(redirect_uri="https://x/cb")
