"""Connecting the accounting software from the flow through the Xero double:
the consent redirect carries a state and a PKCE challenge bound to the
session, the callback exchanges the code with the verifier, the tokens are
stored encrypted, and a grant reaching several organisations asks which."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from commerce_sync.core.models import Connection
from commerce_sync.core.services.connections import connection_create
from tests.connectors.test_xero import uk_books
from tests.doubles.xero_double import XeroDouble
from tests.factories import MerchantFactory
from tests.setup_flow.helpers import start_path

pytestmark = pytest.mark.django_db


def xero_double(settings: Any, **kwargs: Any) -> XeroDouble:
    double = XeroDouble(uk_books(), **kwargs)
    settings.XERO_API_URL = double.api_url
    settings.XERO_IDENTITY_URL = double.url
    settings.XERO_AUTHORIZE_URL = double.authorize_url
    settings.XERO_CLIENT_ID = "client-id"
    settings.XERO_CLIENT_SECRET = "client-secret"
    return double


@pytest.fixture
def xero(settings: Any) -> Iterator[XeroDouble]:
    with xero_double(settings) as double:
        yield double


@pytest.fixture
def merchant(partner: Any) -> Any:
    merchant = MerchantFactory(partner=partner)
    connection_create(merchant=merchant, platform_key="sandbox", source_type="commerce")
    connection_create(merchant=merchant, platform_key="xero", source_type="accounting")
    return merchant


def consent(client: Any, connection: Connection) -> tuple[str, dict[str, str]]:
    """Press Connect, let the double's consent screen answer; the callback path."""
    response = client.get(f"/setup/connect/{connection.pk}")
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    back = requests.get(response["Location"], allow_redirects=False, timeout=5)
    assert back.status_code == 302
    callback = urlsplit(back.headers["Location"])
    return f"{callback.path}?{callback.query}", query


def test_xero_is_connected_with_state_and_pkce(client, merchant, xero, raw_credentials):
    client.get(start_path(merchant))
    page = client.get("/setup/stage/accounting").content.decode()
    ledger = merchant.connections.get(source_type="accounting")
    assert f"/setup/connect/{ledger.pk}" in page
    callback, query = consent(client, ledger)
    assert query["code_challenge_method"] == "S256" and len(query["state"]) >= 32
    assert query["redirect_uri"] == "http://testserver/setup/oauth/callback"
    response = client.get(callback)
    assert response.status_code == 302 and response["Location"] == "/setup/stage/accounting"
    ledger.refresh_from_db()
    assert ledger.status == Connection.Status.LINKED
    assert ledger.settings["tenant_id"] == xero.tenant_id
    assert ledger.credentials["refresh_token"] == "rt-1"
    assert "rt-1" not in raw_credentials(ledger.pk)  # encrypted at rest
    # The options now come live from Xero: active accounts of suitable types.
    slots = {s["name"]: s for s in client.get("/setup/stage/sales").context["slots"]}
    names = [a["name"] for a in slots["sales.accounts.sales"]["options"]]
    assert "Sales" in names and "Old sales" not in names and "Card fees" not in names
    # The callback works once: the state is spent with the session's copy.
    assert client.get(callback).status_code == 400


def test_an_answer_with_another_state_is_refused(client, merchant, xero):
    client.get(start_path(merchant))
    ledger = merchant.connections.get(source_type="accounting")
    callback, _query = consent(client, ledger)
    forged = callback.replace("state=", "state=x")
    response = client.get(forged)
    assert response.status_code == 400
    assert "does not belong to a connection started here" in response.content.decode()
    ledger.refresh_from_db()
    assert ledger.status == Connection.Status.PENDING_AUTH and not ledger.credentials


def test_a_grant_reaching_two_organisations_asks_which(client, merchant, settings):
    with xero_double(settings, other_tenants=("Second Ltd",)) as double:
        client.get(start_path(merchant))
        ledger = merchant.connections.get(source_type="accounting")
        callback, _query = consent(client, ledger)
        picker = client.get(callback)
        assert picker.status_code == 200
        body = picker.content.decode()
        assert "Double Ltd" in body and "Second Ltd" in body
        ledger.refresh_from_db()
        assert ledger.status == Connection.Status.PENDING_AUTH
        response = client.post("/setup/organisation", {"organisation": double.tenant_id})
        assert response["Location"] == "/setup/stage/accounting"
        ledger.refresh_from_db()
        assert ledger.status == Connection.Status.LINKED
        assert ledger.settings["tenant_id"] == double.tenant_id


def test_another_merchants_connection_cannot_be_started(client, merchant, xero, partner):
    other = MerchantFactory(partner=partner)
    theirs = connection_create(merchant=other, platform_key="xero", source_type="accounting")
    client.get(start_path(merchant))
    assert client.get(f"/setup/connect/{theirs.pk}").status_code == 404
