"""The Clover connector: its translation (pure, checked against Clover's two
real order responses), its client against the strict Clover double (every
exchange checked against Clover's SDK data classes), its OAuth (expiring
tokens, single-use refresh tokens, regions) and a Clover merchant's day
synced end to end into the Beancount ledger and into the Xero double, once.

The double's day (tests/doubles/clover_double.py), worked by hand in USD
(STATE 6.25 %, CITY 2 %, each rounded half up once per order):

    O1  Burger 12.00 + cheese 1.00 = 13.00; Fries 4.00 less 10 % = 3.60;
        order discount 1.00 shared 0.78 / 0.22: net 12.22 + 3.38 = 15.60;
        STATE 15.60 x 6.25 % = 0.975 -> 0.98; CITY 0.312 -> 0.31;
        total 16.89; card 16.89 + tip 3.00 = 19.89
    O2  Salad 10.00 + Coffee 3.00 = 13.00; STATE 0.8125 -> 0.81 (both);
        CITY 0.20 (salad); total 14.01; cash 5.00, debit 9.01 + tip 1.00
    O3  gift card 25.00 (liability); Cake 5.00, STATE 0.3125 -> 0.31,
        CITY 0.10; service 10 % of 5.00 = 0.50; total 30.91 cash
    O4  Pasta 15.00, STATE 0.9375 -> 0.94, CITY 0.30; total 16.24: gift
        card 10.00 + house account 6.24
    O5  Wine 20.00, STATE 1.25, CITY 0.40; total 21.65 card; R1 gives it
        all back (tax by rate 1.25 + 0.40)
    R2  refund of 1 November's O6: 8.00 + its 1.00 tip, to the card
    C1  manual refund 3.00 cash; O7 test mode (skipped)

    sales      15.60 + 13.00 + 5.00 + 15.00 + 20.00           = 68.60
    refunds    20.00 + 8.00 + 3.00                            = 31.00
    service    0.50;  tips 3.00 + 1.00 - 1.00                 =  3.00
    gift cards 25.00 sold - 10.00 redeemed                    = 15.00
    STATE      0.98 + 0.81 + 0.31 + 0.94 + 1.25 - 1.25        =  3.04
    CITY       0.31 + 0.20 + 0.10 + 0.30 + 0.40 - 0.40        =  0.91
    cash       5.00 + 30.91 - 3.00                            = 32.91
    card       19.89 + 10.01 + 21.65 - 21.65 - 9.00           = 20.90
    house      6.24

Clover publishes no deposits or fees: the card clearing account keeps its
20.90 until the merchant's deposit (net of the acquirer's fees) is matched
to it from the bank feed.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from django.contrib.staticfiles import finders
from django.utils import timezone

from commerce_sync.core.models import Connection, Incident
from commerce_sync.core.services.connections import connection_create
from commerce_sync.core.services.credentials import ConnectionTokenSource
from commerce_sync.core.services.demo import demo_configuration
from commerce_sync.core.services.merchants import sync_configuration_save
from commerce_sync.errors import (
    ConfigurationError,
    CredentialsRevoked,
    DataProcessingError,
    PlatformUnavailable,
)
from commerce_sync.syncs.runs import sync_run_execute
from connectors.clover import translate
from connectors.clover.adapter import CloverSource
from connectors.clover.client import CloverClient
from connectors.clover.oauth import clover_oauth_client
from connectors.context import CloverSettings
from connectors.models import RateLimitCall
from tests.api.codat_sync_schema import partner_api
from tests.connectors.test_sources_end_to_end import (
    DAY,
    FAR_FUTURE,
    LONG_AGO,
    seed,
    sync_and_check,
)
from tests.connectors.test_stripe import stripe_xero_configuration, xero_day_synced
from tests.connectors.test_xero import uk_books
from tests.doubles import clover_sdk
from tests.doubles.clover_double import (
    CLIENT_ID,
    CLIENT_SECRET,
    MERCHANT,
    ROOT,
    CloverDouble,
    line,
    ms,
    order,
    payment,
    realistic_day,
)
from tests.doubles.xero_double import XeroDouble
from tests.factories import MerchantFactory
from tests.setup_flow.helpers import start_path

D = Decimal
NEW_YORK = ZoneInfo("America/New_York")
START = datetime(2026, 11, 2, tzinfo=NEW_YORK)
END = datetime(2026, 11, 3, tzinfo=NEW_YORK)


class Tokens:
    """A `TokenSource` holding one valid token (no refresh)."""

    def __init__(self) -> None:
        self.token = "clover-at-fixed-0123"
        self.refreshed = 0

    def access_token(self) -> str:
        return self.token

    def refresh_now(self, *, rejected: str) -> str:
        self.refreshed += 1
        return self.token


def source(
    double: CloverDouble, sleeps: list[float] | None = None, page_size: int = 2
) -> CloverSource:
    double.grant("clover-at-fixed-0123", "clover-rt-fixed-0123")
    client = CloverClient(
        merchant_id=MERCHANT,
        base_url=double.url,
        tokens=Tokens(),
        page_size=page_size,
        sleep=(sleeps if sleeps is not None else []).append,
    )
    return CloverSource(client, currency="USD")


def sample(name: str) -> dict[str, Any]:
    return json.loads((clover_sdk.SAMPLES / name).read_text())


# -- the published material ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "total"), [("order_items_1.json", "15.45"), ("order_items_400.json", "7741.71")]
)
def test_clovers_real_orders_fit_its_data_classes_and_price_to_their_total(name, total):
    raw = sample(name)
    assert clover_sdk.problems("Order", raw, "order") == []
    (record,) = translate.sale_order(raw, MERCHANT)
    # The per-rate, once-per-order rounding reproduces Clover's own total
    # (1295 x 8.25 % + 1 % + 10 % = 106.84 + 12.95 + 129.5 -> 107 + 13 + 130).
    assert record["totalAmount"] == D(total)
    lines = record["orderLineItems"]
    assert sum(x["totalAmount"] for x in lines) == D(total)
    assert {t["taxComponentRef"]["name"] for t in lines[0]["taxes"]} == {"San Jose", "foo", "bar"}
    # Nobody paid these open orders yet: they wait for their payments.
    (unpaid,) = record["payments"]
    assert (unpaid["status"], unpaid["amount"]) == ("Pending", D(total))
    assert {c["id"]: c["rate"] for c in translate.tax_components([raw])}["W08ZT5GZSQT9J"] == D(
        "0.0825"
    )


def test_a_field_or_type_clover_does_not_define_breaks_the_contract():
    raw = sample("order_items_1.json")
    raw["totl"] = 1545
    raw["lineItems"]["elements"][0]["price"] = "12.95"
    raw["payType"] = "HALVES"
    raw["lineItems"]["elements"][0]["taxRates"]["elements"][0]["rate"] = True
    found = clover_sdk.problems("Order", raw, "order")
    assert sorted(found) == sorted(
        [
            "order.totl: not a field of Clover's Order",
            "order.payType: 'HALVES' is not one of Clover's PayType "
            "(['FULL', 'SPLIT_CUSTOM', 'SPLIT_GUEST', 'SPLIT_ITEM'])",
            "order.lineItems.elements[0].price: '12.95' is not a Long",
            "order.lineItems.elements[0].taxRates.elements[0].rate: True is not a Long",
        ]
    )


# -- translation ------------------------------------------------------------------


def test_tenders_results_and_cashback_translate_as_the_table_says():
    raw = order(
        "T1",
        "2026-11-02T13:00:00",
        1000,
        [line("A", "Thing", 1000, rates=())],
        [
            payment("V", "credit", 1000, result="VOIDED"),
            payment("X", "debit", 600),
            {**payment("Y", "debit", 400), "cashbackAmount": 2000},
        ],
    )
    (record,) = translate.sale_order(raw, MERCHANT)
    got = [(p["id"], p["type"], p["amount"], p["status"]) for p in record["payments"]]
    assert got == [
        ("V", "Card", D("10.00"), "Cancelled"),  # voided: warned, never posted
        ("X", "Card", D("6.00"), "Paid"),
        ("Y", "Card", D("24.00"), "Paid"),  # 4.00 + 20.00 cash back on the card
        ("Y-cashback", "Cash", D("-20.00"), "Paid"),  # handed out of the till
    ]
    assert (
        translate.tender_type({"labelKey": "com.clover.tender.external_gift_card"}, "p")
        == "Prepaid"
    )
    assert translate.tender_type({"label": "Voucher"}, "p") == "Custom"
    assert translate.sale_order({**raw, "testMode": True}, MERCHANT) == []


def test_a_vat_order_carries_its_tax_inside_its_prices():
    vat = {"id": "VAT20", "name": "VAT 20%", "rate": 2000000}
    raw = order(
        "V1",
        "2026-11-02T13:00:00",
        1800,
        [line("VA", "Lunch", 1200, rates=(vat,)), line("VB", "Juice", 600, rates=(vat,))],
        [payment("VP", "credit", 1800)],
        isVat=True,
    )
    (record,) = translate.sale_order(raw, MERCHANT)
    # 1800 gross x 20 / 120 = 300 of VAT, shared 200 / 100; totals stay the prices.
    got = [(x["totalAmount"], x["totalTaxAmount"]) for x in record["orderLineItems"]]
    assert got == [(D("12.00"), D("2.00")), (D("6.00"), D("1.00"))]
    assert record["totalTaxAmount"] == D("3.00") and record["totalAmount"] == D("18.00")


def test_records_that_do_not_fit_are_reported_by_id_never_dropped():
    day = realistic_day()
    bad_total = copy.deepcopy(day["orders"][0]) | {"total": 1690}
    bad_tender = copy.deepcopy(day["orders"][1])
    bad_tender["payments"]["elements"][0]["tender"]["labelKey"] = "com.clover.tender.bitcoin"
    flat = order(
        "F1",
        "2026-11-02T13:00:00",
        100,
        [line("FL", "Bag", 100, rates=({"id": "BAG", "rate": 0, "taxAmount": 5},))],
        [],
    )
    cents_as_text = order("S1", "2026-11-02T13:00:00", 100, [line("SL", "Tea", 100, rates=())], [])
    cents_as_text["lineItems"]["elements"][0]["price"] = "1.00"
    orphan = {**day["refunds"][1], "id": "R9", "orderRef": {"id": "NOPE"}}
    result = translate.translate_period(
        orders=[bad_total, bad_tender, flat, cents_as_text, day["orders"][4]],
        refunds=[orphan],
        currency="USD",
        location_id=MERCHANT,
    )
    assert [o["id"] for o in result.orders] == ["O5"]
    assert result.problems == [
        "order O1: its lines, discounts, taxes and service charge come to 16.89 but Clover's "
        "total is 16.90",
        "order O2: payment P21 has tender 'com.clover.tender.bitcoin', which has no canonical "
        "payment type",
        "order F1: line FL has the flat tax BAG; flat taxes are not read yet",
        "order S1: line SL price '1.00' is not an integer number of cents",
        "refund R9: its order NOPE was not found",
    ]


# -- the client against the strict double -------------------------------------------


def test_the_day_is_read_page_by_page_with_filters_and_expansions():
    with CloverDouble() as double:
        batch = source(double).read_period(start=START, end=END)
        assert double.violations == []
    assert [o["id"] for o in batch.orders] == [
        "O1", "O2", "O3", "O4", "O5", "refund-R1", "refund-R2", "credit-C1",
    ]  # fmt: skip
    orders = [q for path, q in double.requests if path == f"{ROOT}/orders"]
    start_ms, end_ms = int(START.timestamp() * 1000), int(END.timestamp() * 1000)
    assert orders[0]["filter"] == [f"createdTime>={start_ms}", f"createdTime<{end_ms}"]
    assert [q["offset"] for q in orders] == [
        ["0"], ["2"], ["4"], ["6"],  # created: 6 orders (O7 too), 2 a page, to a short page
        ["0"], ["2"], ["4"], ["6"],  # modified in the day: the same
    ]  # fmt: skip
    assert "payments.tender" in orders[0]["expand"][0].split(",")
    # O6 (1 November) is read by id, for the tender of the payment R2 refunds.
    assert (f"{ROOT}/orders/O6", {"expand": ["payments.tender"]}) in double.requests
    # Sold 68.60 + service 0.50 + taxes 4.29 + 1.31 + gift card 25.00, less R1
    # 21.65, R2 8.00 (its tip is gratuity, outside the total) and C1 3.00.
    assert sum(o["totalAmount"] for o in batch.orders) == D("67.05")
    assert batch.api_calls == len(double.requests)


def test_an_order_with_more_lines_than_clover_inlines_has_them_paged():
    lines = [line(f"L{i:03}", "Taco", 100, rates=()) for i in range(150)]
    big = order("BIG", "2026-11-02T13:00:00", 15000, lines, [payment("PB", "cash", 15000)])
    with CloverDouble({"orders": [big], "refunds": [], "credits": []}) as double:
        batch = source(double, page_size=100).read_period(start=START, end=END)
        assert double.violations == []
    assert len(batch.orders[0]["orderLineItems"]) == 150
    paged = [q["offset"] for path, q in double.requests if path.endswith("/BIG/line_items")]
    assert paged == [["0"], ["100"], ["0"], ["100"]]  # once per read of the order


def test_429s_are_waited_out_and_a_request_clover_would_refuse_fails():
    sleeps: list[float] = []
    with CloverDouble() as double:
        double.faults = [(429, {"retry-after": "2"}), (503, {})]
        assert len(source(double, sleeps).read_period(start=START, end=END).orders) == 8
        assert sleeps[0] == 2.0 and len(sleeps) == 2
        client = source(double).client
        with pytest.raises(DataProcessingError, match="400"):
            client.get(f"{ROOT}/orders", [("filter", "updatedAt>=1"), ("limit", 5000)])
        with pytest.raises(DataProcessingError, match="400"):
            client.get(f"{ROOT}/orders", [("expand", "lineItems.colour")])
        found = double.harness.take()
    assert len(found) == 3
    assert "filter field 'updatedAt' is not a field of Clover's Order" in found[0]
    assert "limit='5000' is outside 1..1000" in found[1]
    assert "expand 'lineItems.colour' names no related objects" in found[2]


def test_an_older_order_edited_in_the_day_is_read_again():
    day = realistic_day()
    edited = order("OLD", "2026-11-01T15:00:00", 500, [line("LO", "Soup", 500, rates=())], [])
    edited["modifiedTime"] = ms("2026-11-02T12:00:00")  # paid today: an edit
    edited["payments"]["elements"] = [payment("PO", "cash", 500)]
    later = order("NEXT", "2026-11-03T06:00:00", 100, [line("LN", "Tea", 100, rates=())], [])
    with CloverDouble({**day, "orders": [*day["orders"], edited, later]}) as double:
        batch = source(double).read_period(start=START, end=END)
        assert double.violations == []
    ids = [o["id"] for o in batch.orders]
    assert "OLD" in ids and "NEXT" not in ids
    (old,) = [o for o in batch.orders if o["id"] == "OLD"]
    assert old["createdDate"] == "2026-11-01T15:00:00+00:00"  # the sync posts it as an edit


def test_malformed_answers_stop_the_read_by_name():
    with CloverDouble() as double:
        double.malformed = [b"<html>busy</html>"]
        with pytest.raises(DataProcessingError, match="invalid JSON"):
            source(double).read_period(start=START, end=END)
        double.malformed = [b'{"elements": "none"}']
        with pytest.raises(DataProcessingError, match="without a list of elements"):
            source(double).read_period(start=START, end=END)
        found = double.harness.take()
    assert len(found) == 2 and "not JSON" in found[0] and "elements" in found[1]


def test_clover_settings_need_a_known_region():
    assert CloverSettings.from_json({"merchant_id": MERCHANT, "region": "eu"}).region == "eu"
    with pytest.raises(ConfigurationError, match="eu, la, na, sandbox"):
        CloverSettings.from_json({"region": "apac"})
    with pytest.raises(ConfigurationError, match="merchant id"):
        CloverSettings.from_json({"merchant_id": "../x"})


# -- OAuth: expiring tokens, single-use refresh tokens, regions ---------------------


def clover_hosts(settings: Any, double: CloverDouble, region: str = "eu") -> None:
    settings.CLOVER_API_URLS = {region: double.url}
    settings.CLOVER_WEB_URLS = {region: double.url}
    settings.CLOVER_CLIENT_ID = CLIENT_ID
    settings.CLOVER_CLIENT_SECRET = CLIENT_SECRET


def test_token_lifetimes_are_read_from_each_answer(settings):
    with CloverDouble() as double:
        clover_hosts(settings, double)
        double.grant("clover-at-old-0123", "clover-rt-old-0123")
        double.access_lifetime = 97
        before = timezone.now()
        tokens = clover_oauth_client("eu").refresh("clover-rt-old-0123")
        assert (
            before + timedelta(seconds=95)
            <= tokens.expires_at
            <= timezone.now() + timedelta(seconds=98)
        )
        # Single use: the same refresh token again is refused.
        with pytest.raises(CredentialsRevoked):
            clover_oauth_client("eu").refresh("clover-rt-old-0123")
        assert double.token_calls == ["refresh", "refresh"]


@pytest.mark.django_db
def test_two_workers_refresh_a_connection_once(settings, merchant):
    with CloverDouble() as double:
        clover_hosts(settings, double)
        double.grant("clover-at-old-0123", "clover-rt-old-0123")
        row = connection_create(
            merchant=merchant,
            platform_key="clover",
            source_type="commerce",
            credentials=stored("clover-at-old-0123", "clover-rt-old-0123", LONG_AGO),
            settings={"merchant_id": MERCHANT, "region": "eu"},
            status=Connection.Status.LINKED,
        )
        # Two workers loaded the connection with the expired token.
        first = ConnectionTokenSource(Connection.objects.get(pk=row.pk), clover_oauth_client("eu"))
        second = ConnectionTokenSource(Connection.objects.get(pk=row.pk), clover_oauth_client("eu"))
        assert first.access_token() == "clover-at-1-0123"
        assert second.access_token() == "clover-at-1-0123"  # found under the lock, not refreshed
        assert double.token_calls == ["refresh"] and double.spent == {"clover-rt-old-0123"}
    row.refresh_from_db()
    assert row.credentials["refresh_token"] == "clover-rt-1-0123"


@pytest.mark.django_db
def test_a_merchant_chooses_its_region_and_connects_clover(
    client, partner, raw_credentials, settings
):
    merchant = MerchantFactory(partner=partner)
    clover = connection_create(merchant=merchant, platform_key="clover", source_type="commerce")
    connection_create(merchant=merchant, platform_key="beancount", source_type="accounting")
    with CloverDouble() as double:
        clover_hosts(settings, double, region="la")
        client.get(start_path(merchant))
        page = client.get("/setup/stage/commerce").content.decode()
        assert f"/setup/clover-region/{clover.pk}" in page and 'value="la"' in page
        assert client.get(f"/setup/connect/{clover.pk}").status_code == 302  # region first
        refused = client.post(f"/setup/clover-region/{clover.pk}", {"region": "mars"})
        assert refused["Location"] == "/setup/stage/commerce"
        assert (
            "choose the region your Clover account is in"
            in client.get(refused["Location"]).content.decode()
        )
        chosen = client.post(f"/setup/clover-region/{clover.pk}", {"region": "la"})
        assert chosen["Location"] == "/setup/stage/commerce"  # CSP: no form posts off-site
        assert f"/setup/connect/{clover.pk}" in client.get(chosen["Location"]).content.decode()
        response = client.get(f"/setup/connect/{clover.pk}")
        asked = {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}
        assert response["Location"].startswith(f"{double.url}/oauth/v2/authorize?")
        assert asked["client_id"] == CLIENT_ID and set(asked) == {
            "client_id", "redirect_uri", "response_type", "state",
        }  # fmt: skip
        back = requests.get(response["Location"], allow_redirects=False, timeout=5)
        callback = urlsplit(back.headers["Location"])
        done = client.get(f"{callback.path}?{callback.query}")
        assert done.status_code == 302 and done["Location"] == "/setup/stage/commerce"
        assert double.token_calls == ["token"]
    clover.refresh_from_db()
    assert clover.status == Connection.Status.LINKED
    assert clover.settings == {"region": "la", "merchant_id": MERCHANT}
    assert clover.credentials["refresh_token"] == "clover-rt-1-0123"
    assert "clover-rt-1-0123" not in raw_credentials(clover.pk)


@pytest.fixture
def api(client: Any, partner: Any) -> Any:
    return partner_api(client, partner)


def test_clover_is_listed_with_its_branding_and_takes_a_token_pair(api: Any, merchant: Any) -> None:
    (listed,) = api("get", "/config/integrations?query=key%3Dclover").json()["results"]
    assert (listed["name"], listed["sourceType"]) == ("Clover", "Commerce")
    assert finders.find("integrations/clover.svg") and finders.find(
        "integrations/clover-square.svg"
    )
    created = api(
        "post",
        f"/companies/{merchant.pk}/connections",
        {"platformKey": "clover"},
    )
    where = f"/companies/{merchant.pk}/connections/{created.json()['id']}/authorization"
    refused = api("put", where, {"api_key": "x"})
    assert refused.status_code == 400
    tokens = {"access_token": "clover-a-0123", "refresh_token": "clover-r-0123"}
    # The partner's tokens belong to one merchant in one region: both required.
    nowhere = api("put", where, tokens)
    assert {e["itemId"] for e in nowhere.json()["validation"]["errors"]} == {
        "merchant_id",
        "region",
    }
    wrong = api("put", where, {**tokens, "merchant_id": MERCHANT, "region": "apac"})
    assert "apac" in wrong.json()["validation"]["errors"][0]["message"]
    linked = api("put", where, {**tokens, "merchant_id": MERCHANT, "region": "eu"})
    assert linked.json()["status"] == "Linked"
    row = Connection.objects.get(pk=created.json()["id"])
    assert row.settings == {"merchant_id": MERCHANT, "region": "eu"}
    assert set(row.credentials) == {"access_token", "refresh_token"}


# -- end to end ----------------------------------------------------------------------

CLOVER_ACCOUNTS = (
    ("Liabilities:Tax:State", "State sales tax", "Liability"),
    ("Liabilities:Tax:City", "City sales tax", "Liability"),
    ("Assets:Receivable:House", "House accounts", "Asset"),
)
CLOVER_SALES = {"tax-STATE": "Liabilities:Tax:State", "tax-CITY": "Liabilities:Tax:City"}
CLOVER_EXPECTED = {
    "Income:Sales:Other": D("-68.60"),
    "Income:Sales:Refunds": D("31.00"),
    "Income:Sales:Delivery": D("-0.50"),  # the service charge
    "Liabilities:Tips": D("-3.00"),
    "Liabilities:GiftCards": D("-15.00"),
    "Liabilities:Tax:State": D("-3.04"),
    "Liabilities:Tax:City": D("-0.91"),
    "Assets:Cash:Till": D("32.91"),
    "Assets:Clearing:Card": D("20.90"),
    "Assets:Receivable:House": D("6.24"),
}


def stored(access: str, refresh: str, expires_at: str) -> dict[str, str]:
    """The credentials a Clover connection keeps for a token pair, the
    access token expiring at `expires_at` (ISO 8601)."""
    return {"access_token": access, "refresh_token": refresh, "expires_at": expires_at}


def clover_seed(
    settings: Any,
    tmp_path: Any,
    double: CloverDouble,
    *,
    access: str,
    refresh: str,
    expires_at: str,
) -> Any:
    """A merchant syncing a Clover day into a Beancount ledger: `double`
    grants `access` and `refresh`, which the connection holds (the access
    token expiring at `expires_at`, ISO 8601)."""
    double.grant(access, refresh)
    clover_hosts(settings, double, region="na")
    seeded = seed(
        settings,
        tmp_path,
        platform_key="clover",
        connection_settings={"merchant_id": MERCHANT, "region": "na"},
        credentials=stored(access, refresh, expires_at),
        currency="USD",
        time_zone="America/New_York",
        country="US",
        accounts=CLOVER_ACCOUNTS,
        sales=CLOVER_SALES,
    )
    document = demo_configuration()
    document["countryCode"] = "US"
    document["sales"]["accounts"] |= {k: {"selectedAccountId": v} for k, v in CLOVER_SALES.items()}
    document["payments"]["accounts"]["custom"] = {"selectedAccountId": "Assets:Receivable:House"}
    sync_configuration_save(
        merchant=seeded.merchant,
        document=document,
        start_date=DAY,
        sync_hour=0,
        time_zone="America/New_York",
        actor="system",
    )
    return seeded


@pytest.mark.filterwarnings("ignore:Unsupported scheme type")
@pytest.mark.django_db
def test_a_clover_day_syncs_into_the_ledger_once_refreshing_its_token(settings, tmp_path):
    with CloverDouble() as double:
        seeded = clover_seed(
            settings,
            tmp_path,
            double,
            access="clover-at-expired-0123",
            refresh="clover-rt-stored-0123",
            expires_at=LONG_AGO,
        )
        run = sync_and_check(seeded, CLOVER_EXPECTED)
        assert double.violations == []
        assert double.token_calls == ["refresh"]  # once, before reading; never again
        # Every call took a slot of the merchant's token limit and of the app's.
        token_slots = RateLimitCall.objects.filter(key=f"clover:token:{MERCHANT}").count()
        assert token_slots == len(double.requests) > 0
        assert RateLimitCall.objects.filter(key="clover:app").count() == token_slots
        assert not RateLimitCall.objects.filter(finished_at__isnull=True).exists()  # released
    assert run.counters["records_read"] == {"orders": 8, "transactions": 0}
    seeded.commerce.refresh_from_db()
    assert seeded.commerce.credentials["refresh_token"] == "clover-rt-1-0123"


@pytest.mark.django_db
def test_an_uninstalled_app_deauthorises_the_connection_with_an_alert(settings, tmp_path):
    with CloverDouble() as double:
        seeded = clover_seed(
            settings,
            tmp_path,
            double,
            access="clover-at-0123",
            refresh="clover-rt-0123",
            expires_at=FAR_FUTURE,
        )
        double.revoke()
        run = sync_run_execute(merchant=seeded.merchant, now=seeded.now)
        assert double.token_calls == ["refresh"]  # the 401 tried one refresh, refused
    assert run is not None and run.status_code == 4040
    seeded.commerce.refresh_from_db()
    assert seeded.commerce.status == Connection.Status.DEAUTHORIZED
    incident = Incident.objects.get(merchant=seeded.merchant, kind="connection_deauthorized")
    assert "clover" in incident.message and "clover-at-0123" not in incident.message
    assert incident.alerted_at is not None


@pytest.mark.filterwarnings("ignore:Unsupported scheme type")
@pytest.mark.django_db
def test_a_clover_day_syncs_into_xero_once(partner: Any, settings: Any) -> None:
    books = uk_books()
    books.base_currency = "USD"
    configuration = stripe_xero_configuration()
    configuration["countryCode"] = "US"
    configuration["mapSettings"] = {"outputFormat": "JournalEntry"}
    accounts = configuration["sales"]["accounts"]
    accounts["gratuity"] = {"selectedAccountId": "2150"}
    accounts["prepaid"] = {"selectedAccountId": "2300"}
    accounts["serviceCharge"] = {"selectedAccountId": "4010"}
    configuration["payments"]["accounts"] |= {
        "cash": {"selectedAccountId": "1000"},
        "prepaidPayment": {"selectedAccountId": "2300"},
        "custom": {"selectedAccountId": "1000"},
    }
    with CloverDouble() as clover, XeroDouble(books) as xero:
        clover_hosts(settings, clover, region="na")
        clover.grant("clover-at-0123", "clover-rt-0123")
        settings.XERO_API_URL = xero.api_url
        settings.XERO_IDENTITY_URL = xero.url
        xero_day_synced(
            partner,
            xero,
            platform_key="clover",
            credentials=stored("clover-at-0123", "clover-rt-0123", FAR_FUTURE),
            connection_settings={"merchant_id": MERCHANT, "region": "na"},
            configuration=configuration,
            expected={
                "4000": "-37.60",  # 68.60 sold - 31.00 refunded
                "4010": "-0.50",  # the service charge
                "2200": "-3.95",  # STATE 3.04 + CITY 0.91
                "2150": "-3.00",  # tips owed
                "2300": "-15.00",  # gift cards outstanding
                "1000": "39.15",  # cash 32.91 and the house account 6.24
                "1100": "20.90",
            },
            now=datetime(2026, 11, 10, 9, tzinfo=NEW_YORK),
            currency="USD",
            time_zone="America/New_York",
            country="US",
        )
        assert clover.violations == []


def test_a_source_without_its_region_says_so(settings):
    from connectors.clover.adapter import clover_source_build
    from connectors.context import ConnectorContext

    context = ConnectorContext(
        connection_id="c",
        platform_key="clover",
        merchant_id=uuid.uuid4(),
        merchant_name="Diner",
        currency="USD",
        time_zone="America/New_York",
        country="US",
        settings=CloverSettings(merchant_id=MERCHANT),
        credentials={},
        token_source=lambda oauth: Tokens(),
    )
    with pytest.raises(ConfigurationError, match="no region"):
        clover_source_build(context)
    with pytest.raises(PlatformUnavailable):
        clover_oauth_client("na")._tokens({"access_token": "a", "refresh_token": "r"})
