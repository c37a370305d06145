"""Zettle: paging, faults, tokens, and a café day translated and mapped.

The figures below were worked out by hand from `tests/doubles/zettle_double.py`
(pence, prices including VAT).
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from commerce_sync.errors import (
    ApplicationError,
    CredentialsRevoked,
    DataProcessingError,
    PlatformUnavailable,
    RateLimited,
)
from connectors.zettle import ZettleSource
from connectors.zettle.client import ZettleClient
from connectors.zettle.translate import _spread, translate
from mapping.parsing import parse_commerce
from mapping.preview import preview
from tests.doubles.zettle_double import TOKEN, ZettleDouble, _uuid, cafe_day, cafe_transactions

START = datetime(2026, 11, 2, tzinfo=UTC)
END = datetime(2026, 11, 3, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


class FakeTokens:
    """A TokenSource: hands out tokens in turn, counting refreshes."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.refreshed: list[str] = []

    def access_token(self) -> str:
        return self.tokens[0]

    def refresh_now(self, *, rejected: str) -> str:
        self.refreshed.append(rejected)
        if len(self.tokens) > 1:
            self.tokens.pop(0)
        return self.tokens[0]


def client(url: str, tokens: Any = None, **options: Any) -> ZettleClient:
    sleeps: list[float] = []
    made = ZettleClient(
        purchase_url=url,
        finance_url=url,
        tokens=tokens or FakeTokens(TOKEN),
        sleep=sleeps.append,
        timeout=5,
        **options,
    )
    made.sleeps = sleeps  # type: ignore[attr-defined]
    return made


def source(url: str, **options: Any) -> ZettleSource:
    return ZettleSource(client(url, **options), currency="GBP", time_zone="Europe/London")


@pytest.fixture
def zettle() -> Any:
    with ZettleDouble() as double:
        yield double


def calls(double: ZettleDouble, prefix: str) -> list[dict[str, list[str]]]:
    return [query for path, query in double.requests if path.startswith(prefix)]


# -- paging -------------------------------------------------------------------


def test_reads_every_page_of_purchases_and_transactions(zettle: ZettleDouble) -> None:
    batch = source(zettle.url, purchase_page=3, finance_page=3).read_period(start=START, end=END)
    assert [o["id"] for o in batch.orders] == [_uuid(n) for n in range(1, 8)]
    assert len(batch.transactions) == 7  # the PAYMENT mirror is not asked for
    purchases = calls(zettle, "/purchases/v2")
    assert len(purchases) == 3
    assert "lastPurchaseHash" not in purchases[0]
    cursors = [q["lastPurchaseHash"][0] for q in purchases[1:]]
    assert len(set(cursors)) == 2
    assert purchases[0]["startDate"] == ["2026-11-02T00:00:00"]
    assert purchases[0]["endDate"] == ["2026-11-03T00:00:00"]
    finance = calls(zettle, "/v2/accounts/LIQUID/transactions")
    assert [q["offset"] for q in finance] == [["0"], ["3"], ["6"]]
    assert finance[0]["includeTransactionType"] == ["PAYMENT_FEE", "PAYOUT", "FAILED_PAYOUT"]
    assert batch.api_calls == 6
    assert zettle.validated == 6 and zettle.spec_errors == []


def test_a_full_last_page_is_followed_by_an_empty_one(zettle: ZettleDouble) -> None:
    batch = source(zettle.url, purchase_page=7, finance_page=7).read_period(start=START, end=END)
    assert len(batch.orders) == 7 and len(batch.transactions) == 7
    assert len(calls(zettle, "/purchases/v2")) == 2
    assert [q["offset"] for q in calls(zettle, "/v2/")] == [["0"], ["7"]]
    assert zettle.spec_errors == []


def test_purchases_outside_the_period_are_left_out(zettle: ZettleDouble) -> None:
    start = datetime(2026, 11, 2, 12, tzinfo=UTC)
    batch = source(zettle.url).read_period(start=start, end=END)
    assert [o["id"] for o in batch.orders] == [_uuid(n) for n in (4, 5, 6, 7)]
    assert {t["createdDate"] for t in batch.transactions} >= {"2026-11-02T12:00:00Z"}
    assert all(t["createdDate"] >= "2026-11-02T12" for t in batch.transactions)


# -- faults and tokens --------------------------------------------------------


def test_429_becomes_rate_limited_with_retry_after(zettle: ZettleDouble) -> None:
    zettle.fail("purchase", 429, retry_after="7")
    with pytest.raises(RateLimited) as caught:
        source(zettle.url).read_period(start=START, end=END)
    assert caught.value.retry_after == 7.0


