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


def test_disconnecting_freeagent_forgets_the_tokens_and_says_freeagent_keeps_its_grant(
    client, partner, freeagent, django_capture_on_commit_callbacks
):
    """FreeAgent publishes no revocation endpoint: disconnecting deletes our
    tokens (nothing is asked of FreeAgent) and tells the merchant, before and
    after, to remove the app in FreeAgent's settings, not that FreeAgent was
    asked to forget us."""
    from commerce_sync.core.models import AuditLog

    merchant = MerchantFactory(partner=partner)
    connection_create(merchant=merchant, platform_key="sandbox", source_type="commerce")
    ledger = connection_create(
        merchant=merchant,
        platform_key="freeagent",
        source_type="accounting",
        credentials={"access_token": "fa-access-0", "refresh_token": "fa-refresh-0"},
        status=Connection.Status.LINKED,
    )
    client.get(start_path(merchant))
    asked = client.post("/setup/settings", {"action": "revoke", "connection": str(ledger.pk)})
    text = asked.content.decode()
    assert "We ask FreeAgent to forget our access" not in text
    assert "We delete our keys for FreeAgent" in text
    assert "remove Commerce Sync from the connected apps in FreeAgent" in text
    calls = len(freeagent.requests)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/setup/settings",
            {"action": "revoke", "connection": str(ledger.pk), "confirm": "yes"},
        )
    ledger.refresh_from_db()
    assert ledger.status == Connection.Status.UNLINKED and ledger.credentials == {}
    assert len(freeagent.requests) == calls  # nothing to call: FreeAgent has no revocation
    assert AuditLog.objects.filter(action="connection.unlink", object_id=str(ledger.pk)).exists()
    page = client.get("/setup/settings").content.decode()
    assert "Our keys for FreeAgent are deleted" in page
    assert "FreeAgent offers no way for us to withdraw its permission" in page


def test_the_disconnect_page_in_french_says_the_same(client, partner, freeagent):
    merchant = MerchantFactory(partner=partner)
    connection_create(merchant=merchant, platform_key="sandbox", source_type="commerce")
    ledger = connection_create(
        merchant=merchant,
        platform_key="freeagent",
        source_type="accounting",
        credentials={"access_token": "fa-access-0", "refresh_token": "fa-refresh-0"},
        status=Connection.Status.LINKED,
    )
    client.get(start_path(merchant, locale="fr-fr"))
    asked = client.post("/setup/settings", {"action": "revoke", "connection": str(ledger.pk)})
    assert "Nous supprimons nos clés pour FreeAgent" in asked.content.decode()
