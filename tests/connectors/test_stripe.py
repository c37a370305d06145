"""The Stripe connector: its translation (pure), its client against the
strict Stripe double (every exchange checked against Stripe's OpenAPI
description), and a Stripe merchant's day synced end to end into the
Beancount ledger and into the Xero double, once.

The double's day (tests/doubles/stripe_double.py), worked by hand in GBP:

    sales       ch_A 25.00 + ch_B 30.00 (captured of 40.00) + ch_D 18.00
                + ch_E 50.00                                   = 123.00
    (ch_C failed: nothing)
    refunds     re_D 8.00 + the dispute on ch_E 50.00          =  58.00
    fees        0.48 + 0.10 + 0.65 + 0.52 + 1.45 (charges)
                + 15.00 (dispute fee) + 2.00 (Radar)           =  20.20
    fee back    the +1.50 balance adjustment                   =   1.50
    payouts     po_1 46.30 to the bank; po_2 10.00 out and back
    Stripe balance (card clearing): 123.00 - 58.00 - 20.20 + 1.50 - 46.30
                - 10.00 + 10.00 = 0: po_1 settles exactly the day.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.staticfiles import finders

from commerce_sync.core.models import Connection, Incident
from commerce_sync.core.services.connections import connection_create
from commerce_sync.core.services.merchants import merchant_create
from commerce_sync.errors import CredentialsRevoked, DataProcessingError, RateLimited
from commerce_sync.syncs.runs import sync_run_execute
from connectors import registry
from connectors.stripe import translate
from connectors.stripe.adapter import StripeSource
from connectors.stripe.client import StripeClient
from tests.api.codat_sync_schema import partner_api
from tests.connectors.test_sources_end_to_end import DAY, ledger_balances, seed, sync_and_check
from tests.connectors.test_xero import CUSTOMER, SUPPLIER, uk_books
from tests.connectors.xero_once import day_into_xero_once
from tests.doubles.stripe_double import KEY, StripeDouble, at, bt, charge, realistic_day
from tests.doubles.xero_double import XeroDouble

D = Decimal
START = datetime(2026, 11, 2, tzinfo=UTC)
END = datetime(2026, 11, 3, tzinfo=UTC)


# -- translation -----------------------------------------------------------------


def test_zero_decimal_currencies_use_their_exponent():
    order = translate.charge_order(charge("ch_Y", at(10), 1500, currency="jpy"))[0]
    assert (order["currency"], order["totalAmount"]) == ("JPY", D(1500))
    kwd = translate.charge_order(charge("ch_K", at(10), 1500, currency="kwd"))[0]
    assert kwd["totalAmount"] == D("1.500")  # three decimals
    (fee,) = translate.balance_transaction(
        bt(
            "txn_Y",
            at(10),
            "charge",
            1500,
            fees=(("stripe_fee", 54),),
            source="ch_Y",
            currency="jpy",
        )
    )[1]
    assert (fee["currency"], fee["totalAmount"]) == ("JPY", D(-54))


def test_a_charge_is_a_one_line_order_at_its_description():
    (order,) = translate.charge_order(
        charge("ch_B", at(11), 4000, captured=3000, description="Hamper")
    )
    (line,) = order["orderLineItems"]
    assert line["description"] == "Hamper"
    assert line["totalAmount"] == order["totalAmount"] == D("30.00")  # what was captured
    assert order["orderNumber"] == "pi_B"
    assert order["createdDate"] == "2026-11-02T11:00:00+00:00"
    assert order["payments"] == [
        {"id": "ch_B", "type": "Card", "amount": D("30.00"), "currency": "GBP", "status": "Paid"}
    ]
    assert translate.charge_order(charge("ch_C", at(11), 100, status="failed")) == []


def test_a_pending_charge_sells_and_its_failure_takes_the_sale_back():
    (order,) = translate.charge_order(charge("ch_P", at(9), 2000, status="pending"))
    assert order["payments"][0]["status"] == "Paid"  # the balance holds it, pending
    failed = bt("txn_F", at(20), "payment_failure_refund", -2000, source="ch_P")
    (orders, fees) = translate.balance_transaction(failed)
    assert [(o["id"], o["totalAmount"]) for o in orders] == [("payment-failure-txn_F", D("-20.00"))]
    assert orders[0]["orderLineItems"][0]["description"] == "Payment failed ch_P"
    assert fees == []


def test_what_does_not_fit_is_named_by_id_never_dropped():
    broken_fees = bt("txn_X", at(9), "charge", 1000, fees=(("stripe_fee", 30),), source="ch_X")
    broken_fees["fee"] = 31  # not the sum of its details
    result = translate.translate_period(
        charges=[{**charge("ch_Z", at(9), 100), "currency": None}],
        balance_transactions=[broken_fees, bt("txn_T", at(9), "topup", 5000)],
    )
    assert result.orders == result.transactions == []
    assert len(result.problems) == 3
    assert "charge ch_Z: currency None" in result.problems[0]
    assert "balance transaction txn_X: fee 0.31 is not the sum" in result.problems[1]
    assert "balance transaction txn_T: type 'topup'" in result.problems[2]


def test_a_payout_that_does_not_settle_what_it_names_is_a_warning():
    day = realistic_day()
    settled = {"po_1": [b for b in day["balance_transactions"] if b["id"] != "txn_radar"]}
    result = translate.translate_period(payouts=day["payouts"][:1], settled=settled)
    assert result.warnings == [
        "payout po_1: the balance transactions it settled leave 2.00 GBP unexplained"
    ]


# -- the client against the strict double -------------------------------------------


def source(double: StripeDouble, sleeps: list[float] | None = None) -> StripeSource:
    client = StripeClient(
        api_key=KEY, base_url=double.url, sleep=(sleeps if sleeps is not None else []).append
    )
    return StripeSource(client)


def test_a_day_is_read_to_the_end_of_every_list():
    with StripeDouble(page_size=2) as double:
        stripe = source(double)
        batch = stripe.read_period(start=START, end=END)
        assert double.violations == []
    assert sorted(o["id"] for o in batch.orders) == [
        "ch_A",
        "ch_B",
        "ch_D",
        "ch_E",
        "dispute-txn_dp_E",
        "refund-re_D",
    ]
    assert len(batch.transactions) == 11
    # Every page after the first continued after the last object of the one before.
    pages = [q for path, q in double.requests if path == "/v1/balance_transactions"]
    # Newest first, two a page: 22:00, 21:00 | 20:00, 19:00 | ...
    assert [q.get("starting_after") for q in pages[:3]] == [None, "txn_po_2", "txn_adj"]
    assert all(q["created[gte]"] == "1793577600" for q in pages if "payout" not in q)
    assert all(q["created[lt]"] == "1793664000" for q in pages if "payout" not in q)
    assert any(q.get("payout") == "po_1" for q in pages)  # po_1 checked; po_2 is manual
    assert not any(q.get("payout") == "po_2" for q in pages)
    assert batch.api_calls == len(double.requests) == 16
    assert stripe.warnings == []
    totals = {t["id"]: t["totalAmount"] for t in batch.transactions}
    assert sum(totals.values()) == D("-65.00")  # fees -20.20 + 1.50, payouts -56.30 + 10.00
    # ... which is what the orders brought in: the day's balance nets to zero.
    assert sum(o["totalAmount"] for o in batch.orders) == D("65.00")


def test_rate_limits_are_waited_out_with_the_shared_retry_policy():
    sleeps: list[float] = []
    with StripeDouble(page_size=100) as double:
        double.faults = [(429, {"Retry-After": "2"}), (500, {})]
        batch = source(double, sleeps).read_period(start=START, end=END)
        assert double.violations == []
    assert len(batch.orders) == 6
    assert sleeps[0] == 2.0 and len(sleeps) == 2  # as Stripe asked, then a backoff


def test_a_rate_limit_too_long_for_a_sync_is_handed_to_the_scheduler():
    with StripeDouble() as double:
        double.faults = [(429, {"Retry-After": "120"})]
        with pytest.raises(RateLimited) as raised:
            source(double).read_period(start=START, end=END)
    assert raised.value.retry_after == 120.0


def test_a_revoked_key_is_credentials_revoked_without_the_key_in_the_message():
    with StripeDouble() as double:
        double.revoke()
        with pytest.raises(CredentialsRevoked) as raised:
            source(double).read_period(start=START, end=END)
    assert "revoked or rolled" in str(raised.value)
    assert KEY not in str(raised.value) and KEY not in repr(source(double).client)


def test_a_key_without_a_permission_names_what_it_lacks():
    with StripeDouble() as double:
        double.faults = [(403, {})]
        with pytest.raises(CredentialsRevoked) as raised:
            source(double).read_period(start=START, end=END)
    assert "Stripe refused /v1/charges (403)" in str(raised.value)


def test_a_list_announcing_more_without_new_objects_stops_instead_of_looping():
    class Endless(StripeClient):
        def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
            self.calls += 1
            return {"object": "list", "data": [], "has_more": True, "url": path}

    client = Endless(api_key=KEY, base_url="http://127.0.0.1:9", sleep=lambda _: None)
    with pytest.raises(DataProcessingError, match="gave no new object"):
        list(client.charges(start=0, end=1))
    assert client.calls == 1


def test_a_query_parameter_stripe_does_not_define_is_a_violation():
    with StripeDouble() as double:
        client = StripeClient(api_key=KEY, base_url=double.url, sleep=lambda _: None)
        with pytest.raises(DataProcessingError):
            list(client.pages("/v1/charges", {"created_after": 1}))
        with pytest.raises(DataProcessingError):
            list(client.pages("/v1/charges", {"created[since]": 1}))
        found = double.harness.take()
    assert any("query parameter 'created_after' is not one the vendor defines" in f for f in found)
    assert any("'created[since]' is not a range the vendor defines" in f for f in found)


def test_an_unreadable_record_stops_the_read_naming_it():
    day = realistic_day()
    day["balance_transactions"].append(bt("txn_T", at(12), "topup", 5000))
    with StripeDouble(day) as double, pytest.raises(DataProcessingError) as raised:
        source(double).read_period(start=START, end=END)
    assert "txn_T: type 'topup' moves money with no canonical transaction" in str(raised.value)


# -- registration --------------------------------------------------------------------


@pytest.fixture
def api(client: Any, partner: Any) -> Any:
    return partner_api(client, partner)


def test_stripe_is_listed_with_its_branding(api: Any) -> None:
    assert "stripe" in registry.COMMERCE_SOURCES
    listed = api("get", "/config/integrations?query=key%3Dstripe").json()["results"]
    assert [(i["key"], i["name"], i["sourceType"]) for i in listed] == [
        ("stripe", "Stripe", "Commerce")
    ]
    assert listed[0]["logoUrl"].endswith("/static/integrations/stripe.svg")
    assert finders.find("integrations/stripe.svg") and finders.find(
        "integrations/stripe-square.svg"
    )


def test_a_stripe_connection_takes_an_api_key_and_nothing_else(api: Any, merchant: Any) -> None:
    created = api("post", f"/companies/{merchant.pk}/connections", {"platformKey": "stripe"})
    assert created.status_code == 200 and created.json()["status"] == "PendingAuth"
    where = f"/companies/{merchant.pk}/connections/{created.json()['id']}/authorization"
    refused = api("put", where, {"access_token": KEY})
    assert refused.status_code == 400
    items = {e["itemId"]: e["message"] for e in refused.json()["validation"]["errors"]}
    assert items["api_key"] == "Required for this platform."
    assert items["access_token"] == "Not a credential of this platform."
    assert "stripe takes api_key" in items["credentials"]
    linked = api("put", where, {"api_key": KEY})
    assert linked.status_code == 200 and linked.json()["status"] == "Linked"
    assert KEY.encode() not in linked.content
    assert Connection.objects.get(pk=created.json()["id"]).credentials == {"api_key": KEY}


# -- end to end ----------------------------------------------------------------------

STRIPE_EXPECTED = {
    "Income:Sales:Other": D("-123.00"),
    "Income:Sales:Refunds": D("58.00"),  # re_D 8.00 and the dispute's 50.00
    "Expenses:PaymentFees": D("18.70"),  # 20.20 charged, 1.50 given back
    "Assets:Bank:Current": D("46.30"),  # po_1; po_2 went out and came back
    # Assets:Clearing:Card (the Stripe balance) nets to zero: po_1 swept the day.
}


@pytest.mark.django_db
def test_a_stripe_day_syncs_into_the_ledger_once(settings, tmp_path):
    with StripeDouble(page_size=3) as double:
        settings.STRIPE_API_URL = double.url
        seeded = seed(
            settings,
            tmp_path,
            platform_key="stripe",
            connection_settings={},
            credentials={"api_key": KEY},
        )
        run = sync_and_check(seeded, STRIPE_EXPECTED)
        assert double.violations == []
    assert run.counters["records_read"] == {"orders": 6, "transactions": 11}
    assert ledger_balances(seeded.ledger_path).get("Assets:Clearing:Card") is None


@pytest.mark.django_db
def test_a_revoked_key_deauthorises_the_connection(settings, tmp_path):
    with StripeDouble() as double:
        settings.STRIPE_API_URL = double.url
        seeded = seed(
            settings,
            tmp_path,
            platform_key="stripe",
            connection_settings={},
            credentials={"api_key": KEY},
        )
        double.revoke()
        run = sync_run_execute(merchant=seeded.merchant, now=seeded.now)
    assert run is not None and run.status_code == 4040
    seeded.commerce.refresh_from_db()
    assert seeded.commerce.status == Connection.Status.DEAUTHORIZED
    assert "revoked or rolled" in seeded.commerce.last_error
    incident = Incident.objects.get(
        merchant=seeded.merchant, kind=Incident.Kind.CONNECTION_DEAUTHORIZED
    )
    assert incident.key == str(seeded.commerce.pk)


def stripe_xero_configuration() -> dict[str, Any]:
    return {
        "countryCode": "GB",
        "mapSettings": {"outputFormat": "Invoice"},
        "sales": {
            "syncSales": True,
            "salesCustomer": {"selectedCustomerId": CUSTOMER},
            "accounts": {
                "sales": {"selectedAccountId": "4000"},
                "refund": {"selectedAccountId": "4000"},
                "tax": {"selectedAccountId": "2200"},
            },
            # Stripe charges carry no tax: every line is at the zero rate.
            "taxRates": {"0": {"selectedTaxRateId": "ZERORATEDOUTPUT"}},
            "newTaxRates": {"selectedDefaultZeroTaxRateId": "ZERORATEDOUTPUT"},
            "invoiceStatus": {"selectedInvoiceStatus": "Submitted"},
            "grouping": {"groupingPeriod": {"selectedGroupingPeriod": "Daily"}},
        },
        "payments": {
            "syncPayments": True,
            "accounts": {
                "card": {"selectedAccountId": "1100"},
                "payout": {"selectedAccountId": "1200"},
            },
        },
        "fees": {
            "syncFees": True,
            "feesSupplier": {"selectedSupplierId": SUPPLIER},
            "accounts": {
                "paymentFee": {"selectedAccountId": "6100"},
                "paymentFeeRefund": {"selectedAccountId": "6100"},
            },
        },
    }


def xero_day_synced(
    partner: Any,
    xero: XeroDouble,
    *,
    platform_key: str,
    credentials: dict[str, str],
    connection_settings: dict[str, Any],
    configuration: dict[str, Any],
    expected: dict[str, str],
    now: datetime,
    currency: str = "GBP",
    time_zone: str = "Europe/London",
    country: str = "GB",
) -> None:
    """A merchant on `platform_key` (its double already serving) booking into
    the Xero double: DAY synced once, Xero's accounts as `expected`, every
    document dated DAY; the same day read again writes nothing."""
    merchant = merchant_create(
        partner=partner, name="Shop", country=country, currency=currency, time_zone=time_zone
    )
    connection_create(
        merchant=merchant,
        platform_key=platform_key,
        source_type=Connection.SourceType.COMMERCE,
        credentials=credentials,
        settings=connection_settings,
        status=Connection.Status.LINKED,
    )
    day_into_xero_once(
        merchant, xero, day=DAY, configuration=configuration, now=now, expected=expected
    )


@pytest.mark.filterwarnings("ignore:Unsupported scheme type")
def test_a_stripe_day_syncs_into_xero_once(partner: Any, settings: Any) -> None:
    with StripeDouble() as stripe, XeroDouble(uk_books()) as xero:
        settings.STRIPE_API_URL = stripe.url
        settings.XERO_API_URL = xero.api_url
        settings.XERO_IDENTITY_URL = xero.url
        xero_day_synced(
            partner,
            xero,
            platform_key="stripe",
            credentials={"api_key": KEY},
            connection_settings={},
            configuration=stripe_xero_configuration(),
            expected={
                "4000": "-65.00",  # 123.00 sold less 58.00 refunded and disputed
                "6100": "18.70",
                "1200": "46.30",
            },
            now=datetime(2026, 11, 10, 9, tzinfo=UTC),
        )
        assert stripe.violations == []