def test_5xx_is_retried_with_backoff(zettle: ZettleDouble) -> None:
    zettle.fail("finance", 503, times=2)
    zettle.fail("purchase", 502)
    made = source(zettle.url)
    batch = made.read_period(start=START, end=END)
    assert len(batch.orders) == 7 and len(batch.transactions) == 7
    assert made.client.sleeps == [0.5, 0.5, 1.0]  # type: ignore[attr-defined]


def test_5xx_that_persists_is_platform_unavailable(zettle: ZettleDouble) -> None:
    zettle.fail("purchase", 500, times=4)
    made = source(zettle.url)
    with pytest.raises(PlatformUnavailable, match="500"):
        made.read_period(start=START, end=END)
    assert made.client.sleeps == [0.5, 1.0, 2.0]  # type: ignore[attr-defined]


def test_no_answer_is_platform_unavailable() -> None:
    with ZettleDouble() as double:
        url = double.url
    with pytest.raises(PlatformUnavailable, match="did not answer"):
        source(url).read_period(start=START, end=END)


def test_401_refreshes_once_and_carries_on(zettle: ZettleDouble) -> None:
    tokens = FakeTokens("stale-token", TOKEN)
    batch = source(zettle.url, tokens=tokens).read_period(start=START, end=END)
    assert len(batch.orders) == 7
    assert tokens.refreshed == ["stale-token"]


def test_401_after_refresh_is_credentials_revoked(zettle: ZettleDouble) -> None:
    tokens = FakeTokens("revoked-1", "revoked-2")
    with pytest.raises(CredentialsRevoked) as caught:
        source(zettle.url, tokens=tokens).read_period(start=START, end=END)
    assert tokens.refreshed == ["revoked-1"]
    assert caught.value.status_code == 4040
    assert "revoked" not in str(caught.value)  # tokens never reach a message
    assert "revoked" not in repr(source(zettle.url, tokens=tokens).client)


# -- translation --------------------------------------------------------------


def day() -> Any:
    return translate(cafe_day(), cafe_transactions(), currency="GBP", location_id="zettle")


def by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in records}


def test_lines_carry_vat_discounts_and_tips_by_hand() -> None:
    result = day()
    assert result.problems == [] and result.warnings == []
    orders = by_id(result.orders)
    # P1: 2 x 3.30 at 20% (net 5.50) + 2.20 at 0%, tip 1.20 on a 10.00 card payment.
    p1 = orders[_uuid(1)]
    assert [(line["totalAmount"], line["totalTaxAmount"]) for line in p1["orderLineItems"]] == [
        (Decimal("6.60"), Decimal("1.10")),
        (Decimal("2.20"), Decimal("0.00")),
    ]
    assert (p1["totalAmount"], p1["totalGratuity"]) == (Decimal("8.80"), Decimal("1.20"))
    assert p1["payments"] == [
        {
            "id": _uuid(301),
            "type": "Card",
            "amount": Decimal("10.00"),
            "currency": "GBP",
            "status": "Paid",
        }
    ]
    assert p1["createdDate"] == "2026-11-02T09:15:00Z"
    # P2: 7.20 less a 1.20 staff discount = 6.00 (net 5.00), paid cash.
    sandwich = orders[_uuid(2)]["orderLineItems"][0]
    assert sandwich["totalAmount"] == Decimal("6.00")
    assert sandwich["discountAllocations"] == [{"name": "Staff", "totalAmount": Decimal("1.20")}]
    assert orders[_uuid(2)]["payments"][0]["type"] == "Cash"
    # P5: 10% off 24.48 = 2.45, spread 2.28 / 0.17; VAT 20% and 5% from the rows' net.
    p5 = orders[_uuid(5)]
    lunch, juice = p5["orderLineItems"]
    assert (lunch["totalAmount"], lunch["totalTaxAmount"]) == (Decimal("20.52"), Decimal("3.42"))
    assert (juice["totalAmount"], juice["totalTaxAmount"]) == (Decimal("1.51"), Decimal("0.07"))
    assert lunch["discountAllocations"][0]["totalAmount"] == Decimal("2.28")
    assert juice["discountAllocations"][0]["totalAmount"] == Decimal("0.17")
    assert juice["taxPercentage"] == Decimal("5.0")
    assert (p5["totalAmount"], p5["totalTaxAmount"]) == (Decimal("22.03"), Decimal("3.49"))
    assert p5["totalDiscount"] == Decimal("2.45")
    assert p5["totalGratuity"] == Decimal("2.00")
    assert [(p["type"], p["amount"]) for p in p5["payments"]] == [
        ("Card", Decimal("15.00")),
        ("Cash", Decimal("9.03")),
    ]


