"""The sync-flow start URL and its single-use setup links; sync-flow texts
and visible accounts per partner."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone

from commerce_sync.core.models import AuditLog, Merchant, SetupLink
from commerce_sync.core.services.setup_links import (
    SetupLinkRefusal,
    setup_code_hash,
    setup_link_consume,
    setup_link_issue,
)
from tests.api.codat_sync_schema import assert_codat, assert_error, partner_api
from tests.factories import ConnectionFactory, MerchantFactory, PartnerFactory

START = "/config/sync/commerce/sandbox/beancount/start"


@pytest.fixture
def api(client, partner):
    return partner_api(client, partner)


def code_of(url: str) -> str:
    prefix = "http://testserver/setup/start/"
    assert url.startswith(prefix), url
    return url.removeprefix(prefix)


# -- the start URL --


def test_start_creates_the_merchant_and_its_connections_and_a_single_use_code(api, partner):
    response = api(
        "get",
        f"{START}?merchantIdentifier=shop-42&redirectUrl={quote('https://pos.example/done')}&locale=fr-fr",
    )
    assert response.status_code == 200
    assert_codat("SyncFlowUrl", response.json())
    code = code_of(response.json()["url"])
    merchant = Merchant.objects.get(partner=partner, external_id="shop-42")
    assert merchant.name == "shop-42" and merchant.currency == "GBP"
    assert sorted(merchant.connections.values_list("platform_key", "source_type", "status")) == [
        ("beancount", "accounting", "Linked"),  # nothing for the merchant to authorise
        ("sandbox", "commerce", "Linked"),
    ]
    link = SetupLink.objects.get(merchant=merchant)
    assert link.hashed_code == setup_code_hash(code) and code not in link.hashed_code
    assert link.redirect_url == "https://pos.example/done" and link.locale == "fr-fr"
    assert 29 <= (link.expires_at - timezone.now()).total_seconds() <= 30
    assert code not in str(AuditLog.objects.values_list("changes", flat=True))

    consumed = setup_link_consume(code=code)
    assert consumed.ok and consumed.merchant == merchant
    assert consumed.link.redirect_url == "https://pos.example/done"


def test_start_again_reuses_the_merchant_and_connections(api, partner):
    first = code_of(api("get", f"{START}?merchantIdentifier=shop-42").json()["url"])
    merchant = Merchant.objects.get(external_id="shop-42")
    second = code_of(api("get", f"{START}?merchantIdentifier={merchant.pk}").json()["url"])
    third = code_of(api("get", f"{START}?merchantIdentifier=shop-42").json()["url"])
    assert len({first, second, third}) == 3
    assert Merchant.objects.filter(partner=partner).count() == 1
    assert merchant.connections.count() == 2
    assert SetupLink.objects.filter(merchant=merchant).count() == 3


def test_start_refuses_another_ledger_and_unknown_platforms(api, partner):
    merchant = MerchantFactory(partner=partner, external_id="shop-1")
    ConnectionFactory(
        merchant=merchant,
        platform_key="xero",
        source_type="accounting",
        settings={"tenant_id": "t"},
    )
    assert_error(api("get", f"{START}?merchantIdentifier=shop-1"), 409)
    assert_error(api("get", "/config/sync/commerce/nope/beancount/start?merchantIdentifier=x"), 404)
    assert_error(
        api("get", "/config/sync/commerce/beancount/sandbox/start?merchantIdentifier=x"), 404
    )
    assert not SetupLink.objects.exists()
    assert not Merchant.objects.filter(external_id="x").exists()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "merchantIdentifier"),
        ("merchantIdentifier=%20", "merchantIdentifier"),
        ("merchantIdentifier=a&locale=de-de", "locale"),
        ("merchantIdentifier=a&redirectUrl=not%20a%20url", "redirect_url"),
    ],
)
def test_start_refuses_bad_parameters(api, query, field):
    assert_error(api("get", f"{START}?{query}"), 400, field=field)
    assert not SetupLink.objects.exists() and not Merchant.objects.exists()


def test_setup_link_ttl_setting(api, settings):
    settings.SETUP_LINK_TTL = 120
    api("get", f"{START}?merchantIdentifier=a")
    link = SetupLink.objects.get()
    assert (link.expires_at - link.created_at) == timedelta(seconds=120)


# -- setup links, at the service level --


def test_a_code_is_single_use(merchant):
    issued = setup_link_issue(merchant=merchant, actor="test")
    assert setup_link_consume(code=issued.code).merchant == merchant
    again = setup_link_consume(code=issued.code)
    assert again.refusal is SetupLinkRefusal.USED and again.merchant is None
    assert AuditLog.objects.filter(action="setup_link.consume").count() == 1


def test_a_code_expires_after_the_ttl(merchant):
    now = timezone.now()
    issued = setup_link_issue(merchant=merchant, actor="test", now=now)
    late = setup_link_consume(code=issued.code, now=now + timedelta(seconds=30))
    assert late.refusal is SetupLinkRefusal.EXPIRED and late.merchant is None
    SetupLink.objects.filter(pk=issued.link.pk, used_at__isnull=True).get()  # not spent
    just_in_time = setup_link_issue(merchant=merchant, actor="test", now=now)
    ok = setup_link_consume(code=just_in_time.code, now=now + timedelta(seconds=29.9))
    assert ok.ok and ok.link.used_at == now + timedelta(seconds=29.9)


def test_an_unknown_code_is_refused(db):
    assert setup_link_consume(code="nope").refusal is SetupLinkRefusal.UNKNOWN
    assert setup_link_consume(code="").refusal is SetupLinkRefusal.UNKNOWN


# -- texts --


def test_texts_default_set_hide_and_restore(api):
    default = api("get", "/sync/commerce/config/ui/text?locale=en-us").json()
    assert default["configure-misc-nextButton"] == {"text": "Next", "required": False}
    assert default["configure-content-payments-accounts-entries-card"]["required"] is True
    for value in default.values():
        assert_codat("Localization", value)
    french = api("get", "/sync/commerce/config/ui/text?locale=fr-fr").json()
    assert french["configure-misc-nextButton"]["text"] == "Suivant"
    assert set(french) == set(default)

    response = api(
        "patch",
        "/sync/commerce/config/ui/text?locale=en-us",
        {
            "configure-misc-nextButton": {"text": "Continue"},
            "configure-required-indicator": {"text": ""},
        },
    )
    assert response.status_code == 200
    assert response.json()["configure-misc-nextButton"]["text"] == "Continue"
    assert response.json()["configure-required-indicator"]["text"] == ""
    # Other locales are untouched; null restores the default.
    assert (
        api("get", "/sync/commerce/config/ui/text?locale=fr-fr").json()[
            "configure-misc-nextButton"
        ]["text"]
        == "Suivant"
    )
    api(
        "patch",
        "/sync/commerce/config/ui/text?locale=en-us",
        {"configure-misc-nextButton": {"text": None}},
    )
    body = api("get", "/sync/commerce/config/ui/text?locale=en-us").json()
    assert body["configure-misc-nextButton"]["text"] == "Next"
    assert body["configure-required-indicator"]["text"] == ""
    # The docs' misspelt key and its corrected form are both accepted.
    assert (
        api(
            "patch",
            "/sync/commerce/config/ui/text?locale=en-us",
            {"configure-setupSidebar=checkboxes-syncSchedule": {"text": "When"}},
        ).status_code
        == 200
    )


def test_texts_are_per_partner(api, client):
    api(
        "patch",
        "/sync/commerce/config/ui/text?locale=en-us",
        {"configure-misc-nextButton": {"text": "Go"}},
    )
    other = partner_api(client, PartnerFactory())
    assert (
        other("get", "/sync/commerce/config/ui/text?locale=en-us").json()[
            "configure-misc-nextButton"
        ]["text"]
        == "Next"
    )


@pytest.mark.parametrize(
    ("query", "body", "field"),
    [
        ("", None, "locale"),
        ("?locale=de-de", None, "locale"),
        ("?locale=en-us", {"no-such-key": {"text": "x"}}, "no-such-key"),
        ("?locale=en-us", {"configure-misc-nextButton": {"text": 5}}, "configure-misc-nextButton"),
        ("?locale=en-us", ["x"], "body"),
    ],
)
def test_texts_refuse_bad_input(api, query, body, field):
    method = "get" if body is None else "patch"
    assert_error(api(method, f"/sync/commerce/config/ui/text{query}", body), 400, field=field)
    assert (
        api("get", "/sync/commerce/config/ui/text?locale=en-us").json()[
            "configure-misc-nextButton"
        ]["text"]
        == "Next"
    )


# -- visible accounts --


def test_visible_accounts_default_choose_and_reset(api, partner):
    read = f"/clients/{partner.slug}/config/ui/accounts/platform/xero"
    write = "/sync/commerce/config/ui/accounts/platform/xero"
    every = api("get", read).json()
    assert_codat("VisibleAccounts", every)
    assert "fees-accounts-loan" in every["visibleAccounts"]
    chosen = api("post", write, {"visibleAccounts": ["fees-accounts-loan"]}).json()
    assert "fees-accounts-loan" in chosen["visibleAccounts"]
    assert "payments-accounts-card" in chosen["visibleAccounts"]  # required: always shown
    assert "payments-accounts-cash" not in chosen["visibleAccounts"]
    assert api("get", read).json() == chosen
    assert api("get", f"/clients/{partner.pk}/config/ui/accounts/platform/xero").json() == chosen
    # Per platform.
    assert (
        "payments-accounts-cash"
        in api("get", read.replace("xero", "quickbooks")).json()["visibleAccounts"]
    )
    only_required = api("post", write, {"visibleAccounts": []}).json()["visibleAccounts"]
    assert "fees-accounts-loan" not in only_required and "sales-accounts-sales" in only_required
    assert api("post", write, {}).json() == every


def test_visible_accounts_refuse_bad_input(api, partner):
    write = "/sync/commerce/config/ui/accounts/platform/xero"
    assert_error(api("post", write, {"visibleAccounts": ["nope"]}), 400, field="visibleAccounts")
    assert_error(api("post", write, {"visibleAccounts": "all"}), 400, field="visibleAccounts")
    assert_error(api("post", write, {"accounts": []}), 400, field="accounts")
    assert_error(api("post", "/sync/commerce/config/ui/accounts/platform/square", {}), 404)
    assert_error(api("get", f"/clients/{partner.slug}/config/ui/accounts/platform/gbol"), 404)
    assert_error(api("get", "/clients/someone-else/config/ui/accounts/platform/xero"), 404)
