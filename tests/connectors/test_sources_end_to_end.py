"""End to end, one merchant per commerce source: seeded like the demo café
(Beancount ledger under tmp_path, the demo chart of accounts plus what the
source's day needs), its commerce connection switched to the platform and
pointed at the platform's local double, then `sync_run_execute` through the
real registry builder. The ledger must load cleanly and hold, account by
account, the figures worked out by hand from the double's day; syncing again
(nothing due, then the same day re-read) writes nothing.

The hand-worked figures are the translation tests' (tests/connectors/
test_square.py, test_shopify.py, test_zettle.py), moved from their scenario
account numbers to the demo ledger's accounts; the partner's day is written
here in the Codat shape and worked out below it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from beancount import loader
from beancount.core import data as bean

from commerce_sync.core.models import Connection, Merchant, SyncRun
from commerce_sync.core.services.connections import connection_target
from commerce_sync.core.services.demo import demo_configuration, demo_seed
from commerce_sync.core.services.merchants import sync_configuration_save
from commerce_sync.core.services.partners import partner_api_key_create
from commerce_sync.syncs.runs import sync_run_execute
from connectors import registry
from tests.doubles import codat_schema
from tests.doubles.partner_double import PartnerDouble
from tests.doubles.shopify_double import SHOP, ShopifyDouble, realistic_day
from tests.doubles.shopify_double import TOKEN as SHOPIFY_TOKEN
from tests.doubles.square_double import SquareDouble
from tests.doubles.zettle_double import ORG, ZettleDouble
from tests.doubles.zettle_double import TOKEN as ZETTLE_TOKEN

# openapi-core (the Zettle double) cannot check Zettle's oauth2 scheme itself.
pytestmark = [
    pytest.mark.django_db(transaction=False),
    pytest.mark.filterwarnings("ignore:Unsupported scheme type"),
]

D = Decimal
DAY = date(2026, 11, 2)  # every double's day
FAR_FUTURE = datetime(2099, 1, 1, tzinfo=UTC).isoformat()
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC).isoformat()


# -- the merchant ---------------------------------------------------------------


@dataclass
class Seeded:
    merchant: Merchant
    commerce: Connection
    ledger_path: str
    now: datetime  # a moment on the day after DAY, once the sync hour has passed


def selected(account: str) -> dict[str, str]:
    return {"selectedAccountId": account}


def seed(
    settings: Any,
    tmp_path: Path,
    *,
    platform_key: str,
    connection_settings: dict[str, Any],
    credentials: dict[str, Any],
    currency: str = "GBP",
    time_zone: str = "Europe/London",
    country: str = "GB",
    accounts: tuple[tuple[str, str, str], ...] = (),
    sales: dict[str, str] | None = None,
) -> Seeded:
    """The demo café, moved to `platform_key` and (if need be) another country,
    with `accounts` opened in its ledger and mapped by the `sales` keys."""
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    demo = demo_seed(days=1, orders_per_day=1, today=DAY + timedelta(days=1))
    merchant = demo.merchant
    Merchant.objects.filter(pk=merchant.pk).update(
        currency=currency, time_zone=time_zone, country=country
    )
    merchant.refresh_from_db()
    commerce = merchant.connections.get(source_type=Connection.SourceType.COMMERCE)
    commerce.platform_key = platform_key
    commerce.settings = connection_settings
    commerce.credentials = credentials
    commerce.save()
    ledger = merchant.connections.get(source_type=Connection.SourceType.ACCOUNTING)
    target = connection_target(connection=ledger)
    for account_id, name, account_type in accounts:
        target.create_account(account_id=account_id, name=name, account_type=account_type)
    document = demo_configuration()
    document["countryCode"] = country
    document["sales"]["accounts"] |= {k: selected(v) for k, v in (sales or {}).items()}
    sync_configuration_save(
        merchant=merchant,
        document=document,
        start_date=DAY,
        sync_hour=0,
        time_zone=time_zone,
        actor="system",
    )
    merchant.refresh_from_db()
    # 03:00 local on the next day: exactly DAY is due.
    now = datetime(2026, 11, 3, 3, tzinfo=ZoneInfo(time_zone))
    return Seeded(merchant, commerce, demo.ledger_path, now)


def ledger_balances(path: str) -> dict[str, Decimal]:
    entries, errors, _ = loader.load_file(path)
    assert errors == [], [e.message for e in errors]
    totals: dict[str, Decimal] = {}
    for entry in entries:
        if isinstance(entry, bean.Transaction):
            for posting in entry.postings:
                totals[posting.account] = totals.get(posting.account, D(0)) + posting.units.number
    return {k: v for k, v in totals.items() if v}


def sync_and_check(seeded: Seeded, expected: dict[str, Decimal]) -> SyncRun:
    """One sync of DAY, the ledger checked against `expected`, then two more
    syncs that must write nothing."""
    assert sum(expected.values()) == 0  # the hand-worked books balance
    run = sync_run_execute(merchant=seeded.merchant, now=seeded.now)
    assert run is not None
    assert run.status_code == 2000, run.messages
    assert run.status == SyncRun.Status.SUCCEEDED and run.data_pushed
    assert run.period_end - run.period_start == timedelta(days=1)
    assert ledger_balances(seeded.ledger_path) == expected
    # Every transaction the ledger recorded is dated the period's business day.
    entries, _, _ = loader.load_file(seeded.ledger_path)
    dates = {e.date for e in entries if isinstance(e, bean.Transaction)}
    assert dates == {DAY}, dates
    before = Path(seeded.ledger_path).read_bytes()

    # Nothing is due any more.
    assert sync_run_execute(merchant=seeded.merchant, now=seeded.now) is None
    # The same day read again from the platform (as after a run that crashed
    # once it had written): every record is found unchanged, nothing is written.
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.FAILED, status_code=5000)
    again = sync_run_execute(merchant=seeded.merchant, now=seeded.now)
    assert again is not None
    assert again.status_code == 2040, again.messages
    assert (again.period_start, again.period_end) == (run.period_start, run.period_end)
    read = run.counters["records_read"]
    assert again.counters["records"]["unchanged"] == read["orders"] + read["transactions"]
    assert Path(seeded.ledger_path).read_bytes() == before
    return run


# -- Square -------------------------------------------------------------------

SQUARE_ACCOUNTS = (
    ("Liabilities:Tax:GST", "GST collected", "Liability"),
    ("Liabilities:Tax:PST", "PST collected", "Liability"),
)
SQUARE_SALES = {
    "category-CAT-FOOD": "Income:Sales:Food",
    "category-CAT-MERCH": "Income:Sales:Retail",
    "tax-TAX-GST": "Liabilities:Tax:GST",
    "tax-TAX-PST": "Liabilities:Tax:PST",
}
# test_square.py's books, by category: mugs are merchandise, beans and the
# sandwich food; the returned mug goes to refunds net of its taxes.
SQUARE_EXPECTED = {
    "Income:Sales:Retail": D("-36.00"),  # two mugs 40.00 less the 10% loyalty discount
    "Income:Sales:Food": D("-30.00"),  # beans 18.00 + sandwich 12.00
    "Income:Sales:Delivery": D("-5.00"),  # the delivery charge, net of GST
    "Income:Sales:Refunds": D("18.00"),  # one mug returned (20.00 less 2.00 discount)
    "Liabilities:Tips": D("-5.00"),  # the card tip on ORD-1
    "Liabilities:GiftCards": D("-40.00"),  # 50.00 sold, 10.00 redeemed on ORD-3
    "Liabilities:Tax:GST": D("-2.65"),  # 1.80 + 0.90 + 0.60 + 0.25 - 0.90
    "Liabilities:Tax:PST": D("-1.26"),  # 2.52 - 1.26
    "Assets:Cash:Till": D("24.22"),  # ORD-1's cash tender
    # Assets:Clearing:Card nets to zero, so it is absent: 40.00 + 50.00 + 7.85
    # - 20.16 refund - fees 2.84 + 0.58 back - PO-1's deposit fee 1.50 + an older
    # one's 0.45 back = 74.38, swept out by PO-1 (the sum of its entries' nets).
    # 1.16 + 1.45 + 0.23 - 0.58, plus PO-1's entries: deposit fee 1.50 - 0.45 back
    "Expenses:PaymentFees": D("3.31"),
    "Assets:Bank:Current": D("74.38"),  # PO-1; PO-2 failed and came back
}


def test_every_source_and_target_is_registered():
    assert set(registry.COMMERCE_SOURCES) == {
        "sandbox",
        "partner",
        "partner-push",
        "square",
        "shopify",
        "zettle",
        "stripe",
        "sumup",
        "lightspeed-k",
        "clover",
    }
    assert set(registry.ACCOUNTING_TARGETS) == {
        "beancount",
        "http-ledger",
        "xero",
        "quickbooks",
        "freeagent",
        "exact",
        "sage",
        "myob",
    }


def test_square_day_syncs_into_the_ledger(settings, tmp_path):
    with SquareDouble(page_size=2) as double:
        settings.SQUARE_API_URL = double.url
        seeded = seed(
            settings,
            tmp_path,
            platform_key="square",
            connection_settings={"location_ids": ["LOC-1"], "currency": "CAD"},
            credentials={
                "access_token": "good-token",
                "refresh_token": "square-refresh",
                "expires_at": FAR_FUTURE,
            },
            currency="CAD",
            time_zone="America/Vancouver",
            country="CA",
            accounts=SQUARE_ACCOUNTS,
            sales=SQUARE_SALES,
        )
        run = sync_and_check(seeded, SQUARE_EXPECTED)
    assert run.counters["records_read"] == {"orders": 4, "transactions": 9}
    assert run.counters["api_calls"]["square"] > 10  # several cursors per list


# -- Shopify ------------------------------------------------------------------

SHOPIFY_ACCOUNTS = (
    ("Liabilities:Tax:GST", "GST collected", "Liability"),
    ("Liabilities:Tax:QST", "QST collected", "Liability"),
)
SHOPIFY_SALES = {
    "tax-gst-5": "Liabilities:Tax:GST",
    "tax-qst-9.975": "Liabilities:Tax:QST",
}
# test_shopify.py's books; its one sales account split here into sales and
# refunds (the products carry no category: everything sells as Other).
SHOPIFY_EXPECTED = {
    "Income:Sales:Other": D("-64.00"),  # beans 36 + mug 15 + lattes 10 + croissant 3
    "Income:Sales:Refunds": D("15.00"),  # the mug of order 990, refunded today
    "Income:Sales:Delivery": D("-10.00"),  # shipping, net
    "Liabilities:Tips": D("-2.00"),
    "Liabilities:GiftCards": D("-5.00"),  # 25 sold at the till, 20 redeemed online
    "Liabilities:Tax:GST": D("-2.95"),  # 3.05 + 0.50 + 0.15 - 0.75
    "Liabilities:Tax:QST": D("-5.89"),  # 6.09 + 1.00 + 0.30 - 1.50
    "Assets:Clearing:OnlineCard": D("31.64"),  # 50.14 - 17.25 refund - 1.75 fee + 0.50 back
    "Assets:Clearing:Card": D("-82.60"),  # 38.50 - 1.10 fee - 120 paid out
    "Assets:Cash:Till": D("3.45"),  # 5.00 tendered, 1.55 change
    "Assets:Bank:Current": D("120.00"),  # the paid payout; the failed one came back
    "Expenses:PaymentFees": D("2.35"),  # 1.75 + 1.10 - 0.50
}


def test_shopify_day_syncs_into_the_ledger(settings, tmp_path):
    with ShopifyDouble(realistic_day()) as double:
        settings.SHOPIFY_API_URL_TEMPLATE = double.url_template
        seeded = seed(
            settings,
            tmp_path,
            platform_key="shopify",
            connection_settings={"shop": SHOP},
            credentials={
                "access_token": SHOPIFY_TOKEN,
                "refresh_token": "shopify-refresh",
                "expires_at": FAR_FUTURE,
            },
            currency="CAD",
            time_zone="America/Toronto",
            country="CA",
            accounts=SHOPIFY_ACCOUNTS,
            sales=SHOPIFY_SALES,
        )
        run = sync_and_check(seeded, SHOPIFY_EXPECTED)
        assert double.schema_errors == []  # every document sent fits the 2025-01 schema
    # 4 orders (the refund of order 990 as its own record); 3 fees, 2 payouts, 1 failure
    assert run.counters["records_read"] == {"orders": 4, "transactions": 6}


def test_shopify_expired_token_is_refreshed_through_the_token_endpoint(settings, tmp_path):
    with ShopifyDouble(realistic_day()) as double:
        settings.SHOPIFY_API_URL_TEMPLATE = double.url_template
        settings.SHOPIFY_TOKEN_URL_TEMPLATE = double.token_url_template
        settings.SHOPIFY_CLIENT_ID = double.client_id
        settings.SHOPIFY_CLIENT_SECRET = double.client_secret
        first_refresh = double.refresh_token
        seeded = seed(
            settings,
            tmp_path,
            platform_key="shopify",
            connection_settings={"shop": SHOP},
            credentials={
                "access_token": "shpat_expired",
                "refresh_token": first_refresh,
                "expires_at": LONG_AGO,
            },
            currency="CAD",
            time_zone="America/Toronto",
            country="CA",
            accounts=SHOPIFY_ACCOUNTS,
            sales=SHOPIFY_SALES,
        )
        run = sync_run_execute(merchant=seeded.merchant, now=seeded.now)
        assert run.status_code == 2000, run.messages
        assert ledger_balances(seeded.ledger_path) == SHOPIFY_EXPECTED
        assert double.schema_errors == []
        (form,) = double.token_requests  # refreshed once, before the first call
        assert form["grant_type"] == ["refresh_token"]
        assert form["refresh_token"] == [first_refresh]
        assert form["client_id"] == [double.client_id]
        (rotated,) = double.tokens
    seeded.commerce.refresh_from_db()
    stored = seeded.commerce.credentials
    # The rotated pair replaced the old one in the connection's credentials.
    assert stored["access_token"] == rotated != SHOPIFY_TOKEN
    assert stored["refresh_token"] == double.refresh_token != first_refresh
    expires_at = datetime.fromisoformat(stored["expires_at"])
    assert datetime.now(UTC) + timedelta(minutes=50) < expires_at
    assert expires_at < datetime.now(UTC) + timedelta(hours=1, minutes=1)  # expires_in 3600
    assert seeded.commerce.status == Connection.Status.LINKED
    assert run.counters["records_read"] == {"orders": 4, "transactions": 6}


# -- Zettle -------------------------------------------------------------------

# test_zettle.py's books on the demo chart as it stands (GBP, VAT in one account).
ZETTLE_EXPECTED = {
    # 7.70 + 8.00 + 7.00 + 18.54 + 9.00 net of VAT (the gift card is not a sale)
    "Income:Sales:Other": D("-50.24"),
    "Income:Sales:Refunds": D("2.75"),  # one flat white back, 3.30 less its 0.55 VAT
    "Liabilities:VAT:Output": D("-8.84"),  # 1.10 + 1.60 + 1.40 + 3.49 - 0.55 + 1.80
    "Liabilities:Tips": D("-3.20"),  # 1.20 + 2.00 on card payments
    "Liabilities:GiftCards": D("-16.60"),  # 25.00 sold, 8.40 redeemed
    "Assets:Cash:Till": D("18.63"),  # 9.60 + 9.03
    # 10.00 + 25.00 + 15.00 - 3.30 + 10.80 - fees 1.06 + 0.06 back - 30.00 + 12.00
    "Assets:Clearing:Card": D("38.50"),
    "Expenses:PaymentFees": D("1.00"),
    "Assets:Bank:Current": D("18.00"),  # 30.00 paid out, 12.00 of it failed
}


def zettle_seed(settings, tmp_path, double: ZettleDouble, credentials: dict) -> Seeded:
    settings.ZETTLE_PURCHASE_API_URL = double.url
    settings.ZETTLE_FINANCE_API_URL = double.url
    settings.ZETTLE_OAUTH_URL = double.url
    settings.ZETTLE_CLIENT_ID = "zettle-client"
    settings.ZETTLE_CLIENT_SECRET = "zettle-secret"
    return seed(
        settings,
        tmp_path,
        platform_key="zettle",
        connection_settings={"organization_uuid": ORG},
        credentials=credentials,
    )


def test_zettle_day_syncs_into_the_ledger(settings, tmp_path):
    with ZettleDouble() as double:
        credentials = {
            "access_token": ZETTLE_TOKEN,
            "refresh_token": double.refresh_token,
            "expires_at": FAR_FUTURE,
        }
        seeded = zettle_seed(settings, tmp_path, double, credentials)
        run = sync_and_check(seeded, ZETTLE_EXPECTED)
        assert double.spec_errors == [] and double.validated > 0
        assert double.token_requests == []  # a fresh token is used as it is
    # 7 purchases; 7 finance rows (the PAYMENT row is not asked for)
    assert run.counters["records_read"] == {"orders": 7, "transactions": 7}


def test_zettle_expired_token_is_refreshed_through_the_token_endpoint(settings, tmp_path):
    with ZettleDouble() as double:
        first_refresh = double.refresh_token
        credentials = {
            "access_token": "zettle-access-expired",
            "refresh_token": first_refresh,
            "expires_at": LONG_AGO,
        }
        seeded = zettle_seed(settings, tmp_path, double, credentials)
        run = sync_run_execute(merchant=seeded.merchant, now=seeded.now)
        assert run.status_code == 2000, run.messages
        assert ledger_balances(seeded.ledger_path) == ZETTLE_EXPECTED
        (form,) = double.token_requests  # refreshed once, before the first call
        assert form["grant_type"] == ["refresh_token"]
        assert form["refresh_token"] == [first_refresh]
    seeded.commerce.refresh_from_db()
    stored = seeded.commerce.credentials
    # The rotated pair replaced the old one in the connection's credentials.
    assert stored["access_token"] == double.token != ZETTLE_TOKEN
    assert stored["refresh_token"] == double.refresh_token != first_refresh
    assert datetime.fromisoformat(stored["expires_at"]) > datetime.now(UTC) + timedelta(hours=1)
    assert seeded.commerce.status == Connection.Status.LINKED


# -- the partner's own API, pulled and pushed ---------------------------------


def _line(oid: str, n: int, product: str, quantity: int, unit: str, tax: str) -> dict:
    net = quantity * D(unit)
    percentage = D(0) if net.is_zero() or D(tax).is_zero() else D(20)
    return {
        "id": f"{oid}-L{n}",
        "productRef": {"id": product},
        "quantity": quantity,
        "unitPrice": D(unit),
        "taxPercentage": percentage,
        "totalTaxAmount": D(tax),
        "totalAmount": net + D(tax),
    }


def _order(oid: str, at: str, lines: list[dict], payments: list[tuple[str, str]], tip: str = "0"):
    stamp = f"2026-11-02T{at}Z"
    total = sum((line["totalAmount"] for line in lines), D(0))
    return {
        "id": oid,
        "orderNumber": oid,
        "country": "GB",
        "currency": "GBP",
        "createdDate": stamp,
        "modifiedDate": stamp,
        "closedDate": stamp,
        "totalAmount": total,
        "totalTaxAmount": sum((line["totalTaxAmount"] for line in lines), D(0)),
        "totalDiscount": D(0),
        "totalGratuity": D(tip),
        "totalRefund": total if total < 0 else D(0),
        "orderLineItems": lines,
        "serviceCharges": [],
        "payments": [
            {
                "id": f"{oid}-P{n}",
                "type": kind,
                "amount": D(amount),
                "currency": "GBP",
                "status": "Paid",
                "paymentMethodRef": {"id": kind},
            }
            for n, (kind, amount) in enumerate(payments, 1)
        ],
        "locationRef": {"id": "shop"},
    }


def _transaction(tid: str, at: str, kind: str, amount: str, payment: str | None = None) -> dict:
    stamp = f"2026-11-02T{at}Z"
    record = {"id": tid, "createdDate": stamp, "modifiedDate": stamp, "type": kind}
    record |= {"totalAmount": D(amount), "currency": "GBP"}
    if payment is not None:
        record["transactionSourceRef"] = {"id": payment, "type": "Payment"}
    return record


REFERENCE_STAMP = {"modifiedDate": "2026-10-01T00:00:00Z"}


def partner_day() -> dict[str, list[dict]]:
    """A London café's 2 November in Codat's shape (GBP, prices net of VAT at 20%)."""
    orders = [
        # Two lattes and a croissant, paid by card with a 1.00 tip.
        _order(
            "O-1",
            "09:00:00",
            [
                _line("O-1", 1, "latte", 2, "2.50", "1.00"),
                _line("O-1", 2, "croissant", 1, "2.00", "0.40"),
            ],
            [("Card", "9.40")],
            tip="1.00",
        ),
        # A 20.00 gift card sold for cash (no VAT on a voucher).
        _order(
            "O-2", "10:30:00", [_line("O-2", 1, "gift-card", 1, "20.00", "0")], [("Cash", "20")]
        ),
        # A latte paid with the gift card.
        _order(
            "O-3", "12:00:00", [_line("O-3", 1, "latte", 1, "2.50", "0.50")], [("Prepaid", "3.00")]
        ),
        # The croissant of O-1 refunded to the card.
        _order(
            "R-1",
            "15:00:00",
            [_line("R-1", 1, "croissant", -1, "2.00", "-0.40")],
            [("Card", "-2.40")],
        ),
    ]
    transactions = [
        _transaction("PO-1", "06:00:00", "Payout", "-5.00"),
        _transaction("O-1-P1-FEE", "09:01:00", "PaymentFee", "-0.19", "O-1-P1"),
        _transaction("R-1-P1-FEEREF", "15:01:00", "PaymentFeeRefund", "0.04", "R-1-P1"),
    ]
    categories = {"coffee": "Coffee", "food": "Food", "gifts": "Gift cards"}
    products = [
        {"id": pid, "name": name, "isGiftCard": pid == "gift-card"}
        | {"productCategoryRef": {"id": category}, **REFERENCE_STAMP}
        for pid, name, category in (
            ("latte", "Latte", "coffee"),
            ("croissant", "Croissant", "food"),
            ("gift-card", "Gift card", "gifts"),
        )
    ]
    return {
        "commerce-orders": orders,
        "commerce-transactions": transactions,
        "commerce-locations": [{"id": "shop", "name": "High Street", **REFERENCE_STAMP}],
        "commerce-products": products,
        "commerce-productCategories": [
            {"id": cid, "name": name, "ancestorRefs": [], "hasChildren": False, **REFERENCE_STAMP}
            for cid, name in categories.items()
        ],
        "commerce-taxComponents": [],
        "commerce-paymentMethods": [
            {"id": kind, "name": kind, "status": "Active", **REFERENCE_STAMP}
            for kind in ("Card", "Cash", "Prepaid")
        ],
    }


# Worked by hand from partner_day() on the demo chart (categories coffee and food).
PARTNER_EXPECTED = {
    "Income:Sales:Coffee": D("-7.50"),  # three lattes at 2.50
    "Income:Sales:Food": D("-2.00"),  # the croissant
    "Income:Sales:Refunds": D("2.00"),  # the croissant given back, net of VAT
    "Liabilities:VAT:Output": D("-1.50"),  # 1.00 + 0.40 + 0.50 - 0.40
    "Liabilities:Tips": D("-1.00"),
    "Liabilities:GiftCards": D("-17.00"),  # 20.00 sold, 3.00 redeemed
    "Assets:Cash:Till": D("20.00"),
    "Assets:Clearing:Card": D("1.85"),  # 9.40 - 2.40 - fee 0.19 + 0.04 back - payout 5.00
    "Expenses:PaymentFees": D("0.15"),  # 0.19 - 0.04
    "Assets:Bank:Current": D("5.00"),
}
SCHEMA_NAMES = {
    "commerce-orders": "Order",
    "commerce-transactions": "Transaction",
    "commerce-locations": "Location",
    "commerce-products": "Product",
    "commerce-productCategories": "ProductCategory",
    "commerce-taxComponents": "TaxComponent",
    "commerce-paymentMethods": "PaymentMethod",
}


def test_the_partner_day_is_valid_codat() -> None:
    for data_type, records in partner_day().items():
        for record in records:
            assert codat_schema.problems(SCHEMA_NAMES[data_type], record) == [], record["id"]


def test_partner_pulled_day_syncs_into_the_ledger(settings, tmp_path):
    settings.PARTNER_ALLOWED_HOSTS = ["127.0.0.1"]  # the double listens on loopback
    with PartnerDouble(partner_day()) as double:
        seeded = seed(
            settings,
            tmp_path,
            platform_key="partner",
            connection_settings={
                "base_url": double.base_url,
                "auth": {"type": "client_credentials", "token_url": double.origin + "/oauth/token"},
                "page_size": 2,
            },
            credentials={"client_id": double.client_id, "client_secret": double.client_secret},
        )
        run = sync_and_check(seeded, PARTNER_EXPECTED)
        # One client-credentials token per sync that read (the first and the re-read).
        assert double.tokens == {"token-1", "token-2"}
    assert run.counters["records_read"] == {"orders": 4, "transactions": 3}


def _number(value: Any) -> float:
    if isinstance(value, Decimal):
        return float(value)  # a JSON number on the wire, read back as a Decimal
    raise TypeError(type(value).__name__)


def test_partner_pushed_day_syncs_into_the_ledger(settings, tmp_path, client):
    seeded = seed(
        settings,
        tmp_path,
        platform_key="partner-push",
        connection_settings={},
        credentials={},
    )
    _, key = partner_api_key_create(partner=seeded.merchant.partner, name="push")
    for data_type, records in partner_day().items():
        response = client.post(
            f"/api/v1/companies/{seeded.merchant.pk}/push/{data_type}",
            data=json.dumps({"records": records}, default=_number),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        assert response.status_code == 200, response.content
        assert response.json()["created"] == len(records), response.json()
    run = sync_and_check(seeded, PARTNER_EXPECTED)
    assert run.counters["records_read"] == {"orders": 4, "transactions": 3}


def test_square_expired_token_is_refreshed_through_the_token_endpoint(settings, tmp_path):
    with SquareDouble(page_size=100) as double:
        settings.SQUARE_API_URL = double.url
        settings.SQUARE_CLIENT_ID = double.client_id
        settings.SQUARE_CLIENT_SECRET = double.client_secret
        seeded = seed(
            settings,
            tmp_path,
            platform_key="square",
            connection_settings={"location_ids": ["LOC-1"]},
            credentials={
                "access_token": "square-access-expired",
                "refresh_token": double.refresh_token,
                "expires_at": LONG_AGO,
            },
            currency="CAD",
            time_zone="America/Vancouver",
            country="CA",
            accounts=SQUARE_ACCOUNTS,
            sales=SQUARE_SALES,
        )
        run = sync_run_execute(merchant=seeded.merchant, now=seeded.now)
        assert run.status_code == 2000, run.messages
        assert ledger_balances(seeded.ledger_path) == SQUARE_EXPECTED
        assert len(double.token_requests) == 1  # once, before the first call
    seeded.commerce.refresh_from_db()
    stored = seeded.commerce.credentials
    assert stored["access_token"] == "square-access-1"
    assert stored["refresh_token"] == double.refresh_token
    assert stored["expires_at"] == datetime(2099, 1, 1, tzinfo=UTC).isoformat()