def test_gift_cards_and_refunds() -> None:
    result = day()
    orders = by_id(result.orders)
    gift_line = orders[_uuid(3)]["orderLineItems"][0]
    assert result.products[gift_line["productRef"]["id"]]["isGiftCard"] is True
    assert orders[_uuid(4)]["payments"][0]["type"] == "Prepaid"
    refund = orders[_uuid(6)]
    line = refund["orderLineItems"][0]
    assert (line["quantity"], line["totalAmount"], line["totalTaxAmount"]) == (
        Decimal(-1),
        Decimal("-3.30"),
        Decimal("-0.55"),
    )
    assert refund["totalRefund"] == Decimal("-3.30")
    assert refund["payments"][0]["amount"] == Decimal("-3.30")
    assert refund["supplementalData"]["content"]["zettle"]["refundsPurchaseUUID1"] == _uuid(1)


def test_finance_transactions_are_typed_and_signed() -> None:
    got = [(t["type"], t["totalAmount"], t.get("transactionSourceRef")) for t in day().transactions]
    assert got == [
        ("Payout", Decimal("-30.00"), None),
        ("PaymentFee", Decimal("-0.17"), {"id": _uuid(301), "type": "Payment"}),
        ("PaymentFee", Decimal("-0.44"), {"id": _uuid(303), "type": "Payment"}),
        ("FailedPayout", Decimal("12.00"), None),
        ("PaymentFee", Decimal("-0.26"), {"id": _uuid(305), "type": "Payment"}),
        ("PaymentFeeRefund", Decimal("0.06"), {"id": _uuid(307), "type": "Payment"}),
        ("PaymentFee", Decimal("-0.19"), {"id": _uuid(308), "type": "Payment"}),
    ]
    assert day().transactions[0]["createdDate"] == "2026-11-02T06:00:00Z"


def test_unknown_payment_type_is_reported_with_its_ids(zettle: ZettleDouble) -> None:
    zettle.purchases = copy.deepcopy(zettle.purchases)
    zettle.purchases[1]["payments"][0]["type"] = "BARTER"
    with pytest.raises(DataProcessingError) as caught:
        source(zettle.url).read_period(start=START, end=END)
    message = str(caught.value)
    assert "1 Zettle record(s)" in message
    assert _uuid(2) in message and _uuid(302) in message and "'BARTER'" in message
    assert caught.value.status_code == 5120
    assert zettle.spec_errors == []


def test_a_purchase_without_currency_is_reported_with_its_id() -> None:
    purchases = cafe_day()
    del purchases[2]["currency"]
    result = translate(purchases, [], currency="GBP")
    assert result.problems == [f"Zettle purchase {_uuid(3)} has no currency"]
    assert len(result.orders) == 6


def test_a_request_zettle_refuses_is_not_retried(zettle: ZettleDouble) -> None:
    zettle.fail("purchase", 400)
    made = source(zettle.url)
    with pytest.raises(ApplicationError, match="400") as caught:
        made.read_period(start=START, end=END)
    assert not caught.value.transient and made.client.sleeps == []  # type: ignore[attr-defined]


def test_unbooked_finance_types_are_warnings_and_malformed_ones_problems() -> None:
    extra = [
        {
            "timestamp": "2026-11-02T08:00:00",
            "amount": "500",
            "originatorTransactionType": "ADVANCE",
            "originatorTransactionUuid": "adv-1",
        },
        {
            "timestamp": "2026-11-02T08:00:00",
            "amount": "1.5",
            "originatorTransactionType": "PAYOUT",
            "originatorTransactionUuid": "po-9",
        },
    ]
    result = translate([], extra, currency="GBP")
    assert result.transactions == []
    assert len(result.warnings) == 1 and "adv-1" in result.warnings[0]
    assert len(result.problems) == 1 and "po-9" in result.problems[0]


def test_purchases_that_do_not_add_up_are_refused() -> None:
    purchases = cafe_day()
    purchases[0]["amount"] = 990
    purchases[1]["vatAmount"] = 150
    purchases[3]["products"][0].update(quantity="1.5", unitPrice=333)  # 499.5 pence
    result = translate(purchases, [], currency="GBP")
    assert len(result.problems) == 3
    assert _uuid(4) in result.problems[2] and "fraction" in result.problems[2]
    assert _uuid(1) in result.problems[0] and "does not add up" in result.problems[0]
    assert _uuid(2) in result.problems[1] and "vatAmount" in result.problems[1]


# -- the day through the mapping ---------------------------------------------

