"""The Lightspeed Restaurant K-Series connector: its translation (pure), its
client against the strict K-Series double (every exchange checked against
the K-Series facts encoded as JSON Schemas, tests/doubles/lightspeed_k_double.py),
and the Amsterdam restaurant's day synced end to end into the Beancount
ledger and into the Xero double, once.

The double's day, worked by hand in EUR (prices include VAT; tax per sale
and code rounded half up, shared over lines by largest remainder):

    A1  soup 13.00 (VAT 9 % 1.073394 -> 1.07, net 11.93)
        wine  6.50 (VAT 21 % 1.128099 -> 1.13, net 5.37)
        card 19.50 + tip 2.00
    A2  menu 30.00 (VAT 9 % 1.486239 -> 1.48, VAT 21 % 2.082645 -> 2.08, net 26.44)
        coffee 2.50 after 0.50 off (VAT 9 % 0.206422 -> 0.21, net 2.29)
          (VAT 9 % on A2: 1.692661 -> 1.69 = 1.48 + 0.21; alone 1.49 + 0.21)
        cash 12.50; card 20.00 + tip 1.50
    A3  the wine of A1 refunded: -6.50 (VAT -1.13, net -5.37), to the card
    A4  cancelled, nothing paid: not booked

    food sales     11.93 + 26.44        = 38.37
    drinks sales    5.37 + 2.29         =  7.66
    refunds                                 5.37
    VAT 9 %        1.07 + 1.48 + 0.21   =  2.76
    VAT 21 %       1.13 + 2.08 - 1.13   =  2.08
    tips           2.00 + 1.50          =  3.50
    till           12.50
    fees           0.39 + 0.39 - 0.05   =  0.73
    card clearing  21.50 + 21.50 - 6.50 - 0.73 - 40.00 (payout)
                   - 15.00 + 15.00 (payout failed, back)  = -4.23
    bank           40.00
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from django.contrib.staticfiles import finders

from commerce_sync.core.models import Connection, Incident
from commerce_sync.core.services.connections import connection_create
from commerce_sync.core.services.merchants import merchant_create
from commerce_sync.errors import ConfigurationError, CredentialsRevoked, DataProcessingError
from commerce_sync.syncs.runs import sync_run_execute
from connectors.context import LightspeedKSettings
from connectors.lightspeed_k import translate
from connectors.lightspeed_k.adapter import LightspeedKSource
from connectors.lightspeed_k.client import LightspeedKClient
from tests.api.codat_sync_schema import partner_api
from tests.connectors.test_shopify import FakeTokens
from tests.connectors.test_sources_end_to_end import (
    DAY,
    FAR_FUTURE,
    LONG_AGO,
    ledger_balances,
    seed,
    sync_and_check,
)
from tests.connectors.test_stripe import stripe_xero_configuration
from tests.connectors.test_xero import uk_books
from tests.connectors.xero_once import day_into_xero_once
from tests.doubles.lightspeed_k_double import (
    LOCATION,
    OTHER_LOCATION,
    PAYMENTS,
    REFRESH,
    SALES,
    SECOND_LOCATION,
    TOKEN,
    LightspeedKDouble,
    line,
    payment,
    realistic_day,
    sale,
    tax,
)
from tests.doubles.xero_double import XeroDouble
from tests.factories import MerchantFactory
from tests.setup_flow.helpers import start_path

D = Decimal
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
START = datetime(2026, 11, 2, tzinfo=AMSTERDAM)
END = datetime(2026, 11, 3, tzinfo=AMSTERDAM)
FOOD = {"id": 1, "name": "Food"}


def source(
    double: LightspeedKDouble,
    *,
    sleeps: list[float] | None = None,
    tokens: Any = None,
    location: str = str(LOCATION),
) -> LightspeedKSource:
    client = LightspeedKClient(
        tokens=tokens or FakeTokens(TOKEN),
        base_url=double.url,
        page_size=2,
        sleep=(sleeps if sleeps is not None else []).append,
    )
    return LightspeedKSource(client, currency="EUR", business_location_id=location)


# -- translation (pure) ------------------------------------------------------------


def test_tax_lines_are_rounded_per_sale_and_shared_by_largest_remainder():
    assert translate.allocate([D("1.486239"), D("0.206422")], "EUR") == [D("1.48"), D("0.21")]
    assert translate.allocate([D("-1.128099")], "EUR") == [D("-1.13")]
    assert translate.allocate([D("0.005"), D("0.005")], "EUR") == [D("0.01"), D("0.00")]
    # Three lines of a third of a cent each: their exact sum is one cent.
    assert translate.allocate([D("0.003334")] * 3, "EUR") == [D("0.01"), D("0"), D("0")]
    assert translate.allocate([D("12.3456")], "JPY") == [D("12")]
    assert translate.allocate([D("1.23456")], "KWD") == [D("1.235")]


def test_amounts_must_be_decimal_strings_that_fit_the_currency():
    good = line("L", "SOUP", "Soup", "1", "6.50", [tax("VAT9", "9", "0.536697")], FOOD)
    (order,) = translate.sale_order(
        sale("OK", "2026-11-02T10:00:00Z", [good], [payment("p", "CASH", "6.50")]), "EUR", "1"
    )
    assert order["totalAmount"] == D("6.50") and isinstance(order["totalAmount"], Decimal)
    assert order["orderLineItems"][0]["totalTaxAmount"] == D("0.54")
    result = translate.translate_location(
        location_id="1",
        currency="EUR",
        sales=[
            # a JSON number (the client reads it as Decimal): never trusted
            sale(
                "N",
                "2026-11-02T10:00:00Z",
                [{**good, "totalNetAmountWithTax": D("6.5")}],
                [payment("p", "CASH", "6.50")],
            ),
            sale(
                "X",
                "2026-11-02T10:00:00Z",
                [{**good, "totalNetAmountWithTax": "6.505"}],
                [payment("p", "CASH", "6.50")],
            ),
            sale("U", "2026-11-02T10:00:00Z", [good], [payment("p", "BITCOIN", "6.50")]),
            sale("M", "2026-11-02T10:00:00Z", [good], [payment("p", "CASH", "6.00")]),
            sale(
                "T",
                "2026-11-02T10:00:00Z",
                [{**good, "taxAmount": "0.6"}],
                [payment("p", "CASH", "6.50")],
            ),
            {
                **sale("C", "2026-11-02T10:00:00Z", [good], [payment("p", "CASH", "6.50")]),
                "cancelled": True,
            },
            {**sale("V", "2026-11-02T10:00:00Z", [good], []), "cancelled": True},
            {
                **sale("Z", "2026-11-02T10:00:00Z", [good], [payment("p", "CASH", "6.50")]),
                "timeClosed": "yesterday",
            },
        ],
        payments=[
            {
                "id": "lp-9",
                "type": "CHARGEBACK",
                "createdAt": "2026-11-02T10:00:00Z",
                "amount": "5.00",
                "fee": "0.00",
                "currency": "EUR",
            }
        ],
    )
    assert result.orders == []  # V: a void, nothing paid
    assert result.problems == [
        "sale N: line amount Decimal('6.5') is not a decimal string",
        "sale X: line amount 6.505 has more decimals than EUR has",
        "sale U: payment type 'BITCOIN' has no canonical payment type",
        "sale M: lines total 6.50 but payments (tips aside) 6.00",
        "sale T: line L has taxAmount 0.6 but its tax lines add up to 0.536697",
        "sale C: is cancelled but carries payments of 6.50",
        "sale Z: timeClosed 'yesterday' is not a date-time",
        "Lightspeed Payments record lp-9: type 'CHARGEBACK' is not one this connector knows",
    ]


# -- the client and source against the strict double ---------------------------------


def test_the_day_is_read_page_by_page_with_its_taxes_tips_and_fees():
    with LightspeedKDouble() as double:
        batch = source(double).read_period(start=START, end=END)
        assert double.violations == []
    assert [o["id"] for o in batch.orders] == ["A1", "A2", "A3"]  # not A0 (before), not A4 (void)
    a1, a2, a3 = batch.orders
    assert [(x["id"], x["totalTaxAmount"]) for x in a2["orderLineItems"]] == [
        ("A2-1", D("3.56")),
        ("A2-2", D("0.21")),
    ]
    assert [t["rate"] for t in a2["orderLineItems"][0]["taxes"]] == [D("1.48"), D("2.08")]
    assert a2["orderLineItems"][1]["discountAllocations"] == [
        {"name": "Happy hour", "totalAmount": D("0.50")}
    ]
    assert [(p["type"], p["amount"]) for p in a2["payments"]] == [
        ("Cash", D("12.50")),
        ("Card", D("21.50")),
    ]
    assert (a1["totalGratuity"], a2["totalGratuity"]) == (D("2.00"), D("1.50"))
    assert [x["id"] for x in a1["orderLineItems"]] == ["A1-1", "A1-2"]  # the voided bread left out
    assert (a3["totalAmount"], a3["totalTaxAmount"]) == (D("-6.50"), D("-1.13"))
    assert a3["orderNumber"] == "R-A3 (refund of A1)"
    assert sum(o["totalAmount"] for o in batch.orders) == D("45.50")
    kinds = {t["id"]: (t["type"], t["totalAmount"]) for t in batch.transactions}
    assert kinds == {
        "lsp-lp-1-fee": ("PaymentFee", D("-0.39")),
        "lsp-lp-2-fee": ("PaymentFee", D("-0.39")),
        "lsp-lp-3-fee": ("PaymentFeeRefund", D("0.05")),
        "lsp-lp-4": ("Payout", D("-40.00")),
        "lsp-lp-5": ("Payout", D("-15.00")),
        "lsp-lp-6": ("FailedPayout", D("15.00")),
    }
    fee = next(t for t in batch.transactions if t["id"] == "lsp-lp-2-fee")
    assert fee["transactionSourceRef"] == {"id": "p-A2-card", "type": "Payment"}
    assert batch.locations == [{"id": str(LOCATION), "name": "De Kas Amsterdam"}]
    assert {c["id"]: c["rate"] for c in batch.tax_components} == {
        "VAT9": D("0.09"),
        "VAT21": D("0.21"),
    }
    assert {c["id"] for c in batch.product_categories} == {"1", "2"}
    sales = [q for path, q in double.requests if path == SALES]
    assert [q.get("nextPageToken") for q in sales] == [None, "pt-2"]
    assert all(q["pageSize"] == "2" for q in sales)
    assert (sales[0]["from"], sales[0]["to"]) == ("2026-11-01T23:00:00Z", "2026-11-02T23:00:00Z")
    offsets = [q["offset"] for path, q in double.requests if path == PAYMENTS]
    assert offsets == ["0", "2", "4"]
    assert batch.api_calls == 1 + 2 + 3


def test_a_long_period_is_read_in_ranges_of_at_most_365_days():
    with LightspeedKDouble() as double:
        batch = source(double).read_period(start=START - timedelta(days=400), end=END)
        assert double.violations == []
    assert [o["id"] for o in batch.orders] == ["A0", "A1", "A2", "A3"]
    sales = [q for path, q in double.requests if path == SALES and "nextPageToken" not in q]
    assert len(sales) == 2 and sales[0]["to"] == sales[1]["from"]


def test_the_contract_refuses_a_page_size_above_100_and_a_range_above_365_days():
    with LightspeedKDouble() as double:
        client = LightspeedKClient(tokens=FakeTokens(TOKEN), base_url=double.url)
        with pytest.raises(DataProcessingError):
            client.get(SALES, {"from": "2025-01-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"})
        with pytest.raises(DataProcessingError):
            client.get(
                SALES,
                {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z", "pageSize": 101},
            )
        with pytest.raises(DataProcessingError):
            client.get(
                SALES, {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z", "since": "x"}
            )
        found = double.harness.take()
    assert "from..to spans more than 365 days" in found[0]
    assert "pageSize" in found[1] and "since" in found[2]
    with pytest.raises(ValueError, match="pageSize"):
        LightspeedKClient(tokens=FakeTokens(TOKEN), base_url="http://x", page_size=101)


def test_throttling_is_retried_and_an_expired_token_refreshed_once():
    sleeps: list[float] = []
    with LightspeedKDouble() as double:
        double.faults = [(429, {"Retry-After": "2"}), (503, {})]
        tokens = FakeTokens("lsk-at-stale", fresh=TOKEN)
        batch = source(double, sleeps=sleeps, tokens=tokens).read_period(start=START, end=END)
        assert double.violations == []
    assert len(batch.orders) == 3
    assert sleeps[0] == 2.0 and len(sleeps) == 2
    assert tokens.refreshed == 1


def test_a_revoked_grant_is_credentials_revoked():
    with LightspeedKDouble() as double:
        double.revoke()
        tokens = FakeTokens(TOKEN, fresh="lsk-at-refused")
        with pytest.raises(CredentialsRevoked) as raised:
            source(double, tokens=tokens).read_period(start=START, end=END)
    assert TOKEN not in str(raised.value) and "connect Lightspeed again" in str(raised.value)


def test_a_malformed_payload_is_reported_by_sale_id_and_flagged_by_the_contract():
    day = realistic_day()
    day["sales"][1]["salesLines"][0]["totalNetAmountWithTax"] = 13.0  # a number, not a string
    del day["sales"][2]["payments"][0]["type"]
    with LightspeedKDouble(day) as double:
        with pytest.raises(DataProcessingError) as raised:
            source(double).read_period(start=START, end=END)
        found = double.harness.take()
    message = str(raised.value)
    assert "location 45454: sale A1: line amount Decimal('13.0') is not a decimal string" in message
    assert "sale A2: payment type None has no canonical payment type" in message
    assert any("totalNetAmountWithTax" in v for v in found)
    assert any("'type' is a required property" in v for v in found)


def test_locations_are_chosen_and_must_keep_the_merchants_currency():
    with LightspeedKDouble() as double:
        with pytest.raises(ConfigurationError, match="45455 keeps its books in GBP"):
            source(double, location="").read_period(start=START, end=END)
        with pytest.raises(ConfigurationError, match=r"45454 \(De Kas Amsterdam\)"):
            source(double, location="999").read_period(start=START, end=END)
        london = source(double, location=str(OTHER_LOCATION))
        london.currency = "GBP"
        assert london.read_period(start=START, end=END).orders == []
        assert double.violations == []


def test_connection_settings_pick_the_environment_and_location():
    parsed = LightspeedKSettings.from_json(
        {"environment": "trial", "business_location_id": "45454"}
    )
    assert (parsed.environment, parsed.business_location_id) == ("trial", "45454")
    assert LightspeedKSettings.from_json({}).environment == "production"
    with pytest.raises(ConfigurationError, match="environment"):
        LightspeedKSettings.from_json({"environment": "staging"})
    with pytest.raises(ConfigurationError, match="business_location_id"):
        LightspeedKSettings.from_json({"business_location_id": "../1"})


# -- end to end ------------------------------------------------------------------------

LSK_ACCOUNTS = (
    ("Income:Sales:Drinks", "Drinks sales", "Income"),
    ("Liabilities:VAT:Low", "VAT 9 %", "Liability"),
    ("Liabilities:VAT:High", "VAT 21 %", "Liability"),
)
LSK_SALES = {
    "category-1": "Income:Sales:Food",
    "category-2": "Income:Sales:Drinks",
    "tax-VAT9": "Liabilities:VAT:Low",
    "tax-VAT21": "Liabilities:VAT:High",
}
LINKED_TOKENS = {"access_token": TOKEN, "refresh_token": REFRESH, "expires_at": FAR_FUTURE}
LSK_EXPECTED = {
    "Income:Sales:Food": D("-38.37"),
    "Income:Sales:Drinks": D("-7.66"),
    "Income:Sales:Refunds": D("5.37"),
    "Liabilities:VAT:Low": D("-2.76"),
    "Liabilities:VAT:High": D("-2.08"),
    "Liabilities:Tips": D("-3.50"),
    "Assets:Cash:Till": D("12.50"),
    "Assets:Clearing:Card": D("-4.23"),
    "Expenses:PaymentFees": D("0.73"),
    "Assets:Bank:Current": D("40.00"),
}


def lsk_settings(settings: Any, double: LightspeedKDouble, *, trial: bool = False) -> None:
    unreachable = "http://127.0.0.1:9"  # the other environment's host: never called
    settings.LIGHTSPEED_K_API_URL = unreachable if trial else double.url
    settings.LIGHTSPEED_K_TRIAL_API_URL = double.url if trial else unreachable
    settings.LIGHTSPEED_K_CLIENT_ID = double.client_id
    settings.LIGHTSPEED_K_CLIENT_SECRET = double.client_secret


def seed_lsk(
    settings: Any, tmp_path: Any, credentials: dict[str, Any] = LINKED_TOKENS, **connection: str
) -> Any:
    return seed(
        settings,
        tmp_path,
        platform_key="lightspeed-k",
        connection_settings={"business_location_id": str(LOCATION), **connection},
        credentials=credentials,
        currency="EUR",
        time_zone="Europe/Amsterdam",
        country="NL",
        accounts=LSK_ACCOUNTS,
        sales=LSK_SALES,
    )


@pytest.mark.django_db
def test_a_lightspeed_day_syncs_into_the_ledger_once(settings, tmp_path):
    with LightspeedKDouble() as double:
        lsk_settings(settings, double)
        seeded = seed_lsk(settings, tmp_path)
        run = sync_and_check(seeded, LSK_EXPECTED)
        assert double.violations == []
    assert run.counters["records_read"] == {"orders": 3, "transactions": 6}


@pytest.mark.django_db
def test_a_trial_connection_refreshes_its_expired_token_and_syncs(settings, tmp_path):
    with LightspeedKDouble() as double:
        lsk_settings(settings, double, trial=True)
        seeded = seed_lsk(
            settings,
            tmp_path,
            {"access_token": "lsk-at-expired", "refresh_token": REFRESH, "expires_at": LONG_AGO},
            environment="trial",
        )
        run = sync_run_execute(merchant=seeded.merchant, now=seeded.now)
        assert run is not None and run.status_code == 2000, run.messages
        assert ledger_balances(seeded.ledger_path) == LSK_EXPECTED
        assert double.token_forms == [{"grant_type": "refresh_token"}]  # once, before reading
        assert REFRESH not in double.refresh_tokens  # single-use: spent
        assert double.violations == []
    seeded.commerce.refresh_from_db()
    stored = seeded.commerce.credentials
    assert (stored["access_token"], stored["refresh_token"]) == ("lsk-at-1-0123", "lsk-rt-1-0123")
    expires_at = datetime.fromisoformat(stored["expires_at"])
    assert datetime.now(UTC) + timedelta(minutes=55) < expires_at  # expires_in 3600
    assert expires_at < datetime.now(UTC) + timedelta(minutes=61)


@pytest.mark.django_db
def test_a_revoked_grant_deauthorises_the_connection(settings, tmp_path):
    with LightspeedKDouble() as double:
        lsk_settings(settings, double)
        seeded = seed_lsk(settings, tmp_path)
        double.revoke()  # the 401 refreshes once; the refresh token is refused too
        run = sync_run_execute(merchant=seeded.merchant, now=seeded.now)
        assert double.token_forms == [{"grant_type": "refresh_token"}]
    assert run is not None and run.status_code == 4040
    seeded.commerce.refresh_from_db()
    assert seeded.commerce.status == Connection.Status.DEAUTHORIZED
    assert "connect Lightspeed again" in seeded.commerce.last_error
    incident = Incident.objects.get(
        merchant=seeded.merchant, kind=Incident.Kind.CONNECTION_DEAUTHORIZED
    )
    assert incident.key == str(seeded.commerce.pk)


@pytest.fixture
def api(client: Any, partner: Any) -> Any:
    return partner_api(client, partner)


def test_lightspeed_is_listed_with_its_branding_and_takes_oauth_tokens(api, merchant):
    (listed,) = api("get", "/config/integrations?query=key%3Dlightspeed-k").json()["results"]
    assert (listed["name"], listed["sourceType"]) == (
        "Lightspeed Restaurant (K-Series)",
        "Commerce",
    )
    assert listed["logoUrl"].endswith("/static/integrations/lightspeed-k.svg")
    assert finders.find("integrations/lightspeed-k.svg")
    assert finders.find("integrations/lightspeed-k-square.svg")
    created = api("post", f"/companies/{merchant.pk}/connections", {"platformKey": "lightspeed-k"})
    where = f"/companies/{merchant.pk}/connections/{created.json()['id']}/authorization"
    refused = api("put", where, {"api_key": TOKEN})
    assert refused.status_code == 400
    linked = api("put", where, {"access_token": TOKEN, "refresh_token": REFRESH})
    assert linked.json()["status"] == "Linked"


@pytest.mark.django_db
def test_a_merchant_connects_a_trial_lightspeed_in_the_setup_flow(
    client, partner, raw_credentials, settings
):
    merchant = MerchantFactory(partner=partner)
    lsk = connection_create(
        merchant=merchant,
        platform_key="lightspeed-k",
        source_type="commerce",
        settings={"environment": "trial", "business_location_id": str(LOCATION)},
    )
    connection_create(merchant=merchant, platform_key="beancount", source_type="accounting")
    with LightspeedKDouble() as double:
        lsk_settings(settings, double, trial=True)
        client.get(start_path(merchant))
        page = client.get("/setup/stage/commerce").content.decode()
        assert f"/setup/connect/{lsk.pk}" in page
        response = client.get(f"/setup/connect/{lsk.pk}")
        assert response.status_code == 302
        assert response["Location"].startswith(f"{double.url}/oauth/authorize?")
        asked = {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}
        assert asked["scope"] == "financial-api" and asked["client_id"] == "lsk-app"
        assert asked["code_challenge_method"] == "S256"
        back = requests.get(
            response["Location"], params={"decision": "allow"}, allow_redirects=False, timeout=5
        )
        callback = urlsplit(back.headers["Location"])
        done = client.get(f"{callback.path}?{callback.query}")
        assert done.status_code == 302 and done["Location"] == "/setup/stage/commerce"
    lsk.refresh_from_db()
    assert lsk.status == Connection.Status.LINKED
    assert lsk.credentials["refresh_token"] == "lsk-rt-1-0123"
    assert "lsk-rt-1-0123" not in raw_credentials(lsk.pk)


@pytest.mark.django_db
def test_the_merchant_picks_the_business_location_after_consent(client, partner, settings):
    merchant = MerchantFactory(partner=partner, currency="EUR", time_zone="Europe/Amsterdam")
    lsk = connection_create(
        merchant=merchant, platform_key="lightspeed-k", source_type="commerce", settings={}
    )
    with LightspeedKDouble() as double:
        lsk_settings(settings, double)
        client.get(start_path(merchant))
        response = client.get(f"/setup/connect/{lsk.pk}")
        back = requests.get(
            response["Location"], params={"decision": "allow"}, allow_redirects=False, timeout=5
        )
        callback = urlsplit(back.headers["Location"])
        picker = client.get(f"{callback.path}?{callback.query}")
        assert picker.status_code == 200
        body = picker.content.decode()
        assert "Choose the business location" in body
        # The EUR locations only: London keeps its books in GBP.
        assert "De Kas Amsterdam" in body and "De Kas Haarlem" in body
        assert "De Kas London" not in body
        lsk.refresh_from_db()
        assert lsk.status == Connection.Status.PENDING_AUTH
        refused = client.post("/setup/organisation", {"organisation": str(OTHER_LOCATION)})
        # The picker again, still about locations, saying what to do.
        assert refused.status_code == 400
        again = refused.content.decode()
        assert "Choose one of the business locations listed." in again
        assert "Choose the business location" in again and "De Kas Haarlem" in again
        lsk.refresh_from_db()
        assert lsk.status == Connection.Status.PENDING_AUTH
        chosen = client.post("/setup/organisation", {"organisation": str(SECOND_LOCATION)})
        assert chosen["Location"] == "/setup/stage/commerce"
        assert double.violations == []
    lsk.refresh_from_db()
    assert lsk.status == Connection.Status.LINKED
    assert lsk.settings["business_location_id"] == str(SECOND_LOCATION)


def lsk_xero_configuration() -> dict[str, Any]:
    configuration = stripe_xero_configuration()
    configuration["countryCode"] = "NL"
    configuration["mapSettings"] = {"outputFormat": "JournalEntry"}
    configuration["sales"]["accounts"]["gratuity"] = {"selectedAccountId": "2150"}
    configuration["payments"]["accounts"]["cash"] = {"selectedAccountId": "1000"}
    return configuration


@pytest.mark.filterwarnings("ignore:Unsupported scheme type")
@pytest.mark.django_db
def test_a_lightspeed_day_syncs_into_xero_once(partner: Any, settings: Any) -> None:
    books = uk_books()
    books.base_currency = "EUR"
    with LightspeedKDouble() as lsk, XeroDouble(books) as xero:
        lsk_settings(settings, lsk)
        settings.XERO_API_URL = xero.api_url
        settings.XERO_IDENTITY_URL = xero.url
        merchant = merchant_create(
            partner=partner,
            name="De Kas",
            country="NL",
            currency="EUR",
            time_zone="Europe/Amsterdam",
        )
        connection_create(
            merchant=merchant,
            platform_key="lightspeed-k",
            source_type=Connection.SourceType.COMMERCE,
            credentials=LINKED_TOKENS,
            settings={"business_location_id": str(LOCATION)},
            status=Connection.Status.LINKED,
        )
        day_into_xero_once(
            merchant,
            xero,
            day=DAY,
            configuration=lsk_xero_configuration(),
            now=datetime(2026, 11, 10, 9, tzinfo=AMSTERDAM),
            expected={
                "4000": "-40.66",  # 46.03 sold net less 5.37 refunded
                "2200": "-4.84",  # VAT 2.76 + 2.08
                "2150": "-3.50",
                "1000": "12.50",
                "1100": "-4.23",
                "6100": "0.73",
                "1200": "40.00",
            },
        )
        assert lsk.violations == []
