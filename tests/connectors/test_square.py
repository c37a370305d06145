"""Square connector: traffic against a contract double (every request and
response checked against Square's OpenAPI description), retries, token
refresh, and a realistic day translated and mapped to hand-worked books."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from commerce_sync.errors import (
    CredentialsRevoked,
    DataProcessingError,
    PlatformUnavailable,
    RateLimited,
)
from connectors.square import SquareSource
from connectors.square.client import SQUARE_VERSION, SquareClient
from connectors.square.translate import money, translate_period, unlinked_refund
from mapping.parsing import parse_commerce
from mapping.preview import preview
from tests.doubles.square_double import SquareDouble, day_orders, m
from tests.mapping.books import movements

# openapi-core has no provider for Square's oauth2 scheme; the bearer header is checked separately.
pytestmark = pytest.mark.filterwarnings("ignore:Unsupported scheme type")

SPEC_PATH = Path(__file__).resolve().parents[3] / "shared/reference/square/api.json"
START = datetime(2026, 11, 2, 8, tzinfo=UTC)  # midnight in Vancouver (PST, UTC-8)
END = datetime(2026, 11, 3, 8, tzinfo=UTC)
D = Decimal


@pytest.fixture(scope="module")
def square_api() -> OpenAPI:
    # Read once per module from the shared folder; never copied into the project.
    with SPEC_PATH.open() as handle:
        return OpenAPI.from_dict(json.load(handle), config=Config(spec_validator_cls=None))


class _AsSquare(RequestsOpenAPIRequest):
    """The double's request, as if sent to Square's own host (the spec's server)."""

    @property
    def host_url(self) -> str:
        return "https://connect.squareup.com"


class Validating(requests.Session):
    """A session that checks every exchange against the description."""

    def __init__(self, api: OpenAPI) -> None:
        super().__init__()
        self.api = api
        self.problems: list[str] = []
        self.exchanges = 0
        self.hooks["response"].append(self._check)

    def _check(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self.exchanges += 1
        request = _AsSquare(response.request)
        where = f"{response.request.method} {response.request.path_url}"
        try:
            self.api.validate_request(request)
        except Exception as error:
            self.problems.append(f"request {where}: {error!r} {getattr(error, '__cause__', '')!r}")
        if response.status_code < 400:  # error pages are not described per operation
            try:
                self.api.validate_response(request, RequestsOpenAPIResponse(response))
            except Exception as error:
                self.problems.append(
                    f"response {where}: {error!r} {getattr(error, '__cause__', '')!r}"
                )


class FakeTokens:
    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.refreshes = 0

    def access_token(self) -> str:
        return self.tokens[0]

    def refresh_now(self, *, rejected: str) -> str:
        self.refreshes += 1
        if len(self.tokens) > 1 and self.tokens[0] == rejected:
            self.tokens.pop(0)
        return self.tokens[0]


def client_for(double: SquareDouble, session: requests.Session | None = None, tokens=None):
    sleeps: list[float] = []
    client = SquareClient(
        tokens=tokens or FakeTokens("good-token"),
        base_url=double.url,
        session=session,
        sleep=sleeps.append,
        backoff=0.01,
    )
    return client, sleeps


# -- traffic -------------------------------------------------------------------


def test_a_day_read_to_the_end_and_every_exchange_matches_the_description(square_api):
    session = Validating(square_api)
    with SquareDouble(page_size=2) as double:
        client, _ = client_for(double, session)
        batch = SquareSource(client, currency="CAD").read_period(start=START, end=END)
        entries = list(client.list_payout_entries("PO-1"))
    assert session.problems == []
    # The read lists each payout's entries itself; the extra listing is 3 pages of 2.
    assert session.exchanges == batch.api_calls + 3
    # 4 orders at 2 a page, searched by created_at and by updated_at: 2 pages each.
    assert double.requests.count(("POST", "/v2/orders/search")) == 4
    assert double.requests.count(("GET", "/v2/payments")) == 3  # 5 payments
    assert double.requests.count(("POST", "/v2/catalog/search")) == 3  # 5 objects
    assert [e["id"] for e in entries] == [f"PE-{n}" for n in range(1, 7)]
    assert sorted(o["id"] for o in batch.orders) == ["ORD-1", "ORD-2", "ORD-3", "RET-1"]
    assert len(batch.transactions) == 9
    assert [x["id"] for x in batch.locations] == ["LOC-1"]  # the inactive kiosk left out


def test_requests_pin_the_version_and_send_the_bearer_token():
    seen = []
    session = requests.Session()
    session.hooks["response"].append(lambda r, *a, **k: seen.append(r.request.headers))
    with SquareDouble() as double:
        client, _ = client_for(double, session)
        client.list_locations()
    assert seen[0]["Square-Version"] == SQUARE_VERSION == "2025-08-20"
    assert seen[0]["Authorization"] == "Bearer good-token"


def test_orders_search_asks_for_1000_a_page_filtered_by_location_and_time(square_api):
    bodies = []
    session = Validating(square_api)
    session.hooks["response"].append(lambda r, *a, **k: bodies.append(json.loads(r.request.body)))
    with SquareDouble() as double:
        client, _ = client_for(double, session)
        list(client.search_orders(location_ids=["LOC-1"], start="a", end="b", field="updated_at"))
    body = bodies[0]
    assert body["limit"] == 1000 and body["location_ids"] == ["LOC-1"]
    assert body["query"]["filter"]["date_time_filter"] == {
        "updated_at": {"start_at": "a", "end_at": "b"}
    }
    assert body["query"]["sort"]["sort_field"] == "UPDATED_AT"


def test_429_waits_for_retry_after_then_succeeds():
    with SquareDouble() as double:
        double.faults = [(429, {"Retry-After": "2"}), (429, {"Retry-After": "3"})]
        client, sleeps = client_for(double)
        assert client.list_locations()[0]["id"] == "LOC-1"
    assert sleeps == [2.0, 3.0]


def test_a_long_retry_after_is_raised_not_slept():
    with SquareDouble() as double:
        double.faults = [(429, {"Retry-After": "120"})]
        client, sleeps = client_for(double)
        with pytest.raises(RateLimited) as caught:
            client.list_locations()
    assert caught.value.retry_after == 120.0 and sleeps == []


def test_5xx_is_retried_with_backoff_then_given_up():
    with SquareDouble() as double:
        double.faults = [(503, {}), (500, {})]
        client, sleeps = client_for(double)
        assert client.list_locations()
        assert len(sleeps) == 2 and sleeps[0] < sleeps[1]
        double.faults = [(502, {})] * 4
        with pytest.raises(PlatformUnavailable):
            client.list_locations()


def test_timeouts_are_platform_unavailable():
    client = SquareClient(
        tokens=FakeTokens("t"), base_url="http://127.0.0.1:9", attempts=2, sleep=lambda s: None
    )
    with pytest.raises(PlatformUnavailable):
        client.list_locations()


def test_401_refreshes_once_and_carries_on():
    tokens = FakeTokens("stale-token", "good-token")
    with SquareDouble() as double:
        client, _ = client_for(double, tokens=tokens)
        assert client.list_locations()
    assert tokens.refreshes == 1


def test_401_after_refresh_means_the_grant_is_revoked():
    tokens = FakeTokens("revoked-token")
    with SquareDouble() as double:
        client, _ = client_for(double, tokens=tokens)
        with pytest.raises(CredentialsRevoked) as caught:
            client.list_locations()
    assert tokens.refreshes == 1
    assert "revoked-token" not in str(caught.value)


# -- translation of the day ----------------------------------------------------


@pytest.fixture(scope="module")
def day():
    with SquareDouble(page_size=100) as double:
        client, _ = client_for(double)
        return SquareSource(client, location_ids=["LOC-1"], currency="CAD").read_period(
            start=START, end=END
        )


def _by_id(records):
    return {r["id"]: r for r in records}


def test_split_tender_order_with_tip_discount_and_two_taxes(day):
    order = _by_id(day.orders)["ORD-1"]
    assert (order["currency"], order["locationRef"]) == ("CAD", {"id": "LOC-1"})
    assert order["totalAmount"] == D("59.22")  # 40.32 + 18.90, tip excluded
    assert order["totalTaxAmount"] == D("5.22")
    assert order["totalDiscount"] == D("4.00")
    assert order["totalGratuity"] == D("5.00")
    mug, beans = order["orderLineItems"]
    assert mug["productRef"] == {"id": "VAR-MUG-L"}
    assert (mug["quantity"], mug["unitPrice"], mug["taxPercentage"]) == (D(2), D("20.00"), D(12))
    assert (mug["totalAmount"], mug["totalTaxAmount"]) == (D("40.32"), D("4.32"))
    assert mug["discountAllocations"] == [{"name": "Loyalty 10%", "totalAmount": D("4.00")}]
    assert mug["taxes"] == [
        {"taxComponentRef": {"id": "TAX-GST", "name": "GST"}, "rate": D("1.80")},
        {"taxComponentRef": {"id": "TAX-PST", "name": "PST"}, "rate": D("2.52")},
    ]
    assert (beans["totalAmount"], beans["totalTaxAmount"], beans["taxPercentage"]) == (
        D("18.90"),
        D("0.90"),
        D(5),
    )
    assert [(p["id"], p["type"], p["amount"]) for p in order["payments"]] == [
        ("PAY-1A", "Card", D("40.00")),  # the tender includes its tip
        ("PAY-1B", "Cash", D("24.22")),
    ]


def test_gift_card_sale_redemption_and_service_charge(day):
    orders = _by_id(day.orders)
    (sale,) = orders["ORD-2"]["orderLineItems"]
    assert sale["productRef"] == {"id": "square-gift-card"} and sale["totalAmount"] == D("50.00")
    assert _by_id(day.products)["square-gift-card"]["isGiftCard"] is True
    order = orders["ORD-3"]
    (charge,) = order["serviceCharges"]
    assert (charge["description"], charge["totalAmount"], charge["taxAmount"]) == (
        "Delivery",
        D("5.25"),
        D("0.25"),
    )
    assert order["totalAmount"] == D("17.85") and order["totalTaxAmount"] == D("0.85")
    assert [(p["type"], p["amount"]) for p in order["payments"]] == [
        ("Prepaid", D("10.00")),
        ("Card", D("7.85")),
    ]


def test_return_becomes_a_negative_refund_order(day):
    ret = _by_id(day.orders)["RET-1"]
    (line,) = ret["orderLineItems"]
    assert (line["quantity"], line["totalAmount"], line["totalTaxAmount"]) == (
        D(-1),
        D("-20.16"),
        D("-2.16"),
    )
    assert [t["rate"] for t in line["taxes"]] == [D("-0.90"), D("-1.26")]
    assert line["discountAllocations"] == [{"name": "Loyalty 10%", "totalAmount": D("-2.00")}]
    assert ret["payments"] == [
        {"id": "RF-1", "type": "Card", "amount": D("-20.16"), "currency": "CAD", "status": "Paid"}
    ]
    assert ret["totalAmount"] == D("-20.16")


def test_fees_and_payouts_are_signed_as_they_move_the_balance(day):
    got = {
        (t["type"], t["totalAmount"], (t.get("transactionSourceRef") or {}).get("id"))
        for t in day.transactions
    }
    assert got == {
        ("PaymentFee", D("-1.16"), "PAY-1A"),
        ("PaymentFee", D("-1.45"), "PAY-2"),
        ("PaymentFee", D("-0.23"), "PAY-3B"),
        ("PaymentFeeRefund", D("0.58"), "PAY-1A"),  # the fee Square gave back on RF-1
        # PO-1's entries: its CHARGE and REFUND fees are the ones above, not
        # counted again; the deposit fee and the older one given back are new.
        ("PaymentFee", D("-1.50"), "PO-1"),
        ("PaymentFeeRefund", D("0.45"), "PO-1"),
        ("Payout", D("-74.38"), "PO-1"),
        ("Payout", D("-30.00"), "PO-2"),
        ("FailedPayout", D("30.00"), "PO-2"),
    }


def test_reference_data(day):
    assert day.product_categories == [
        {"id": "CAT-MERCH", "name": "Merchandise"},
        {"id": "CAT-FOOD", "name": "Food"},
    ]
    mug = _by_id(day.products)["VAR-MUG-L"]
    assert mug == {
        "id": "VAR-MUG-L",
        "name": "Mug (Large)",
        "isGiftCard": False,
        "productCategoryRef": {"id": "CAT-MERCH"},
    }
    assert {t["id"]: t["rate"] for t in day.tax_components} == {
        "TAX-GST": D("0.05"),
        "TAX-PST": D("0.07"),
    }
    assert day.locations == [{"id": "LOC-1", "name": "Granville Street"}]


def acct(number: str) -> dict[str, str]:
    return {"selectedAccountId": number}


CONFIGURATION = {
    "countryCode": "CA",
    "mapSettings": {"outputFormat": "JournalEntry"},
    "sales": {
        "syncSales": True,
        "accounts": {
            "sales": acct("4000"),
            "refund": acct("4050"),
            "gratuity": acct("2150"),
            "prepaid": acct("2300"),
            "serviceCharge": acct("4010"),
            "tax": acct("2399"),
            "tax-TAX-GST": acct("2310"),
            "tax-TAX-PST": acct("2320"),
        },
        "grouping": {"groupingPeriod": {"selectedGroupingPeriod": "Daily"}},
        "salesCustomer": {"selectedCustomerId": "CUST-POS"},
    },
    "payments": {
        "syncPayments": True,
        "accounts": {
            "card": acct("1100"),
            "cash": acct("1000"),
            "prepaidPayment": acct("2300"),
            "payout": acct("1200"),
        },
    },
    "fees": {
        "syncFees": True,
        "feesSupplier": {"selectedSupplierId": "SUPP-SQUARE"},
        "accounts": {"paymentFee": acct("6100"), "paymentFeeRefund": acct("6100")},
    },
}


def test_the_day_parses_and_maps_to_hand_worked_books(day):
    parse_commerce(day.as_commerce(), ZoneInfo("America/Vancouver"))  # raises if anything is off
    result = preview(
        {
            "timeZone": "America/Vancouver",
            "currency": "CAD",
            "schedule": {"syncHour": 0, "timeZone": "America/Vancouver"},
            "period": {"start": "2026-11-02", "end": "2026-11-03"},
            "commerce": day.as_commerce(),
            "configuration": CONFIGURATION,
        }
    )
    assert result.errors == []
    moved = {k: v for k, v in movements([d.as_json() for d in result.documents]).items() if v}
    assert moved == {
        "4000": D("-66.00"),  # net sales: mugs 36.00 + beans 18.00 + sandwich 12.00
        "4010": D("-5.00"),  # delivery, net
        "4050": D("18.00"),  # one mug returned, net of its taxes
        "2150": D("-5.00"),  # the card tip
        "2300": D("-40.00"),  # gift card sold 50.00, 10.00 of it redeemed
        "2310": D("-2.65"),  # GST 1.80 + 0.90 + 0.60 + 0.25 - 0.90
        "2320": D("-1.26"),  # PST 2.52 - 1.26
        "1000": D("24.22"),  # cash tendered
        # card 1100 nets to zero, so it is not listed: 40.00 + 50.00 + 7.85 - 20.16
        # - fees 2.84 + 0.58 back - deposit fee 1.50 + 0.45 back = 74.38, the
        # paid payout PO-1 (the sum of its entries' nets) sweeps it all out.
        "6100": D("3.31"),  # 1.16 + 1.45 + 0.23 - 0.58 + deposit fee 1.50 - 0.45
        "1200": D("74.38"),  # the paid payout; the failed one came back
    }
    assert sum(moved.values()) == 0


# -- misfits and minor units ---------------------------------------------------


def test_unknown_tender_type_is_reported_with_the_order_id():
    orders = day_orders()
    orders[1]["tenders"][0]["type"] = "SEASHELLS"
    result = translate_period(orders=orders)
    assert any("order ORD-2" in p and "SEASHELLS" in p for p in result.problems)
    assert "ORD-2" not in {o["id"] for o in result.orders}  # reported, not half-read


def test_adapter_refuses_the_period_naming_the_misfit():
    with SquareDouble(page_size=100) as double:
        double.orders[0]["tenders"][1]["type"] = "SEASHELLS"
        client, _ = client_for(double)
        with pytest.raises(DataProcessingError) as caught:
            SquareSource(client).read_period(start=START, end=END)
    assert "ORD-1" in caught.value.message and "SEASHELLS" in caught.value.message
    # A tender type Square does not define is outside its description too.
    assert any("SEASHELLS" in v for v in double.harness.take())


def test_an_order_without_currency_is_reported():
    order = {"id": "ORD-X", "location_id": "LOC-1", "line_items": [{"uid": "L", "quantity": "1"}]}
    result = translate_period(orders=[order])
    assert result.problems == ["order ORD-X: has no currency"]


def test_a_refund_whose_payment_is_unknown_is_reported():
    orders = [o for o in day_orders() if o["id"] == "RET-1"]
    result = translate_period(orders=orders)
    assert any("order RET-1" in p and "PAY-1A" in p for p in result.problems)


def test_jpy_has_no_minor_digits_and_bhd_three():
    assert money(m(2058, "JPY")) == D(2058)
    assert money(m(963, "BHD")) == D("0.963")
    assert money(m(1940, "GBP")) == D("19.40")
    order = day_orders()[1]
    order["line_items"][0]["total_money"] = m(5000, "JPY")
    order["total_money"] = m(5000, "JPY")
    order["tenders"][0]["amount_money"] = m(5000, "JPY")
    (record,) = translate_period(orders=[order]).orders
    assert record["currency"] == "JPY" and record["totalAmount"] == D(5000)
    assert record["payments"][0]["amount"] == D(5000)


def test_payout_entries_add_only_the_fees_no_payment_carries():
    payout = {"id": "PO-9", "created_at": "2026-11-02T23:00:00Z", "amount_money": m(0)}

    def entry(kind: str, **money_fields) -> dict:
        return {"id": f"PE-{kind}", "payout_id": "PO-9", "type": kind, **money_fields}

    entries = [
        entry("CHARGE", gross_amount_money=m(1000), fee_amount_money=m(-29)),
        entry("PROCESSING_FEE", net_amount_money=m(-29)),  # gross settlement: same fee
        entry("RETURNED_PAYOUT", net_amount_money=m(5000)),  # that payout's FailedPayout
        entry("TAX_ON_FEE", gross_amount_money=m(-10), fee_amount_money=m(-3)),  # no net
        entry("FREE_PROCESSING", net_amount_money=m(29)),
        entry("HOLD_ADJUSTMENT", net_amount_money=m(0)),  # no money moved
    ]
    result = translate_period(payouts=[payout], payout_entries={"PO-9": entries})
    assert result.problems == []
    got = [(t["id"], t["type"], t["totalAmount"]) for t in result.transactions]
    assert got == [
        ("PO-9", "Payout", D("0.00")),
        ("PE-TAX_ON_FEE", "PaymentFee", D("-0.13")),
        ("PE-FREE_PROCESSING", "PaymentFeeRefund", D("0.29")),
    ]
    dispute = entry("DISPUTE", net_amount_money=m(-4000))
    result = translate_period(payouts=[payout], payout_entries={"PO-9": [dispute]})
    assert result.problems == [
        "payout entry PE-DISPUTE: type 'DISPUTE' moves money with no canonical transaction"
    ]


def test_an_amount_only_refund_becomes_a_refund_order():
    refund = {
        "id": "RF-9",
        "payment_id": "PAY-2",
        "amount_money": m(1000),
        "status": "COMPLETED",
        "created_at": "2026-11-02T22:00:00Z",
        "location_id": "LOC-1",
    }
    record = unlinked_refund(refund, "Card")
    assert record["id"] == "refund-RF-9" and record["totalAmount"] == D("-10.00")
    assert record["payments"][0]["amount"] == D("-10.00")


# -- the strict harness ----------------------------------------------------------


def test_a_query_field_square_does_not_have_is_refused_and_reported():
    headers = {"Authorization": "Bearer good-token", "Square-Version": SQUARE_VERSION}
    with SquareDouble() as double:
        wrong = requests.get(
            f"{double.url}/v2/payments",
            params={"location_id": "LOC-1", "start_time": "2026-11-02T08:00:00Z"},
            headers=headers,
            timeout=5,
        )
        body = {
            "location_ids": ["LOC-1"],
            "query": {"filter": {"states_filter": {"states": ["COMPLETED"]}}},
        }
        misspelt = requests.post(
            f"{double.url}/v2/orders/search", json=body, headers=headers, timeout=5
        )
        found = double.harness.take()
    assert wrong.status_code == misspelt.status_code == 400
    assert wrong.json()["errors"][0]["category"] == "INVALID_REQUEST_ERROR"
    assert any("query parameter 'start_time'" in v for v in found), found
    assert any("filter.states_filter: not a field" in v for v in found), found


def test_every_exchange_of_a_day_read_goes_through_the_harness():
    with SquareDouble(page_size=2) as double:
        client, _ = client_for(double)
        SquareSource(client, currency="CAD").read_period(start=START, end=END)
    assert double.harness.checked == len(double.requests) > 5
    assert double.harness.violations == []
