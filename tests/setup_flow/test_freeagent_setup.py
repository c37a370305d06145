"""FreeAgent offered as an accounting target: listed by the partner API's
integrations and connected from the merchant's setup flow through the
FreeAgent double (consent with state and PKCE, tokens stored encrypted), its
categories and bank accounts then offered in the flow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from commerce_sync.core.models import Connection
from commerce_sync.core.services.connections import connection_create
from tests.api.codat_sync_schema import partner_api
from tests.connectors.test_freeagent import uk_company
from tests.doubles.freeagent_double import FreeAgentDouble
from tests.factories import MerchantFactory
from tests.setup_flow.helpers import start_path
from tests.setup_flow.test_oauth import consent

pytestmark = pytest.mark.django_db


@pytest.fixture
def freeagent(settings: Any) -> Iterator[FreeAgentDouble]:
    with FreeAgentDouble(uk_company()) as double:
        settings.FREEAGENT_API_URL = double.api_url
        settings.FREEAGENT_CLIENT_ID = "client-id"
        settings.FREEAGENT_CLIENT_SECRET = "client-secret"
        yield double
    assert double.violations == []


def test_the_partner_api_lists_freeagent_as_an_accounting_integration(client, partner):
    body = partner_api(client, partner)("get", "/config/integrations").json()
    rows = {row["key"]: row for row in body["results"]}
    assert rows["freeagent"]["name"] == "FreeAgent"
    assert rows["freeagent"]["sourceType"] == "Accounting"
    assert rows["freeagent"]["logoUrl"].endswith("/static/integrations/freeagent.svg")


def test_freeagent_is_connected_from_the_flow(client, partner, freeagent, raw_credentials):
    merchant = MerchantFactory(partner=partner)
    connection_create(merchant=merchant, platform_key="sandbox", source_type="commerce")
    ledger = connection_create(
        merchant=merchant, platform_key="freeagent", source_type="accounting"
    )
    client.get(start_path(merchant))
    page = client.get("/setup/stage/accounting").content.decode()
    assert f"/setup/connect/{ledger.pk}" in page
    callback, query = consent(client, ledger)
    assert query["code_challenge_method"] == "S256" and len(query["state"]) >= 32
    response = client.get(callback)
    assert response.status_code == 302 and response["Location"] == "/setup/stage/accounting"
    ledger.refresh_from_db()
    assert ledger.status == Connection.Status.LINKED
    assert ledger.credentials["refresh_token"] == "fa-refresh-0"
    assert "fa-refresh-0" not in raw_credentials(ledger.pk)  # encrypted at rest
    # The flow now offers the company's categories and bank accounts.
    slots = {s["name"]: s for s in client.get("/setup/stage/sales").context["slots"]}
    names = [a["name"] for a in slots["sales.accounts.sales"]["options"]]
    assert "Sales" in names
