"""The SumUp connector: its translation (pure), its client against the
strict SumUp double (every exchange checked against SumUp's OpenAPI
description), and a SumUp merchant's day synced end to end into the
Beancount ledger, once.

The double's day (tests/doubles/sumup_double.py), worked by hand in EUR:

    sales       T1 12.50 card + T2 40.10 online + T3 7.40 cash  = 60.00
    refunds     T5 10.10 + the T6 chargeback 5.00               = 15.10
    payouts     30.00 sent (0.80 fee); 10.10 deducted for the refund;
                5.00 sent and failed
    SumUp balance (card clearing): 12.50 + 40.10 - 15.10 - 0.80 - 30.00
                + 10.10 - 5.00 + 5.00 = 16.80 (the payouts sweep earlier days)
    bank        30.00 - 10.10 = 19.90
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from django.contrib.staticfiles import finders

from commerce_sync.core.models import Connection
from commerce_sync.core.services.connections import connection_create
from commerce_sync.errors import ConfigurationError, CredentialsRevoked, DataProcessingError
from commerce_sync.syncs.runs import sync_run_execute
from connectors.context import SumUpSettings
from connectors.sumup import translate
from connectors.sumup.adapter import SumUpSource
from connectors.sumup.client import SumUpClient
from tests.api.codat_sync_schema import partner_api
from tests.connectors.test_sources_end_to_end import (
    LONG_AGO,
    ledger_balances,
    seed,
    sync_and_check,
)
from tests.connectors.test_stripe import stripe_xero_configuration, xero_day_synced
from tests.connectors.test_xero import uk_books
from tests.doubles.sumup_double import HISTORY, KEY, MERCHANT, PAYOUTS, SumUpDouble, item
from tests.doubles.xero_double import XeroDouble
from tests.factories import MerchantFactory
from tests.setup_flow.helpers import start_path

D = Decimal
BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 11, 2, tzinfo=BERLIN)
END = datetime(2026, 11, 3, tzinfo=BERLIN)


def source(double: SumUpDouble, sleeps: list[float] | None = None) -> SumUpSource:
    client = SumUpClient(
        api_key=KEY,
        merchant_code=MERCHANT,
        base_url=double.url,
        page_size=2,
        sleep=(sleeps if sleeps is not None else []).append,
    )
    return SumUpSource(client, time_zone="Europe/Berlin")


def test_major_unit_amounts_are_decimals_never_floats():
    (order,) = translate.transaction_order(
        {**item("X", "2026-11-02T08:00:00Z", 0), "amount": D("10.1")}
    )
    assert order["totalAmount"] == D("10.10") and isinstance(order["totalAmount"], Decimal)
    result = translate.translate_period(
        history=[
            item("F", "2026-11-02T08:00:00Z", 10.1),  # a float: never trusted
            {**item("P", "2026-11-02T08:00:00Z", 0), "amount": D("1.005")},
            {**item("U", "2026-11-02T08:00:00Z", 0), "amount": D(1), "payment_type": "UNKNOWN"},
        ]
    )
    assert result.orders == []
    assert result.problems == [
        "transaction F: amount 10.1 is not a decimal number",
        "transaction P: amount 1.005 has more decimals than EUR has",
        "transaction U: payment type 'UNKNOWN' has no canonical payment type",
    ]


def test_the_day_is_read_page_by_page_and_payouts_by_their_date():
    with SumUpDouble() as double:
        batch = source(double).read_period(start=START, end=END)
        assert double.violations == []
    assert [o["id"] for o in batch.orders] == ["T1", "T2", "T3", "T5", "T6"]  # not T0, not T4
    assert [o["payments"][0]["type"] for o in batch.orders] == ["Card"] * 2 + ["Cash"] + [
        "Card"
    ] * 2
    assert sum(o["totalAmount"] for o in batch.orders) == D("44.90")
    kinds = {t["id"]: (t["type"], t["totalAmount"]) for t in batch.transactions}
    assert kinds == {
        "payout-1": ("Payout", D("-30.00")),
        "payout-1-fee": ("PaymentFee", D("-0.80")),
        "payout-2": ("Payout", D("10.10")),  # deducted: less reached the bank
        "payout-3": ("Payout", D("-5.00")),
        "payout-3-failed": ("FailedPayout", D("5.00")),
    }
    # Payouts dated 2 November are booked at its start in Berlin.
    assert {t["createdDate"] for t in batch.transactions} == {"2026-11-02T00:00:00+01:00"}
    history = [q for path, q in double.requests if path == HISTORY]
    assert history[0]["oldest_time"] == "2026-11-01T23:00:00Z"
    assert [q.get("oldest_ref") for q in history] == [None, "T2", "T4"]
    assert all(q["newest_time"] == "2026-11-02T23:00:00Z" for q in history)
    (payouts,) = [q for path, q in double.requests if path == PAYOUTS]
    assert (payouts["start_date"], payouts["end_date"]) == ("2026-11-02", "2026-11-02")
    assert batch.api_calls == 4


def test_transient_faults_are_retried_and_a_revoked_key_is_credentials_revoked():
    sleeps: list[float] = []
    with SumUpDouble() as double:
        double.faults = [(429, {"Retry-After": "1"}), (503, {})]
        assert len(source(double, sleeps).read_period(start=START, end=END).orders) == 5
        assert sleeps[0] == 1.0 and len(sleeps) == 2
        double.revoke()
        with pytest.raises(CredentialsRevoked) as raised:
            source(double).read_period(start=START, end=END)
    assert KEY not in str(raised.value)


def test_a_query_parameter_sumup_does_not_define_is_a_violation():
    with SumUpDouble() as double:
        client = SumUpClient(api_key=KEY, merchant_code=MERCHANT, base_url=double.url)
        with pytest.raises(DataProcessingError):
            client.get(HISTORY, {"since": "2026-11-02T00:00:00Z"})
        found = double.harness.take()
    assert "query parameter 'since' is not one the vendor defines" in found[0]


def test_a_connection_needs_its_merchant_code():
    assert SumUpSettings.from_json({"merchant_code": MERCHANT}).merchant_code == MERCHANT
    with pytest.raises(ConfigurationError, match="merchant_code"):
        SumUpSettings.from_json({"merchant_code": "../x"})


SUMUP_EXPECTED = {
    "Income:Sales:Other": D("-60.00"),
    "Income:Sales:Refunds": D("15.10"),
    "Assets:Cash:Till": D("7.40"),
    "Assets:Clearing:Card": D("16.80"),
    "Expenses:PaymentFees": D("0.80"),
    "Assets:Bank:Current": D("19.90"),
}


@pytest.mark.django_db
def test_a_sumup_day_syncs_into_the_ledger_once(settings, tmp_path):
    with SumUpDouble() as double:
        settings.SUMUP_API_URL = double.url
        seeded = seed(
            settings,
            tmp_path,
            platform_key="sumup",
            connection_settings={"merchant_code": MERCHANT},
            credentials={"api_key": KEY},
            currency="EUR",
            time_zone="Europe/Berlin",
            country="DE",
        )
        run = sync_and_check(seeded, SUMUP_EXPECTED)
        assert double.violations == []
    assert run.counters["records_read"] == {"orders": 5, "transactions": 5}


@pytest.mark.django_db
def test_a_revoked_sumup_key_deauthorises_the_connection(settings, tmp_path):
    with SumUpDouble() as double:
        settings.SUMUP_API_URL = double.url
        seeded = seed(
            settings,
            tmp_path,
            platform_key="sumup",
            connection_settings={"merchant_code": MERCHANT},
            credentials={"api_key": KEY},
            currency="EUR",
            time_zone="Europe/Berlin",
            country="DE",
        )
        double.revoke()
        run = sync_run_execute(merchant=seeded.merchant, now=seeded.now)
    assert run is not None and run.status_code == 4040
    seeded.commerce.refresh_from_db()
    assert seeded.commerce.status == Connection.Status.DEAUTHORIZED


@pytest.fixture
def api(client: Any, partner: Any) -> Any:
    return partner_api(client, partner)


def test_sumup_is_listed_and_takes_an_api_key(api: Any, merchant: Any) -> None:
    (listed,) = api("get", "/config/integrations?query=key%3Dsumup").json()["results"]
    assert (listed["name"], listed["sourceType"]) == ("SumUp", "Commerce")
    assert finders.find("integrations/sumup.svg") and finders.find("integrations/sumup-square.svg")
    created = api("post", f"/companies/{merchant.pk}/connections", {"platformKey": "sumup"})
    where = f"/companies/{merchant.pk}/connections/{created.json()['id']}/authorization"
    refused = api("put", where, {"token": KEY})
    assert refused.status_code == 400
    items = {e["itemId"] for e in refused.json()["validation"]["errors"]}
    assert items == {"api_key", "token", "credentials"}
    half = api("put", where, {"access_token": KEY})  # OAuth tokens come in pairs
    assert {e["itemId"] for e in half.json()["validation"]["errors"]} == {
        "refresh_token",
        "credentials",
    }
    # The API paths name the merchant: its code comes with the key.
    nameless = api("put", where, {"api_key": KEY})
    assert {e["itemId"] for e in nameless.json()["validation"]["errors"]} == {"merchant_code"}
    bad = api("put", where, {"api_key": KEY, "merchant_code": "MH-4H"})
    assert {e["itemId"] for e in bad.json()["validation"]["errors"]} == {"merchant_code"}
    linked = api("put", where, {"api_key": KEY, "merchant_code": MERCHANT})
    assert linked.json()["status"] == "Linked"
    row = Connection.objects.get(pk=created.json()["id"])
    assert row.settings == {"merchant_code": MERCHANT} and row.credentials == {"api_key": KEY}


# -- OAuth ---------------------------------------------------------------------------


def sumup_oauth_settings(settings: Any, double: SumUpDouble) -> None:
    settings.SUMUP_API_URL = double.url
    settings.SUMUP_CLIENT_ID = double.client_id
    settings.SUMUP_CLIENT_SECRET = double.client_secret


@pytest.mark.django_db
def test_a_merchant_connects_sumup_in_the_setup_flow(client, partner, raw_credentials):
    merchant = MerchantFactory(partner=partner)
    sumup = connection_create(
        merchant=merchant,
        platform_key="sumup",
        source_type="commerce",
        settings={"merchant_code": MERCHANT},
    )
    connection_create(merchant=merchant, platform_key="beancount", source_type="accounting")
    with SumUpDouble() as double:
        from django.conf import settings

        sumup_oauth_settings(settings, double)
        client.get(start_path(merchant))
        page = client.get("/setup/stage/commerce").content.decode()
        assert f"/setup/connect/{sumup.pk}" in page
        response = client.get(f"/setup/connect/{sumup.pk}")
        assert response.status_code == 302
        asked = {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}
        assert response["Location"].startswith(f"{double.url}/authorize?")
        assert asked["scope"] == "transactions.history payouts.read"
        assert asked["code_challenge_method"] == "S256" and asked["client_id"] == "sumup-app"
        back = requests.get(response["Location"], allow_redirects=False, timeout=5)
        callback = urlsplit(back.headers["Location"])
        done = client.get(f"{callback.path}?{callback.query}")
        assert done.status_code == 302 and done["Location"] == "/setup/stage/commerce"
    sumup.refresh_from_db()
    assert sumup.status == Connection.Status.LINKED
    assert sumup.credentials["refresh_token"] == "sumup-rt-1-0123"
    assert "sumup-rt-1-0123" not in raw_credentials(sumup.pk)
    assert sumup.settings["merchant_code"] == MERCHANT


@pytest.mark.django_db
def test_an_oauth_connection_refreshes_its_expired_token_and_syncs(settings, tmp_path):
    with SumUpDouble() as double:
        sumup_oauth_settings(settings, double)
        double.grant_refresh_token("sumup-rt-stored-0123")
        seeded = seed(
            settings,
            tmp_path,
            platform_key="sumup",
            connection_settings={"merchant_code": MERCHANT},
            credentials={
                "access_token": "sumup-at-expired-0123",
                "refresh_token": "sumup-rt-stored-0123",
                "expires_at": LONG_AGO,
            },
            currency="EUR",
            time_zone="Europe/Berlin",
            country="DE",
        )
        run = sync_run_execute(merchant=seeded.merchant, now=seeded.now)
        assert run is not None and run.status_code == 2000, run.messages
        assert ledger_balances(seeded.ledger_path) == SUMUP_EXPECTED
        assert double.token_forms == [{"grant_type": "refresh_token"}]  # once, before reading
        assert double.violations == []
    seeded.commerce.refresh_from_db()
    assert seeded.commerce.credentials["refresh_token"] == "sumup-rt-1-0123"  # rotated
    assert seeded.commerce.credentials["access_token"] == "sumup-at-1-0123"


@pytest.mark.filterwarnings("ignore:Unsupported scheme type")
@pytest.mark.django_db
def test_a_sumup_day_syncs_into_xero_once(partner: Any, settings: Any) -> None:
    books = uk_books()
    books.base_currency = "EUR"
    now = datetime(2026, 11, 10, 9, tzinfo=BERLIN)
    configuration = stripe_xero_configuration()
    configuration["countryCode"] = "DE"
    configuration["payments"]["accounts"]["cash"] = {"selectedAccountId": "1000"}
    with SumUpDouble() as sumup, XeroDouble(books) as xero:
        settings.SUMUP_API_URL = sumup.url
        settings.XERO_API_URL = xero.api_url
        settings.XERO_IDENTITY_URL = xero.url
        xero_day_synced(
            partner,
            xero,
            platform_key="sumup",
            credentials={"api_key": KEY},
            connection_settings={"merchant_code": MERCHANT},
            configuration=configuration,
            expected={
                "4000": "-44.90",  # 60.00 sold less 15.10 refunded and charged back
                "1000": "7.40",
                "1100": "16.80",
                "6100": "0.80",
                "1200": "19.90",
            },
            now=now,
            currency="EUR",
            time_zone="Europe/Berlin",
            country="DE",
        )
        assert sumup.violations == []
