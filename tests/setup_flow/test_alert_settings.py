"""The merchant's alert settings page, opened by the signed link of their
alert emails (no setup session), and the same settings through the API."""

from __future__ import annotations

import time

import pytest
from django.core import signing

from commerce_sync.core.models import AuditLog
from commerce_sync.core.services.merchant_alerts import (
    AlertSettingsLinkInvalid,
    alert_settings_merchant,
    alert_settings_url,
)
from tests.api.codat_sync_schema import partner_api
from tests.factories import MerchantFactory


def _path(merchant) -> str:
    return "/setup/alerts/" + alert_settings_url(merchant).rsplit("/", 1)[1]


def test_the_link_opens_that_merchants_page_and_saves_audited(db, client, settings):
    settings.SITE_URL = "https://sync.example"
    merchant = MerchantFactory(alert_email="old@shop.example", language="fr")
    other = MerchantFactory(alert_email="other@shop.example")
    assert alert_settings_url(merchant).startswith("https://sync.example/setup/alerts/")

    page = client.get(_path(merchant))
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    html = page.content.decode()
    assert "E-mails d'alerte" in html and 'value="old@shop.example"' in html  # in French
    assert other.alert_email not in html

    saved = client.post(
        _path(merchant),
        {"alert_email": " new@shop.example ", "alerts_opt_out": "on", "language": "en"},
    )
    assert "Your alert settings are saved." in saved.content.decode()  # now in English
    merchant.refresh_from_db()
    other.refresh_from_db()
    assert (merchant.alert_email, merchant.alerts_opt_out, merchant.language) == (
        "new@shop.example",
        True,
        "en",
    )
    assert other.alert_email == "other@shop.example"
    audit = AuditLog.objects.get(action="merchant.update", object_id=str(merchant.pk))
    assert audit.changes["alerts_opt_out"] == {"from": False, "to": True}

    bad = client.post(_path(merchant), {"alert_email": "not-an-address", "language": "en"})
    assert bad.status_code == 200 and "Enter a valid email address" in bad.content.decode()
    merchant.refresh_from_db()
    assert merchant.alert_email == "new@shop.example"


def test_altered_and_expired_links_say_so(db, client, settings, monkeypatch):
    merchant = MerchantFactory()
    path = _path(merchant)
    altered = client.get(path[:-3] + ("xyz" if not path.endswith("xyz") else "abc"))
    assert altered.status_code == 404
    assert "copy the whole link" in altered.content.decode()

    settings.MERCHANT_ALERT_LINK_DAYS = 30
    made = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: made + 31 * 86400)
    expired = client.get(path)
    assert expired.status_code == 410 and "This link has expired" in expired.content.decode()
    with pytest.raises(AlertSettingsLinkInvalid) as error:
        alert_settings_merchant(path.rsplit("/", 1)[1])
    assert error.value.expired is True


def test_the_partner_api_reads_and_sets_the_alert_settings(db, client, partner):
    api = partner_api(client, partner)
    merchant = MerchantFactory(partner=partner)
    body = api("get", f"/companies/{merchant.pk}").json()
    assert (body["alertEmail"], body["alertsOptOut"], body["language"]) == ("", False, "en")
    response = api(
        "put",
        f"/companies/{merchant.pk}",
        {"name": merchant.name, "alertEmail": "owner@shop.example", "language": "fr"},
    )
    assert response.status_code == 200 and response.json()["alertEmail"] == "owner@shop.example"
    merchant.refresh_from_db()
    assert (merchant.alert_email, merchant.language, merchant.alerts_opt_out) == (
        "owner@shop.example",
        "fr",
        False,
    )
    bad = api("put", f"/companies/{merchant.pk}", {"name": "x", "language": "de"})
    assert bad.status_code == 400 and "language" in bad.content.decode()
    bad = api("put", f"/companies/{merchant.pk}", {"name": "x", "alertEmail": "nope"})
    assert bad.status_code == 400 and "alertEmail" in bad.content.decode()
