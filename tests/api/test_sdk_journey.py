"""A partner's whole journey with Codat's own Python SDK (codat-sync-for-commerce
6.x, unmodified) against a live server, through all 22 operations of Codat's
Sync for Commerce: only the server URL and the API key change from what the
partner ran against Codat.

The one step outside the API is the merchant's own accounting software: the
new company's Beancount ledger gets its chart of accounts, as the merchant's
accountant would have it. django-q2 runs inline in the tests (Q_SYNC), so a
requested sync has run when the request answers; the journey still polls
the status as a partner must.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from codat_sync_for_commerce import CodatSyncCommerce
from codat_sync_for_commerce.httpclient import HttpClient
from codat_sync_for_commerce.models import errors, shared
from codat_sync_for_commerce.utils import BackoffStrategy, RetryConfig
from django.core.cache import cache
from django.utils import timezone

from commerce_sync.core.models import Connection, SetupLink, SyncRun
from commerce_sync.core.services.connections import connection_target
from commerce_sync.core.services.demo import demo_configuration, ledger_open_demo_accounts
from commerce_sync.core.services.partners import partner_api_key_create
from commerce_sync.core.services.setup_links import setup_link_consume
from tests.factories import PartnerFactory

pytestmark = pytest.mark.django_db(transaction=True)

# A failing call fails the test at once instead of the SDK's hour of backoff.
NO_RETRIES = RetryConfig("none", BackoffStrategy(1, 1, 1, 1), False)


class ConfigurationBodyClient(HttpClient):
    """The SDK's documented custom HTTP client hook (its README, "Custom HTTP
    Client"): Codat's description gives set-configuration no body, so the
    SDK sends none; this client attaches `configuration` as the JSON body of
    that one request and passes everything else through unchanged."""

    def __init__(self) -> None:
        self.client = httpx.Client()
        self.configuration: dict[str, Any] | None = None

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        return self.client.send(request, **kwargs)

    def build_request(self, method: str, url: Any, **kwargs: Any) -> httpx.Request:
        path = httpx.URL(str(url)).path
        is_set_configuration = (
            method == "POST" and "/config/companies/" in path and path.endswith("/sync/commerce")
        )
        if is_set_configuration and self.configuration is not None and not kwargs.get("content"):
            kwargs["content"] = json.dumps(self.configuration).encode()
            headers = dict(kwargs.get("headers") or {})
            headers["content-type"] = "application/json"
            kwargs["headers"] = headers
        return self.client.build_request(method, url, **kwargs)

    def close(self) -> None:
        self.client.close()


def sdk_for(live_server: Any, key: str, client: HttpClient | None = None) -> CodatSyncCommerce:
    """Codat's SDK as a partner sets it up: Basic base64(key), our server URL."""
    return CodatSyncCommerce(
        security=shared.Security(auth_header="Basic " + base64.b64encode(key.encode()).decode()),
        server_url=f"{live_server.url}/api/v1",
        client=client,
        retry_config=NO_RETRIES,
        timeout_ms=60_000,
    )


