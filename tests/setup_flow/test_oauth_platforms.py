"""Connecting Square (a commerce source) and QuickBooks (with its company
picker) from the flow through their doubles' consent screens: the state
and PKCE verifier are bound to the session, the code works once, QuickBooks
names the company chosen (`realmId`) and the options then come from it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from commerce_sync.core.models import Connection
from commerce_sync.core.services.connections import connection_create
from tests.doubles.consent import IntuitOAuthDouble
from tests.doubles.quickbooks_double import QuickBooksDouble
from tests.doubles.square_double import SquareDouble
from tests.factories import MerchantFactory
from tests.setup_flow.helpers import start_path

pytestmark = pytest.mark.django_db
OTHER_REALM = "9130999"


@pytest.fixture
def square(settings: Any) -> Iterator[SquareDouble]:
    with SquareDouble() as double:
        settings.SQUARE_API_URL = double.url
        settings.SQUARE_CLIENT_ID = double.client_id
        settings.SQUARE_CLIENT_SECRET = double.client_secret
        yield double


@pytest.fixture
def quickbooks(settings: Any) -> Iterator[tuple[QuickBooksDouble, IntuitOAuthDouble]]:
    with QuickBooksDouble() as api:
        api.company.seed_account("40", "Sales", "Revenue")
        api.company.seed_account("41", "Refunds", "Revenue")
        api.company.seed_account("10", "Current account", "Asset")
        companies = [(OTHER_REALM, "Another company"), (api.realm, "Double Café Ltd")]
        with IntuitOAuthDouble(access_token=api.token, companies=companies) as intuit:
            settings.QUICKBOOKS_API_URL = api.url
            settings.QUICKBOOKS_AUTHORIZE_URL = intuit.authorize_url
            settings.QUICKBOOKS_TOKEN_URL = intuit.token_url
            settings.QUICKBOOKS_REVOKE_URL = intuit.revoke_url
            settings.QUICKBOOKS_CLIENT_ID, settings.QUICKBOOKS_CLIENT_SECRET = intuit.client
            yield api, intuit


@pytest.fixture
def merchant(partner: Any) -> Any:
    merchant = MerchantFactory(partner=partner)
    connection_create(merchant=merchant, platform_key="square", source_type="commerce")
    connection_create(merchant=merchant, platform_key="quickbooks", source_type="accounting")
    return merchant


def consent_screen(client: Any, connection: Connection, **choices: str) -> tuple[str, str]:
    """Press Connect, see the consent screen, allow; (screen HTML, callback path)."""
    response = client.get(f"/setup/connect/{connection.pk}")
    assert response.status_code == 302
    screen = requests.get(response["Location"], timeout=5)
    assert screen.status_code == 200 and "<button" in screen.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}
    assert query["code_challenge_method"] == "S256" and query["state"]
    back = requests.get(
        response["Location"],
        params={"decision": "allow", **choices},
        allow_redirects=False,
        timeout=5,
    )
    assert back.status_code == 302
    callback = urlsplit(back.headers["Location"])
    return screen.text, f"{callback.path}?{callback.query}"


def test_square_is_connected_through_its_consent_screen(client, merchant, square):
    client.get(start_path(merchant))
    page = client.get("/setup/stage/commerce").content.decode()
    till = merchant.connections.get(source_type="commerce")
    assert f"/setup/connect/{till.pk}" in page
    screen, callback = consent_screen(client, till)
    assert "Allow access to Square?" in screen
    response = client.get(callback)
    assert response["Location"] == "/setup/stage/commerce"
    till.refresh_from_db()
    assert till.status == Connection.Status.LINKED
    assert till.credentials["access_token"].startswith("square-access-")
    grant = square.token_requests[-1]
    assert grant["grant_type"] == "authorization_code" and grant["code_verifier"]
    assert "Connected" in client.get("/setup/stage/commerce").content.decode()
    assert client.get(callback).status_code == 400  # the state was spent


def test_a_denied_consent_is_said_plainly(client, merchant, square):
    client.get(start_path(merchant))
    till = merchant.connections.get(source_type="commerce")
    location = client.get(f"/setup/connect/{till.pk}")["Location"]
    back = requests.get(location, params={"decision": "deny"}, allow_redirects=False, timeout=5)
    callback = urlsplit(back.headers["Location"])
    response = client.get(f"{callback.path}?{callback.query}")
    assert response.status_code == 400
    assert "cancelled or refused" in response.content.decode()
    till.refresh_from_db()
    assert till.status == Connection.Status.PENDING_AUTH


def test_quickbooks_is_connected_to_the_company_chosen(client, merchant, quickbooks):
    api, intuit = quickbooks
    client.get(start_path(merchant))
    books = merchant.connections.get(source_type="accounting")
    screen, callback = consent_screen(client, books, realmId=api.realm)
    assert "Double Café Ltd" in screen and "Another company" in screen
    assert f"realmId={api.realm}" in callback
    assert intuit.screen.consents[-1]["realmId"] == api.realm
    assert client.get(callback)["Location"] == "/setup/stage/accounting"
    books.refresh_from_db()
    assert books.status == Connection.Status.LINKED
    assert books.settings["realm_id"] == api.realm
    assert books.credentials["access_token"] == api.token
    # The options come from that company.
    slots = {s["name"]: s for s in client.get("/setup/stage/sales").context["slots"]}
    names = [a["name"] for a in slots["sales.accounts.sales"]["options"]]
    assert "Sales" in names and "Current account" not in names


@pytest.mark.parametrize("platform", ["zettle", "shopify"])
def test_zettle_and_shopify_connect_through_their_consent_screens(
    client, partner, settings, platform
):
    from tests.doubles import shopify_double
    from tests.doubles.zettle_double import ZettleDouble

    merchant = MerchantFactory(partner=partner)
    if platform == "zettle":
        double: Any = ZettleDouble()
        till_settings: dict[str, str] = {}
    else:
        double = shopify_double.ShopifyDouble(shopify_double.realistic_day())
        till_settings = {"shop": shopify_double.SHOP}
    with double:
        if platform == "zettle":
            settings.ZETTLE_OAUTH_URL = settings.ZETTLE_PURCHASE_API_URL = double.url
            settings.ZETTLE_FINANCE_API_URL = double.url
            settings.ZETTLE_CLIENT_ID, settings.ZETTLE_CLIENT_SECRET = "zettle-app", "zettle-sec"
        else:
            settings.SHOPIFY_AUTHORIZE_URL_TEMPLATE = double.authorize_url_template
            settings.SHOPIFY_TOKEN_URL_TEMPLATE = double.token_url_template
            settings.SHOPIFY_API_URL_TEMPLATE = double.url_template
            settings.SHOPIFY_CLIENT_ID = double.client_id
            settings.SHOPIFY_CLIENT_SECRET = double.client_secret
        till = connection_create(
            merchant=merchant, platform_key=platform, source_type="commerce", settings=till_settings
        )
        client.get(start_path(merchant))
        screen, callback = consent_screen(client, till)
        assert f"Allow access to {platform.title()}?" in screen
        if platform == "shopify":  # Shopify signs its callback: a forged one is refused
            forged = callback.replace("hmac=", "hmac=0")
            assert client.get(forged).status_code == 400
            screen, callback = consent_screen(client, till)
        assert client.get(callback)["Location"] == "/setup/stage/commerce"
        till.refresh_from_db()
        assert till.status == Connection.Status.LINKED and till.credentials["access_token"]


def test_a_disconnected_square_is_reconnected_through_its_consent_screen(client, merchant, square):
    client.get(start_path(merchant))
    till = merchant.connections.get(source_type="commerce")
    _screen, callback = consent_screen(client, till)
    client.get(callback)
    client.post(
        "/setup/settings", {"action": "revoke", "connection": str(till.pk), "confirm": "yes"}
    )
    till.refresh_from_db()
    assert till.status == Connection.Status.UNLINKED
    again = client.post(f"/setup/reconnect/{till.pk}", {"next": "/setup/settings"})
    fresh = merchant.connections.exclude(pk=till.pk).get(source_type="commerce")
    # To the stage and its Connect link: under `form-action 'self'` Chromium
    # blocks a form whose redirects lead to the platform's consent screen.
    assert again["Location"] == "/setup/stage/commerce"
    stage = client.get(again["Location"]).content.decode()
    assert f'href="/setup/connect/{fresh.pk}"' in stage and "Connect button" in stage
    assert fresh.status == Connection.Status.PENDING_AUTH and not fresh.credentials
    _screen, callback = consent_screen(client, fresh)
    assert client.get(callback)["Location"] == "/setup/stage/commerce"
    fresh.refresh_from_db()
    assert fresh.status == Connection.Status.LINKED


def test_a_shopify_merchant_names_its_shop_before_consenting(client, partner):
    merchant = MerchantFactory(partner=partner)
    till = connection_create(merchant=merchant, platform_key="shopify", source_type="commerce")
    client.get(start_path(merchant))
    page = client.get("/setup/stage/commerce").content.decode()
    assert f'action="/setup/shop/{till.pk}"' in page and "myshopify.com" in page
    bad = client.post(f"/setup/shop/{till.pk}", {"shop": "https://evil.example"}, follow=True)
    assert "is not a Shopify shop address" in bad.content.decode()
    till.refresh_from_db()
    assert "shop" not in till.settings
    response = client.post(f"/setup/shop/{till.pk}", {"shop": "corner-bakery"})
    # Never on to the consent screen from the form: under `form-action 'self'`
    # Chromium blocks a form whose redirects leave the site.
    assert response["Location"] == "/setup/stage/commerce"
    till.refresh_from_db()
    assert till.settings["shop"] == "corner-bakery.myshopify.com"
    page = client.get(response["Location"]).content.decode()
    assert f'href="/setup/connect/{till.pk}"' in page
    assert 'value="corner-bakery.myshopify.com"' in page and "Change the shop" in page


def test_a_code_the_platform_refuses_is_told_apart_from_a_forged_answer(
    client, partner, settings, caplog
):
    """Our own answer whose code the platform will not exchange (here our
    app's secret is wrong) names the platform and leaves the operator a
    clue in the log; an answer with another state is still "not ours"."""
    from tests.doubles.stripe_double import CONNECT_CLIENT, StripeDouble

    merchant = MerchantFactory(partner=partner)
    stripe = connection_create(merchant=merchant, platform_key="stripe", source_type="commerce")
    connection_create(merchant=merchant, platform_key="beancount", source_type="accounting")
    with StripeDouble() as double:
        settings.STRIPE_API_URL = settings.STRIPE_CONNECT_URL = double.url
        settings.STRIPE_CONNECT_CLIENT_ID = CONNECT_CLIENT
        settings.STRIPE_SECRET_KEY = "sk_test_not_the_platforms_key"
        client.get(start_path(merchant))
        _, callback = consent_screen_plain(client, stripe)
        with caplog.at_level("WARNING", logger="commerce_sync.core.services.merchant_setup"):
            refused = client.get(callback)
        assert refused.status_code == 400
        assert "Stripe did not accept this connection" in refused.content.decode()
        (record,) = [r for r in caplog.records if r.getMessage() == "consent answer refused"]
        assert (record.platform, record.connection) == ("stripe", str(stripe.pk))
        assert "sk_test_not_the_platforms_key" not in record.reason
        # Connecting again, an answer carrying another state is not ours.
        _, callback = consent_screen_plain(client, stripe)
        forged = client.get(re.sub(r"state=[^&]+", "state=forged", callback))
        assert forged.status_code == 400
        assert "does not belong to a connection started here" in forged.content.decode()
    stripe.refresh_from_db()
    assert stripe.status == Connection.Status.PENDING_AUTH


def consent_screen_plain(client: Any, connection: Connection) -> tuple[str, str]:
    """`consent_screen` for a vendor without PKCE (Stripe Connect)."""
    response = client.get(f"/setup/connect/{connection.pk}")
    back = requests.get(
        response["Location"], params={"decision": "allow"}, allow_redirects=False, timeout=5
    )
    callback = urlsplit(back.headers["Location"])
    return back.text, f"{callback.path}?{callback.query}"


def test_a_wrong_clover_region_can_be_changed_before_connecting(client, partner, settings):
    """A merchant who picked the wrong region is not stuck on a consent
    screen that cannot know its account: until connected, the stage offers
    the region again (the current one selected); once connected, it does not."""
    from tests.doubles.clover_double import CLIENT_ID, CLIENT_SECRET, CloverDouble

    merchant = MerchantFactory(partner=partner)
    clover = connection_create(
        merchant=merchant, platform_key="clover", source_type="commerce", settings={"region": "na"}
    )
    connection_create(merchant=merchant, platform_key="beancount", source_type="accounting")
    with CloverDouble() as double:
        settings.CLOVER_API_URLS = settings.CLOVER_WEB_URLS = {"eu": double.url}
        settings.CLOVER_CLIENT_ID, settings.CLOVER_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
        client.get(start_path(merchant))
        page = client.get("/setup/stage/commerce").content.decode()
        assert f"/setup/connect/{clover.pk}" in page
        assert f'action="/setup/clover-region/{clover.pk}"' in page
        assert '<option value="na" selected>' in page and "Change the region" in page
        assert client.post(f"/setup/clover-region/{clover.pk}", {"region": "eu"}).status_code == 302
        clover.refresh_from_db()
        assert clover.settings["region"] == "eu"
        response = client.get(f"/setup/connect/{clover.pk}")
        assert response["Location"].startswith(f"{double.url}/oauth/v2/authorize?")
        back = requests.get(response["Location"], allow_redirects=False, timeout=5)
        callback = urlsplit(back.headers["Location"])
        assert client.get(f"{callback.path}?{callback.query}").status_code == 302
        page = client.get("/setup/stage/commerce").content.decode()
        assert "Change the region" not in page and "/setup/clover-region/" not in page


def test_a_revoked_grant_is_authorised_again_from_the_settings(client, merchant, square):
    """A grant the platform revoked (Deauthorized): Reconnect leads to the
    stage's Connect link for the same connection, never off-site from the
    form, and the consent links it again."""
    client.get(start_path(merchant))
    till = merchant.connections.get(source_type="commerce")
    _screen, callback = consent_screen(client, till)
    client.get(callback)
    Connection.objects.filter(pk=till.pk).update(status=Connection.Status.DEAUTHORIZED)
    again = client.post(f"/setup/reconnect/{till.pk}", {"next": "/setup/settings"})
    assert again["Location"] == "/setup/stage/commerce"
    assert f'href="/setup/connect/{till.pk}"' in client.get(again["Location"]).content.decode()
    _screen, callback = consent_screen(client, till)
    assert client.get(callback)["Location"] == "/setup/stage/commerce"
    till.refresh_from_db()
    assert till.status == Connection.Status.LINKED


def test_a_sumup_merchant_gives_its_merchant_code_then_connects(client, partner, settings):
    """SumUp's API paths name the merchant: a connection the partner made
    with `platformKey` alone asks the merchant for its code before the
    consent screen, so the connection it links can sync."""
    from connectors.context import SumUpSettings
    from tests.doubles.sumup_double import MERCHANT, SumUpDouble

    merchant = MerchantFactory(partner=partner)
    sumup = connection_create(merchant=merchant, platform_key="sumup", source_type="commerce")
    connection_create(merchant=merchant, platform_key="beancount", source_type="accounting")
    with SumUpDouble() as double:
        settings.SUMUP_API_URL = double.url
        settings.SUMUP_CLIENT_ID, settings.SUMUP_CLIENT_SECRET = (
            double.client_id,
            double.client_secret,
        )
        client.get(start_path(merchant))
        page = client.get("/setup/stage/commerce").content.decode()
        assert f'action="/setup/sumup-code/{sumup.pk}"' in page
        assert f'href="/setup/connect/{sumup.pk}"' not in page
        assert client.get(f"/setup/connect/{sumup.pk}")["Location"] == "/setup/stage/commerce"
        bad = client.post(f"/setup/sumup-code/{sumup.pk}", {"merchant_code": "MH-4H"}, follow=True)
        assert "SumUp merchant code: enter it" in bad.content.decode()
        good = client.post(f"/setup/sumup-code/{sumup.pk}", {"merchant_code": MERCHANT.lower()})
        assert good["Location"] == "/setup/stage/commerce"
        assert f'href="/setup/connect/{sumup.pk}"' in client.get(good["Location"]).content.decode()
        consent = client.get(f"/setup/connect/{sumup.pk}")["Location"]
        back = urlsplit(requests.get(consent, allow_redirects=False, timeout=5).headers["Location"])
        assert client.get(f"{back.path}?{back.query}")["Location"] == "/setup/stage/commerce"
    sumup.refresh_from_db()
    assert sumup.status == Connection.Status.LINKED
    assert SumUpSettings.from_json(sumup.settings).merchant_code == MERCHANT
