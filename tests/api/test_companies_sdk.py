"""Codat's own Python SDK, unmodified, against a live server: the companies,
connections, integrations and sync-flow part of a partner's journey."""

from __future__ import annotations

import base64

import pytest
from codat_sync_for_commerce import CodatSyncCommerce
from codat_sync_for_commerce.models import errors, shared

from commerce_sync.core.models import Connection, SetupLink
from commerce_sync.core.services.partners import partner_api_key_create
from commerce_sync.core.services.setup_links import setup_link_consume

pytestmark = pytest.mark.django_db(transaction=True)


def sdk(live_server, key: str) -> CodatSyncCommerce:
    auth = "Basic " + base64.b64encode(key.encode()).decode()
    return CodatSyncCommerce(
        security=shared.Security(auth_header=auth), server_url=f"{live_server.url}/api/v1"
    )


def test_the_sdk_drives_companies_connections_integrations_and_the_start_url(live_server, partner):
    _, key = partner_api_key_create(partner=partner, name="sdk")
    client = sdk(live_server, key)

    integrations = client.integrations.list(request={"query": "sourceType=Accounting"})
    assert "xero" in [row.key for row in integrations.results]
    branding = client.integrations.get_branding(request={"platform_key": "xero"})
    assert branding.logo.full.image.src.endswith("/static/integrations/xero.svg")

    company = client.advanced_controls.create_company(request={"name": "Bank of Dave"})
    found = client.advanced_controls.list_companies(request={"query": f"id={company.id}"})
    assert [c.name for c in found.results] == ["Bank of Dave"] and found.total_results == 1

    connection = client.connections.create(
        request={"company_id": company.id, "request_body": {"platform_key": "square"}}
    )
    assert connection.status == shared.DataConnectionStatus.PENDING_AUTH
    authorised = client.connections.update_authorization(
        request={
            "company_id": company.id,
            "connection_id": connection.id,
            "request_body": {"api_key": "k-1"},
        }
    )
    assert authorised.status == shared.DataConnectionStatus.LINKED
    listed = client.connections.list(request={"company_id": company.id})
    assert [c.id for c in listed.results] == [connection.id]
    unlinked = client.connections.update_connection(
        request={
            "company_id": company.id,
            "connection_id": connection.id,
            "update_connection": {"status": shared.DataConnectionStatus.UNLINKED},
        }
    )
    assert unlinked.status == shared.DataConnectionStatus.UNLINKED
    assert Connection.objects.get(pk=connection.id).status == "Unlinked"

    started = client.connections.get_sync_flow_url(
        request={
            "commerce_key": "sandbox",
            "accounting_key": "beancount",
            "merchant_identifier": "shop-7",
        }
    )
    code = started.url.rsplit("/", 1)[-1]
    assert started.url.startswith(f"{live_server.url}/setup/start/")
    assert setup_link_consume(code=code).ok
    assert SetupLink.objects.get().used_at is not None

    texts = client.sync_flow_settings.get_config_text_sync_flow(request={"locale": "en-us"})
    assert texts["configure-misc-nextButton"].text == "Next"
    updated = client.sync_flow_settings.update_visible_accounts_sync_flow(
        request={"platform_key": "xero", "visible_accounts": {"visible_accounts": []}}
    )
    visible = client.sync_flow_settings.get_visible_accounts(
        request={"client_id": partner.slug, "platform_key": "xero"}
    )
    assert visible.visible_accounts == updated.visible_accounts

    with pytest.raises(errors.ErrorMessage) as missing:
        client.connections.list(request={"company_id": "846ed55c-974b-4392-a1f1-87b6fdbf3c5e"})
    assert missing.value.data.status_code == 404
    stranger = sdk(live_server, "not-a-key")  # kept: the SDK closes its client when collected
    with pytest.raises(errors.ErrorMessage) as refused:
        stranger.integrations.list()
    assert refused.value.data.status_code == 401