def test_a_partner_journey_with_codats_sdk(live_server, transactional_db, settings, tmp_path: Path):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    cache.clear()
    partner = PartnerFactory()
    _, key = partner_api_key_create(partner=partner, name="journey")
    http = ConfigurationBodyClient()
    codat = sdk_for(live_server, key, http)
    today = timezone.localdate()

    # Integrations and branding.
    integrations = codat.integrations.list(request={"page_size": 100})
    assert {"sandbox", "beancount", "xero"} <= {row.key for row in integrations.results}
    accounting = codat.integrations.list(request={"query": "sourceType=Accounting"})
    assert "xero" in [row.key for row in accounting.results]
    assert "sandbox" not in [row.key for row in accounting.results]
    branding = codat.integrations.get_branding(request={"platform_key": "xero"})
    assert branding.logo.full.image.src.endswith("/static/integrations/xero.svg")

    # Create a company, find it with Codat's query language.
    company = codat.advanced_controls.create_company(
        request={"name": "Journey Café", "description": "The SDK's café"}
    )
    found = codat.advanced_controls.list_companies(request={"query": "name=Journey Café"})
    assert [(c.id, c.name) for c in found.results] == [(company.id, "Journey Café")]
    assert codat.advanced_controls.list_companies(request={"query": f"id={company.id}"}).results

    # Connections: none yet; the till (commerce) and the ledger (accounting).
    assert codat.connections.list(request={"company_id": company.id}).results == []
    created = {}
    for platform in ("sandbox", "beancount"):
        connection = codat.connections.create(
            request={"company_id": company.id, "request_body": {"platform_key": platform}}
        )
        # Nothing for the merchant to authorise on these two: Linked at once;
        # their authorization takes no credentials ({}) and it stays Linked.
        assert connection.status == shared.DataConnectionStatus.LINKED
        linked = codat.connections.update_authorization(
            request={
                "company_id": company.id,
                "connection_id": connection.id,
                "request_body": {},
            }
        )
        assert linked.status == shared.DataConnectionStatus.LINKED
        created[platform] = connection.id
    listed = codat.connections.list(request={"company_id": company.id})
    assert {c.id: c.status for c in listed.results} == {
        created["sandbox"]: shared.DataConnectionStatus.LINKED,
        created["beancount"]: shared.DataConnectionStatus.LINKED,
    }
    # The merchant's accountant keeps the chart of accounts in the ledger.
    ledger_open_demo_accounts(
        connection_target(connection=Connection.objects.get(pk=created["beancount"]))
    )

    # The sync-flow start URL: a single-use setup link for a merchant.
    started = codat.connections.get_sync_flow_url(
        request={
            "commerce_key": "sandbox",
            "accounting_key": "beancount",
            "merchant_identifier": "journey-shop-2",
        }
    )
    assert started.url.startswith(f"{live_server.url}/setup/start/")
    assert setup_link_consume(code=started.url.rsplit("/", 1)[-1]).ok
    assert SetupLink.objects.get().used_at is not None

    # The default configuration, then one set and read back.
    default = codat.advanced_controls.get_configuration(request={"company_id": company.id})
    assert default.configured is False
    options = default.configuration.sales.accounts["sales"].account_options
    assert {o.id for o in options} >= {"Income:Sales:Other", "Assets:Bank:Current"}
    http.configuration = {
        "configuration": demo_configuration(),
        "schedule": {"startDate": str(today - timedelta(days=3))},
    }
    saved = codat.advanced_controls.set_configuration(request={"company_id": company.id})
    http.configuration = None
    assert saved.configured is True
    read_back = codat.advanced_controls.get_configuration(request={"company_id": company.id})
    assert read_back.configured is True
    assert read_back.configuration.sales.accounts["sales"].selected_account_id == (
        "Income:Sales:Other"
    )
    assert read_back.configuration.payments.accounts["payout"].selected_account_id == (
        "Assets:Bank:Current"
    )

    # The sync flow's texts and visible accounts, changed and read back.
    texts = codat.sync_flow_settings.get_config_text_sync_flow(request={"locale": "en-us"})
    assert texts["configure-misc-nextButton"].text == "Next"
    changed = codat.sync_flow_settings.update_config_text_sync_flow(
        request={
            "locale": "en-us",
            "request_body": {"configure-misc-nextButton": {"text": "Onwards", "required": True}},
        }
    )
    assert changed["configure-misc-nextButton"].text == "Onwards"
    texts = codat.sync_flow_settings.get_config_text_sync_flow(request={"locale": "en-us"})
    assert texts["configure-misc-nextButton"].text == "Onwards"
    updated = codat.sync_flow_settings.update_visible_accounts_sync_flow(
        request={
            "platform_key": "beancount",
            "visible_accounts": {"visible_accounts": ["sales-accounts-gratuity"]},
        }
    )
    visible = codat.sync_flow_settings.get_visible_accounts(
        request={"client_id": partner.slug, "platform_key": "beancount"}
    )
    assert visible.visible_accounts == updated.visible_accounts
    # The one chosen and the ones always shown, not the others.
    assert "sales-accounts-gratuity" in visible.visible_accounts
    assert "sales-accounts-prepaid" not in visible.visible_accounts

    # Sync to the latest sync hour and poll its status until it is done.
    requested = codat.sync.request(request={"company_id": company.id, "sync_to_latest_args": {}})
    assert requested.sync_status_code == 1000
    sync_id = requested.commerce_sync_id
    for _ in range(50):
        status = codat.sync.get_status(request={"company_id": company.id})
        if status.sync_status_code != 1000:  # 1000: pending or running
            break
        time.sleep(0.1)
    assert (status.sync_status_code, status.sync_status) == (2000, "Complete")
    done = codat.sync.get(request={"company_id": company.id, "sync_id": sync_id})
    assert (done.sync_status_code, done.data_pushed) == (2000, True)

    # A historic range before the configured start.
    historic = codat.sync.request_for_date_range(
        request={
            "company_id": company.id,
            "sync_range": {
                "date_range": {
                    "start": str(today - timedelta(days=8)),
                    "finish": str(today - timedelta(days=7)),  # included
                }
            },
        }
    )
    assert historic.sync_status_code == 1000
    by_id = codat.sync.get(request={"company_id": company.id, "sync_id": historic.commerce_sync_id})
    assert by_id.sync_status_code == 2000
    listed_syncs = codat.sync.list(request={"company_id": company.id})
    assert [s.sync_id for s in listed_syncs] == [historic.commerce_sync_id, sync_id]
    latest = codat.sync.get_latest_sync(request={"company_id": company.id})
    assert latest.sync_id == historic.commerce_sync_id
    last = codat.sync.get_last_successful_sync(request={"company_id": company.id})
    assert last.sync_id == historic.commerce_sync_id and last.sync_status_code == 2000
    assert SyncRun.objects.filter(merchant_id=company.id).count() == 2

    # A range overlapping a sync that posted is refused as Codat refuses it.
    with pytest.raises(errors.ErrorMessage) as overlap:
        codat.sync.request_for_date_range(
            request={
                "company_id": company.id,
                "sync_range": {
                    "date_range": {
                        "start": str(today - timedelta(days=7)),
                        "finish": str(today - timedelta(days=5)),
                    }
                },
            }
        )
    assert overlap.value.data.detailed_error_code == 5080
    with pytest.raises(errors.ErrorMessage) as no_such_sync:
        codat.sync.get(
            request={"company_id": company.id, "sync_id": "6fb40d5e-b13e-11ed-afa1-0242ac120002"}
        )
    assert no_such_sync.value.data.status_code == 404

    # Unlink the till.
    unlinked = codat.connections.update_connection(
        request={
            "company_id": company.id,
            "connection_id": created["sandbox"],
            "update_connection": {"status": shared.DataConnectionStatus.UNLINKED},
        }
    )
    assert unlinked.status == shared.DataConnectionStatus.UNLINKED
    assert Connection.objects.get(pk=created["sandbox"]).status == Connection.Status.UNLINKED

    # An unknown company is Codat's ErrorMessage with 404; a bad key, 401.
    with pytest.raises(errors.ErrorMessage) as missing:
        codat.sync.get_status(request={"company_id": "846ed55c-974b-4392-a1f1-87b6fdbf3c5e"})
    assert missing.value.data.status_code == 404
    stranger = sdk_for(live_server, "not-a-key")
    with pytest.raises(errors.ErrorMessage) as refused:
        stranger.advanced_controls.list_companies()
    assert refused.value.data.status_code == 401
