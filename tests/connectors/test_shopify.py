"""Shopify connector: schema-checked queries, paging, cost throttling, token
refresh, and a realistic Quebec day translated and mapped by hand."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from graphql import parse, validate

from commerce_sync.errors import CredentialsRevoked, DataProcessingError
from connectors.shopify import queries
from connectors.shopify.adapter import ShopifySource
from connectors.shopify.client import ShopifyClient
from connectors.shopify.oauth import (
    callback_is_authentic,
    shop_domain,
    shopify_oauth_client,
    token_url,
)
from connectors.shopify.translate import translate
from mapping.parsing import parse_commerce
from mapping.preview import preview
from tests.doubles.shopify_double import (
    SHOP,
    TOKEN,
    ShopifyDouble,
    admin_schema,
    check_request,
    realistic_day,
)
from tests.mapping.books import movements

TZ = ZoneInfo("America/Toronto")
START = datetime(2026, 11, 2, tzinfo=TZ)
END = datetime(2026, 11, 3, tzinfo=TZ)
D = Decimal


class FakeTokens:
    def __init__(self, token: str = TOKEN, fresh: str = TOKEN) -> None:
        self.token, self.fresh, self.refreshed = token, fresh, 0

    def access_token(self) -> str:
        return self.token

    def refresh_now(self, *, rejected: str) -> str:
        self.refreshed += 1
        self.token = self.fresh
        return self.token


class Clock:
    """Recorded sleeps instead of real ones; time moves only when slept."""

    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def source(double: ShopifyDouble, tokens: FakeTokens, clock: Clock) -> ShopifySource:
    client = ShopifyClient(api_url=double.url, tokens=tokens, sleep=clock.sleep, clock=clock)
    return ShopifySource(client=client)


@pytest.mark.parametrize("name", sorted(queries.ALL))
def test_every_query_validates_against_the_admin_schema(name: str) -> None:
    assert validate(admin_schema(), parse(queries.ALL[name])) == []


def test_the_double_refuses_invalid_documents_and_variables() -> None:
    assert check_request("query { orders(first: 1) { nodes { noSuchField } } }", {})
    assert check_request(queries.PAYOUTS, {"first": "ten", "query": "x"})


def test_read_period_pages_to_the_end_with_valid_requests() -> None:
    clock = Clock()
    with ShopifyDouble(realistic_day(), page_size=2) as double:
        batch = source(double, FakeTokens(), clock).read_period(start=START, end=END)
    assert double.schema_errors == []
    cursors = [r["variables"]["after"] for r in double.requests if "ShopifyOrders" in r["query"]]
    assert cursors == [None, "2"]  # 4 orders, 2 a page
    assert batch.api_calls == len(double.requests) == 2 + 2 + 1
    assert {o["id"] for o in batch.orders} == {
        "gid://shopify/Order/1001",
        "gid://shopify/Order/1002",
        "gid://shopify/Order/1003",
        "gid://shopify/Refund/77",  # order 990 itself was created before the period
    }
    filters = [r["variables"]["query"] for r in double.requests]
    assert filters[0] == "updated_at:>='2026-11-02T05:00:00Z'"
    assert "processed_at:<'2026-11-03T05:00:00Z'" in filters[2]


def test_throttled_then_success_waits_for_the_missing_points() -> None:
    clock = Clock()
    with ShopifyDouble(realistic_day(), page_size=10) as double:
        double.available, double.requested_cost, double.restore_rate = 1000.0, 100.0, 50.0
        client = ShopifyClient(
            api_url=double.url, tokens=FakeTokens(), sleep=clock.sleep, clock=clock
        )
        client.query(queries.PAYOUTS, {"first": 10, "query": "x"})  # learns cost 100
        double.available = 20.0  # another app drained the bucket
        double.throttle_next = 1
        client._bucket.available = 1000.0  # type: ignore[union-attr] # we still believe it is full
        data = client.query(queries.PAYOUTS, {"first": 10, "query": "x"})
    assert data["shopifyPaymentsAccount"]["payouts"]["nodes"]
    assert clock.sleeps == [pytest.approx((100 - 20) / 50)]


def test_waits_before_a_query_the_budget_cannot_cover() -> None:
    clock = Clock()
    with ShopifyDouble(realistic_day(), page_size=10) as double:
        double.available, double.requested_cost, double.restore_rate = 130.0, 100.0, 50.0
        client = ShopifyClient(
            api_url=double.url, tokens=FakeTokens(), sleep=clock.sleep, clock=clock
        )
        client.query(queries.PAYOUTS, {"first": 10, "query": "x"})  # leaves 30
        client.query(queries.PAYOUTS, {"first": 10, "query": "x"})
    assert clock.sleeps == [pytest.approx((100 - 30) / 50)]


def test_401_refreshes_once_then_gives_up() -> None:
    clock = Clock()
    with ShopifyDouble(realistic_day()) as double:
        tokens = FakeTokens(token="expired", fresh=TOKEN)
        source(double, tokens, clock).read_period(start=START, end=END)
        assert tokens.refreshed == 1
        revoked = FakeTokens(token="expired", fresh="still-bad")
        with pytest.raises(CredentialsRevoked):
            source(double, revoked, clock).read_period(start=START, end=END)
        assert revoked.refreshed == 1


def test_unreachable_shop_is_platform_unavailable_after_backoff() -> None:
    from commerce_sync.errors import PlatformUnavailable

    clock = Clock()
    client = ShopifyClient(
        api_url="http://127.0.0.1:9/x", tokens=FakeTokens(), sleep=clock.sleep, clock=clock
    )
    with pytest.raises(PlatformUnavailable):
        client.query(queries.PAYOUTS, {"first": 1, "query": "x"})
    assert clock.sleeps == [1.0, 2.0, 4.0]


def _translated() -> dict:
    day = json.loads(json.dumps(realistic_day()), parse_float=D)  # as the client reads it
    result = translate(
        orders=day["orders"],
        balance_transactions=day["balanceTransactions"],
        payouts=day["payouts"],
        start=START,
        end=END,
    )
    assert result.problems == []
    return {
        "orders": {o["id"]: o for o in result.orders},
        "transactions": result.transactions,
        "result": result,
    }


def test_translation_of_the_day_matches_hand_worked_values() -> None:
    out = _translated()
    online = out["orders"]["gid://shopify/Order/1001"]
    beans, mug = online["orderLineItems"]
    # 2 x 20.00 less 4.00 WELCOME10 = 36.00 net, + GST 1.80 + QST 3.59.
    assert beans["totalAmount"] == D("41.39") and beans["totalTaxAmount"] == D("5.39")
    assert beans["discountAllocations"] == [{"name": "WELCOME10", "totalAmount": D("4.00")}]
    assert [t["rate"] for t in beans["taxes"]] == [D("1.80"), D("3.59")]
    assert beans["taxPercentage"] == D("14.975")
    assert mug["totalAmount"] == D("17.25")
    (shipping,) = online["serviceCharges"]
    assert shipping["type"] == "Shipping" and shipping["totalAmount"] == D("11.50")
    assert online["totalAmount"] == D("70.14") and online["totalTaxAmount"] == D("9.14")
    # The authorization moves no money; the capture and the gift card pay.
    assert [(p["type"], p["amount"]) for p in online["payments"]] == [
        ("OnlineCard", D("50.14")),
        ("Prepaid", D("20.00")),
    ]
    till = out["orders"]["gid://shopify/Order/1002"]
    assert till["totalAmount"] == D("36.50") and till["totalGratuity"] == D("2.00")
    assert till["locationRef"] == {"id": "gid://shopify/Location/11"}
    assert [(p["type"], p["amount"]) for p in till["payments"]] == [("Card", D("38.50"))]
    cash = out["orders"]["gid://shopify/Order/1003"]
    assert [(p["type"], p["amount"]) for p in cash["payments"]] == [
        ("Cash", D("5.00")),
        ("Cash", D("-1.55")),
    ]
    refund = out["orders"]["gid://shopify/Refund/77"]
    (line,) = refund["orderLineItems"]
    assert line["quantity"] == -1 and line["totalAmount"] == D("-17.25")
    assert [t["rate"] for t in line["taxes"]] == [D("-0.75"), D("-1.50")]
    assert [(p["type"], p["amount"]) for p in refund["payments"]] == [("OnlineCard", D("-17.25"))]
    assert [(t["type"], t["totalAmount"]) for t in out["transactions"]] == [
        ("Payout", D("-120.00")),
        ("Payout", D("-30.00")),
        ("FailedPayout", D("30.00")),
        ("PaymentFee", D("-1.75")),
        ("PaymentFee", D("-1.10")),
        ("PaymentFeeRefund", D("0.50")),
    ]
    fee = out["transactions"][3]
    assert fee["transactionSourceRef"]["id"] == "gid://shopify/OrderTransaction/1001"
    products = out["result"].products
    assert products["gid://shopify/Product/504"]["isGiftCard"] is True


CONFIGURATION = {
    "countryCode": "CA",
    "sales": {
        "syncSales": True,
        "accounts": {
            "sales": {"selectedAccountId": "4000"},
            "refund": {"selectedAccountId": "4000"},
            "gratuity": {"selectedAccountId": "2150"},
            "prepaid": {"selectedAccountId": "2300"},
            "serviceCharge": {"selectedAccountId": "4010"},
            "tax": {"selectedAccountId": "2200"},
            "tax-gst-5": {"selectedAccountId": "2201"},
            "tax-qst-9.975": {"selectedAccountId": "2202"},
        },
        "grouping": {"groupingPeriod": {"selectedGroupingPeriod": "Daily"}},
    },
    "payments": {
        "syncPayments": True,
        "accounts": {
            "card": {"selectedAccountId": "1100"},
            "cash": {"selectedAccountId": "1000"},
            "onlineCard": {"selectedAccountId": "1110"},
            "prepaidPayment": {"selectedAccountId": "2300"},
            "payout": {"selectedAccountId": "1200"},
        },
    },
    "fees": {
        "syncFees": True,
        "feesSupplier": {"selectedSupplierId": "SUPP-SHOPIFY"},
        "accounts": {
            "paymentFee": {"selectedAccountId": "6100"},
            "paymentFeeRefund": {"selectedAccountId": "6100"},
        },
    },
    "mapSettings": {"outputFormat": "JournalEntry"},
}


def test_translated_day_parses_and_maps_to_hand_computed_balances() -> None:
    clock = Clock()
    with ShopifyDouble(realistic_day()) as double:
        batch = source(double, FakeTokens(), clock).read_period(start=START, end=END)
    commerce = batch.as_commerce()
    parse_commerce(commerce, TZ)
    scenario = {
        "timeZone": "America/Toronto",
        "currency": "CAD",
        "schedule": {"syncHour": 0, "timeZone": "America/Toronto", "startDate": "2026-11-01"},
        "period": {"start": "2026-11-02", "end": "2026-11-03"},
        "commerce": commerce,
        "configuration": CONFIGURATION,
    }
    result = preview(scenario)
    assert result.errors == []
    documents = result.as_json()["documents"]
    for doc in documents:
        if doc["type"] == "journalEntry":
            assert sum(D(line["netAmount"]) for line in doc["journalLines"]) == 0
    moved = {k: v for k, v in movements(documents).items() if v}
    assert moved == {
        "4000": D("-49.00"),  # 36 + 15 + 10 + 3 net sales, less the 15 mug refunded
        "4010": D("-10.00"),  # shipping, net
        "2150": D("-2.00"),  # tip
        "2300": D("-5.00"),  # gift card sold 25, redeemed 20
        "2201": D("-2.95"),  # GST 3.05 + 0.50 + 0.15 - 0.75
        "2202": D("-5.89"),  # QST 6.09 + 1.00 + 0.30 - 1.50
        "1110": D("31.64"),  # online 50.14 - 17.25 refund - 1.75 fee + 0.50 fee back
        "1100": D("-82.60"),  # till 38.50 - 1.10 fee - 120 paid out (30 failed, came back)
        "1000": D("3.45"),  # 5.00 tendered, 1.55 change
        "1200": D("120.00"),  # bank
        "6100": D("2.35"),  # fees 1.75 + 1.10 - 0.50
    }


def test_unknown_gateway_and_missing_currency_are_reported_by_id() -> None:
    day = realistic_day()
    day["orders"][0]["transactions"][2]["gateway"] = "barter_tokens"
    day["orders"][2]["currencyCode"] = None
    result = translate(orders=day["orders"], start=START, end=END)
    assert any(
        "gid://shopify/Order/1001" in p
        and "gid://shopify/OrderTransaction/1002" in p
        and "barter_tokens" in p
        for p in result.problems
    )
    assert any("gid://shopify/Order/1003" in p and "currency" in p for p in result.problems)
    # Through the double, the unknown gateway only: Order.currencyCode is
    # non-null in the schema, so Shopify never answers a null one (the
    # double's answer check refuses it).
    day["orders"][2]["currencyCode"] = "CAD"
    clock = Clock()
    with (
        ShopifyDouble(day) as double,
        pytest.raises(DataProcessingError, match="barter_tokens"),
    ):
        source(double, FakeTokens(), clock).read_period(start=START, end=END)


def test_truncated_line_items_are_reported_not_read_short() -> None:
    day = realistic_day()
    day["orders"][1]["lineItems"]["pageInfo"]["hasNextPage"] = True
    result = translate(orders=day["orders"], start=START, end=END)
    assert result.problems == [
        "order gid://shopify/Order/1002: Shopify returned only part of its lineItems"
    ]


def test_shop_domains_and_callback_signatures() -> None:
    assert shop_domain("https://Demo-Cafe.myshopify.com/") == SHOP
    for bad in ("evil.com", "127.0.0.1", "a.myshopify.com.evil.com"):
        with pytest.raises(Exception, match="myshopify"):
            shop_domain(bad)
    import hashlib
    import hmac

    params = {"code": "abc", "shop": SHOP, "state": "s1", "timestamp": "1"}
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    signed = params | {"hmac": hmac.new(b"secret", message.encode(), hashlib.sha256).hexdigest()}
    assert callback_is_authentic(signed, "secret")
    assert not callback_is_authentic(signed | {"code": "other"}, "secret")


def test_token_url_follows_the_setting(settings) -> None:
    del settings.SHOPIFY_TOKEN_URL_TEMPLATE
    assert token_url("Demo-Cafe.myshopify.com") == f"https://{SHOP}/admin/oauth/access_token"
    settings.SHOPIFY_TOKEN_URL_TEMPLATE = "http://127.0.0.1:9/{shop}/token"
    assert token_url(SHOP) == f"http://127.0.0.1:9/{SHOP}/token"
    assert shopify_oauth_client(SHOP).platform.token_url == f"http://127.0.0.1:9/{SHOP}/token"
    with pytest.raises(Exception, match="myshopify"):
        token_url("evil.com")


def test_refresh_rotates_both_tokens_and_a_spent_one_is_refused(settings) -> None:
    with ShopifyDouble(realistic_day()) as double:
        settings.SHOPIFY_TOKEN_URL_TEMPLATE = double.token_url_template
        settings.SHOPIFY_CLIENT_ID = double.client_id
        settings.SHOPIFY_CLIENT_SECRET = double.client_secret
        oauth = shopify_oauth_client(SHOP)
        first = double.refresh_token
        tokens = oauth.refresh(first)
        assert double.tokens == {tokens.access_token} and TOKEN not in double.tokens
        assert tokens.refresh_token == double.refresh_token != first
        (form,) = double.token_requests
        assert form == {
            "client_id": [double.client_id],
            "client_secret": [double.client_secret],
            "grant_type": ["refresh_token"],
            "refresh_token": [first],
        }
        with pytest.raises(CredentialsRevoked, match="invalid_grant") as spent:
            oauth.refresh(first)  # rotated away by the first refresh
        assert first not in spent.value.message
        settings.SHOPIFY_CLIENT_SECRET = "wrong"
        with pytest.raises(CredentialsRevoked, match="invalid_client"):
            shopify_oauth_client(SHOP).refresh(tokens.refresh_token)


def test_an_undeclared_variable_or_body_field_is_refused_before_the_double_answers() -> None:
    import requests

    from tests.doubles.shopify_double import TOKEN

    with ShopifyDouble(realistic_day()) as double:
        body = {
            "query": queries.PAYOUTS,
            "variables": {"first": 10, "query": "x", "sortKey": "ID"},
            "operation": "ShopifyPayouts",
        }
        answer = requests.post(
            double.url, json=body, headers={"X-Shopify-Access-Token": TOKEN}, timeout=30
        ).json()
        found = double.harness.take()
    assert "data" not in answer and answer["errors"]
    assert double.requests == []  # refused before the double's own code ran
    assert any("variables.sortKey: not declared" in v for v in found), found
    assert any("body.operation: not a field" in v for v in found), found