CONFIGURATION = {
    "countryCode": "GB",
    "sales": {
        "syncSales": True,
        "accounts": {
            "sales": {"selectedAccountId": "4000"},
            "refund": {"selectedAccountId": "4000"},
            "gratuity": {"selectedAccountId": "2150"},
            "prepaid": {"selectedAccountId": "2300"},
            "tax": {"selectedAccountId": "2200"},
        },
        "taxRates": {
            "20": {"selectedTaxRateId": "OUTPUT2"},
            "5": {"selectedTaxRateId": "REDUCED"},
            "0": {"selectedTaxRateId": "ZERORATEDOUTPUT"},
        },
        "newTaxRates": {"selectedDefaultZeroTaxRateId": "NONE"},
        "grouping": {"groupingPeriod": {"selectedGroupingPeriod": "Daily"}},
    },
    "payments": {
        "syncPayments": True,
        "accounts": {
            "card": {"selectedAccountId": "1100"},
            "cash": {"selectedAccountId": "1000"},
            "prepaidPayment": {"selectedAccountId": "2300"},
            "payout": {"selectedAccountId": "1200"},
        },
    },
    "fees": {
        "syncFees": True,
        "feesSupplier": {"selectedSupplierId": "SUPP-ZETTLE"},
        "accounts": {"paymentFee": {"selectedAccountId": "6100"}},
    },
    "mapSettings": {"outputFormat": "JournalEntry"},
}

# Worked by hand (pence). Card 10.00 + 25.00 + 15.00 - 3.30 + 10.80 = 57.50,
# less fees 1.06 plus a fee refund 0.06, less the 30.00 payout, plus the
# failed 12.00 = 38.50. Cash 9.60 + 9.03. Revenue net of VAT: 7.70 + 8.00 +
# 7.00 + 18.54 - 2.75 + 9.00 = 47.49. VAT 1.10 + 1.60 + 1.40 + 3.49 - 0.55 +
# 1.80 = 8.84. Tips 1.20 + 2.00. Gift card sold 25.00, redeemed 8.40.
EXPECTED = {
    "1000": Decimal("18.63"),
    "1100": Decimal("38.50"),
    "1200": Decimal("18.00"),
    "6100": Decimal("1.00"),
    "4000": Decimal("-47.49"),
    "2200": Decimal("-8.84"),
    "2150": Decimal("-3.20"),
    "2300": Decimal("-16.60"),
}


def test_the_day_parses_and_maps_to_hand_worked_balances(zettle: ZettleDouble) -> None:
    batch = source(zettle.url, purchase_page=3, finance_page=3).read_period(start=START, end=END)
    commerce = batch.as_commerce()
    parsed = parse_commerce(commerce, LONDON)
    assert len(parsed.orders) == 7 and len(parsed.transactions) == 7
    scenario = json.loads(
        json.dumps(
            {
                "timeZone": "Europe/London",
                "currency": "GBP",
                "period": {"start": "2026-11-02", "end": "2026-11-03"},
                "schedule": {"syncHour": 0, "timeZone": "Europe/London"},
                "configuration": CONFIGURATION,
                "commerce": commerce,
            },
            default=str,
        ),
        parse_float=Decimal,
    )
    result = preview(scenario)
    assert result.errors == [], result.errors
    balances: dict[str, Decimal] = defaultdict(Decimal)
    for document in (d.as_json() for d in result.documents):
        assert document["type"] == "journalEntry"
        lines = document["journalLines"]
        assert sum(Decimal(line["netAmount"]) for line in lines) == 0
        for line in lines:
            balances[line["accountRef"]["id"]] += Decimal(line["netAmount"])
    assert {k: v for k, v in balances.items() if v} == EXPECTED


# -- OAuth and wiring ---------------------------------------------------------


def test_oauth_parameters(settings: Any) -> None:
    from connectors.zettle.oauth import SCOPES, zettle_oauth_client

    settings.ZETTLE_OAUTH_URL = "https://oauth.zettle.com/"
    settings.ZETTLE_CLIENT_ID = "client-1"
    oauth = zettle_oauth_client()
    assert SCOPES == ("READ:PURCHASE", "READ:FINANCE")
    assert oauth.platform.token_url == "https://oauth.zettle.com/token"
    request = oauth.authorization_request(redirect_uri="https://app.example/cb")
    assert request.url.startswith("https://oauth.zettle.com/authorize?")
    assert "scope=READ%3APURCHASE+READ%3AFINANCE" in request.url
    assert "code_challenge_method=S256" in request.url


