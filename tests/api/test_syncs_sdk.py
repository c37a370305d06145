"""Codat's own Python SDK, unmodified, driving the configuration read and
the sync operations against a live server (django-q2 inline: a requested
sync has run by the time the next call is made)."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest
from codat_sync_for_commerce import CodatSyncCommerce
from codat_sync_for_commerce.models import errors, shared
from django.core.cache import cache
from django.utils import timezone

from commerce_sync.core.services.demo import demo_seed
from commerce_sync.core.services.partners import partner_api_key_create


@pytest.fixture
def sdk_and_company(live_server, transactional_db, settings, tmp_path: Path):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    cache.clear()
    seed = demo_seed(days=3, orders_per_day=4, today=timezone.localdate())
    _, key = partner_api_key_create(partner=seed.merchant.partner, name="sdk")
    sdk = CodatSyncCommerce(
        security=shared.Security(auth_header="Basic " + base64.b64encode(key.encode()).decode()),
        server_url=live_server.url + "/api/v1",
    )
    return sdk, str(seed.merchant.pk)


def test_the_sdk_reads_the_configuration_and_syncs(sdk_and_company):
    sdk, company = sdk_and_company
    config = sdk.advanced_controls.get_configuration(request={"company_id": company})
    assert config.configured is True
    sales = config.configuration.sales.accounts["sales"]
    assert sales.selected_account_id == "Income:Sales:Other"
    assert {o.id for o in sales.account_options} >= {"Income:Sales:Other", "Assets:Bank:Current"}

    summary = sdk.sync.request(request={"company_id": company, "sync_to_latest_args": {}})
    assert summary.sync_status_code == 1000
    sync_id = summary.commerce_sync_id
    done = sdk.sync.get(request={"company_id": company, "sync_id": sync_id})
    assert (done.sync_status_code, done.sync_status, done.data_pushed) == (2000, "Complete", True)
    assert sdk.sync.get_latest_sync(request={"company_id": company}).sync_id == sync_id
    assert sdk.sync.get_last_successful_sync(request={"company_id": company}).sync_id == sync_id
    assert sdk.sync.get_status(request={"company_id": company}).sync_status_code == 2000

    today = timezone.localdate()
    historic = sdk.sync.request_for_date_range(
        request={
            "company_id": company,
            "sync_range": {
                "date_range": {
                    "start": str(today - timedelta(days=9)),
                    "finish": str(today - timedelta(days=7)),
                }
            },
        }
    )
    assert historic.sync_status_code == 1000
    listed = sdk.sync.list(request={"company_id": company})
    assert [s.sync_id for s in listed] == [historic.commerce_sync_id, sync_id]
    assert {s.sync_status_code for s in listed} == {2000}

    # An overlap is refused as Codat refuses it: an ErrorMessage, 5080.
    with pytest.raises(errors.ErrorMessage) as refused:
        sdk.sync.request_for_date_range(
            request={
                "company_id": company,
                "sync_range": {
                    "date_range": {
                        "start": str(today - timedelta(days=8)),
                        "finish": str(today - timedelta(days=6)),
                    }
                },
            }
        )
    assert refused.value.data.detailed_error_code == 5080
    with pytest.raises(errors.ErrorMessage) as missing:
        sdk.sync.get(
            request={"company_id": company, "sync_id": "6fb40d5e-b13e-11ed-afa1-0242ac120002"}
        )
    assert missing.value.data.status_code == 404
