"""Integrations (our platforms) and their branding through the partner API."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.contrib.staticfiles import finders

from tests.api.codat_sync_schema import assert_codat, assert_error, assert_sdk_reads, partner_api


@pytest.fixture
def api(client, partner):
    return partner_api(client, partner)


def test_list_integrations_names_every_installed_platform(api, client):
    body = api("get", "/config/integrations").json()
    assert_codat("Integrations", body)
    assert_sdk_reads("Integrations", body)
    keys = {row["key"]: row for row in body["results"]}
    assert {"sandbox", "partner-push", "square", "shopify", "zettle"} <= set(keys)
    assert {"beancount", "xero", "quickbooks", "http-ledger"} <= set(keys)
    assert keys["xero"]["name"] == "Xero" and keys["xero"]["sourceType"] == "Accounting"
    assert keys["square"]["sourceType"] == "Commerce"
    assert body["totalResults"] == len(keys)
    # Logos are our own static files, served by this site.
    logo = keys["xero"]["logoUrl"]
    assert logo.startswith("http://testserver/static/integrations/xero.svg")
    assert finders.find("integrations/xero.svg")  # collected and served as static files


def test_list_integrations_query_order_and_paging(api):
    body = api(
        "get", "/config/integrations?query=" + quote("sourceType=Accounting") + "&orderBy=-key"
    ).json()
    keys = [row["key"] for row in body["results"]]
    assert keys == sorted(keys, reverse=True) and "xero" in keys and "square" not in keys
    named = api("get", "/config/integrations?query=" + quote("name~books || key=xero")).json()
    assert [row["key"] for row in named["results"]] == ["quickbooks", "xero"]
    page = api("get", "/config/integrations?pageSize=2&page=2").json()
    assert len(page["results"]) == 2 and page["pageNumber"] == 2
    assert_error(
        api("get", "/config/integrations?query=" + quote("enabled=maybe")), 400, field="query"
    )
    assert_error(api("get", "/config/integrations?orderBy=colour"), 400, field="orderBy")


def test_branding(api, client):
    response = api("get", "/config/integrations/quickbooks/branding")
    assert response.status_code == 200
    body = response.json()
    assert_codat("Branding", body)
    assert_sdk_reads("Branding", body)
    src = body["logo"]["square"]["image"]["src"]
    assert src.endswith("/static/integrations/quickbooks-square.svg")
    assert finders.find("integrations/quickbooks-square.svg")
    assert body["sourceId"] == next(
        row["sourceId"]
        for row in api("get", "/config/integrations").json()["results"]
        if row["key"] == "quickbooks"
    )
    assert_error(api("get", "/config/integrations/gbol/branding"), 404)


def test_integrations_need_a_key(client, db):
    assert_error(client.get("/api/v1/config/integrations"), 401)
