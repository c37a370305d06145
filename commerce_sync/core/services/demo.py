"""The embedded default, seeded: a demo partner and "Demo Café" selling
through the sandbox POS into a local Beancount ledger."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from commerce_sync.core.models import Connection, Merchant, Partner
from commerce_sync.core.services.connections import (
    connection_create,
    connection_ledger_path,
    connection_target,
)
from commerce_sync.core.services.merchants import (
    merchant_create,
    sync_configuration_save,
)
from commerce_sync.core.services.partners import partner_create
from connectors.protocols import AccountingTarget

DEMO_EXTERNAL_ID = "demo-cafe"

# (account, display name, type, tax rate) — the café's chart in the ledger.
DEMO_ACCOUNTS = [
    ("Assets:Clearing:Card", "Card clearing", "Asset", None),
    ("Assets:Clearing:OnlineCard", "Online card clearing", "Asset", None),
    ("Assets:Cash:Till", "Cash in till", "Asset", None),
    ("Assets:Bank:Current", "Current account", "Asset", None),
    ("Liabilities:GiftCards", "Gift cards outstanding", "Liability", None),
    ("Liabilities:Tips", "Tips owed to staff", "Liability", None),
    ("Liabilities:VAT:Output", "VAT on sales", "Liability", "20"),
    ("Income:Sales:Coffee", "Coffee sales", "Income", None),
    ("Income:Sales:Food", "Food sales", "Income", None),
    ("Income:Sales:Retail", "Retail sales", "Income", None),
    ("Income:Sales:Other", "Other sales", "Income", None),
    ("Income:Sales:Delivery", "Delivery charges", "Income", None),
    ("Income:Sales:Refunds", "Refunds", "Income", None),
    ("Expenses:PaymentFees", "Card processing fees", "Expense", None),
]


def _selected(account: str) -> dict[str, str]:
    return {"selectedAccountId": account}


def demo_configuration() -> dict:
    """The café's mapping, in the Codat `commerceConfiguration` shape."""
    return {
        "countryCode": "GB",
        "mapSettings": {"outputFormat": "JournalEntry"},
        "sales": {
            "syncSales": True,
            "accounts": {
                "sales": _selected("Income:Sales:Other"),
                "category-coffee": _selected("Income:Sales:Coffee"),
                "category-food": _selected("Income:Sales:Food"),
                "category-retail": _selected("Income:Sales:Retail"),
                "refund": _selected("Income:Sales:Refunds"),
                "gratuity": _selected("Liabilities:Tips"),
                "prepaid": _selected("Liabilities:GiftCards"),
                "serviceCharge": _selected("Income:Sales:Delivery"),
                "tax": _selected("Liabilities:VAT:Output"),
            },
            "grouping": {"groupingPeriod": {"selectedGroupingPeriod": "Daily"}},
        },
        "payments": {
            "syncPayments": True,
            "accounts": {
                "card": _selected("Assets:Clearing:Card"),
                "onlineCard": _selected("Assets:Clearing:OnlineCard"),
                "cash": _selected("Assets:Cash:Till"),
                "prepaidPayment": _selected("Liabilities:GiftCards"),
                "payout": _selected("Assets:Bank:Current"),
            },
        },
        "fees": {
            "syncFees": True,
            "accounts": {"paymentFee": _selected("Expenses:PaymentFees")},
        },
    }


def ledger_open_demo_accounts(target: AccountingTarget) -> None:
    """The café's chart of accounts, opened in a (Beancount) ledger."""
    target.ensure_ledger()
    for account_id, name, account_type, rate in DEMO_ACCOUNTS:
        target.create_account(
            account_id=account_id, name=name, account_type=account_type, tax_rate=rate
        )


@transaction.atomic
def cafe_create(
    *,
    partner: Partner,
    name: str,
    orders_per_day: int,
    start_date: date,
    document: dict,
    external_id: str = "",
    open_ledger: bool = True,
) -> Merchant:
    """A café selling through the sandbox POS into its own Beancount ledger,
    configured with `document` from `start_date`."""
    merchant = merchant_create(
        partner=partner,
        name=name,
        country="GB",
        currency="GBP",
        time_zone="Europe/London",
        external_id=external_id,
    )
    connection_create(
        merchant=merchant,
        platform_key="sandbox",
        source_type=Connection.SourceType.COMMERCE,
        credentials={},
        settings={"orders_per_day": orders_per_day},
        status=Connection.Status.LINKED,
    )
    ledger = connection_create(
        merchant=merchant,
        platform_key="beancount",
        source_type=Connection.SourceType.ACCOUNTING,
        credentials={},
        settings={},
        status=Connection.Status.LINKED,
    )
    if open_ledger:
        ledger_open_demo_accounts(connection_target(connection=ledger))
    sync_configuration_save(
        merchant=merchant,
        document=document,
        start_date=start_date,
        sync_hour=0,
        time_zone="Europe/London",
        actor="system",
    )
    return Merchant.objects.select_related("sync_configuration").get(pk=merchant.pk)


@dataclass
class DemoSeed:
    merchant: Merchant
    admin_username: str
    admin_password: str | None  # set only when the account was created now
    ledger_path: str


@transaction.atomic
def demo_seed(*, days: int = 7, orders_per_day: int = 40, today: date | None = None) -> DemoSeed:
    """Idempotent: a second call finds what the first created."""
    partner = Partner.objects.filter(slug="demo").first() or partner_create(
        name="Demo Partner", slug="demo"
    )
    users = get_user_model()
    password = None
    if not users.objects.filter(username="admin").exists():
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser("admin", "admin@example.invalid", password)
    merchant = Merchant.objects.filter(partner=partner, external_id=DEMO_EXTERNAL_ID).first()
    if merchant is None:
        merchant = cafe_create(
            partner=partner,
            name="Demo Café",
            external_id=DEMO_EXTERNAL_ID,
            orders_per_day=orders_per_day,
            start_date=(today or timezone.localdate()) - timedelta(days=days),
            document=demo_configuration(),
        )
    ledger_connection = merchant.connections.get(source_type=Connection.SourceType.ACCOUNTING)
    return DemoSeed(
        merchant, "admin", password, str(connection_ledger_path(connection=ledger_connection))
    )