def test_disconnect_deletes_the_application_connection(settings: Any, zettle: ZettleDouble):
    from connectors.zettle.oauth import zettle_disconnect

    settings.ZETTLE_OAUTH_URL = zettle.url + "/"
    assert zettle_disconnect(TOKEN) is None  # 204
    assert zettle.disconnect_requests == [f"Bearer {TOKEN}"]
    assert zettle.disconnected and zettle.token_requests == []  # no form was posted
    # Now Zettle answers 401: already disconnected is done as well.
    zettle_disconnect(TOKEN)
    assert len(zettle.disconnect_requests) == 2


def test_disconnect_treats_401_as_already_disconnected(settings: Any, zettle: ZettleDouble):
    from connectors.zettle.oauth import zettle_disconnect

    settings.ZETTLE_OAUTH_URL = zettle.url
    zettle_disconnect("an-unknown-token")
    assert zettle.disconnect_requests == ["Bearer an-unknown-token"]
    assert not zettle.disconnected


@pytest.mark.parametrize("status", [500, 503, 429])
def test_disconnect_failing_on_zettle_s_side_is_platform_unavailable(
    settings: Any, zettle: ZettleDouble, status: int
) -> None:
    from connectors.zettle.oauth import zettle_disconnect

    settings.ZETTLE_OAUTH_URL = zettle.url
    zettle.fail("disconnect", status)
    with pytest.raises(PlatformUnavailable, match=str(status)) as caught:
        zettle_disconnect(TOKEN)
    assert TOKEN not in str(caught.value)
    assert not zettle.disconnected
    zettle_disconnect(TOKEN)  # the retry goes through
    assert zettle.disconnected


def test_disconnect_without_an_answer_is_platform_unavailable(settings: Any) -> None:
    from connectors.zettle.oauth import zettle_disconnect

    settings.ZETTLE_OAUTH_URL = "http://127.0.0.1:9"
    with pytest.raises(PlatformUnavailable, match="did not answer"):
        zettle_disconnect(TOKEN, timeout=2)


def test_the_shared_form_revocation_is_not_used(settings: Any, zettle: ZettleDouble) -> None:
    from connectors.zettle.oauth import zettle_oauth_client

    settings.ZETTLE_OAUTH_URL = zettle.url
    with pytest.raises(NotImplementedError, match="zettle_disconnect"):
        zettle_oauth_client().revoke("a-refresh-token")
    assert zettle.disconnect_requests == [] and zettle.token_requests == []


@pytest.mark.django_db
def test_the_registry_builds_a_zettle_source(settings: Any) -> None:
    from commerce_sync.core.services.connections import connection_source
    from tests.factories import ConnectionFactory

    settings.ZETTLE_PURCHASE_API_URL = "http://127.0.0.1:9/purchase"
    connection = ConnectionFactory(platform_key="zettle", settings={})
    built = connection_source(connection=connection)
    assert isinstance(built, ZettleSource) and built.platform_key == "zettle"
    assert built.currency == connection.merchant.currency
    assert built.time_zone == connection.merchant.time_zone
    assert built.client.purchase_url == "http://127.0.0.1:9/purchase"
    assert "tok-" not in repr(built.client)


@given(
    total=st.integers(min_value=-(10**6), max_value=10**6),
    weights=st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=8),
)
def test_a_cart_discount_is_spread_exactly(total: int, weights: list[int]) -> None:
    shares = _spread(total, weights)
    assert sum(shares) == total
    for share, weight in zip(shares, weights, strict=True):
        assert abs(share * sum(weights) - total * weight) <= sum(weights)


def test_a_query_parameter_zettle_does_not_document_is_refused_before_it_is_read(zettle):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    purchases = requests.get(
        f"{zettle.url}/purchases/v2",
        params={
            "startDate": "2026-11-02T00:00:00Z",
            "endDate": "2026-11-03T00:00:00Z",
            "from": "x",
        },
        headers=auth,
        timeout=5,
    )
    # No endDate: the double would fail reading it; the harness refuses first.
    finance = requests.get(
        f"{zettle.url}/v2/accounts/liquid/transactions",
        params={"start": "2026-11-02T00:00:00Z", "end": "2026-11-03T00:00:00Z", "page": "2"},
        headers=auth,
        timeout=5,
    )
    unread = requests.get(
        f"{zettle.url}/purchases/v2", params={"startDate": "2026-11-02"}, headers=auth, timeout=5
    )
    found = zettle.harness.take()
    assert purchases.status_code == finance.status_code == unread.status_code == 400
    assert any("'from' is not one the Purchase API documents" in v for v in found), found
    assert any("query parameter 'page'" in v for v in found), found
    assert any("'endDate' is required" in v for v in found), found
