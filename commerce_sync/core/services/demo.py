"""The embedded default, seeded: a demo partner and "Demo Café" selling
through the sandbox POS into a local Beancount ledger."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from commerce_sync.core.models import Connection, Merchant, Partner, SyncRun
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


def demo_password_path() -> Path:
    """Where `demo_seed` keeps the generated admin password of the laptop
    demo (owner-only, beside the demo's ledgers under var/; `make clean`
    removes it)."""
    return Path(settings.LEDGER_DIR).parent / "admin-password"


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
    # The sandbox's days are drawn from the partner's own merchant id when
    # there is one, so the same café gets the same days after `make clean`.
    seed = f"{partner.slug}:{external_id}" if external_id else ""
    connection_create(
        merchant=merchant,
        platform_key="sandbox",
        source_type=Connection.SourceType.COMMERCE,
        credentials={},
        settings={"orders_per_day": orders_per_day, "seed": seed},
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


OPENING_EQUITY = "Equity:Opening-Balances"


def ledger_open_balances(merchant: Merchant, start_date: date) -> None:
    """The café's books did not begin on `start_date`: takings of the days
    before are still with the acquirers and arrive in the first synced
    payouts (the sandbox pays out at 06:00 the previous day's card payments
    less their fees, and at 06:30 the online card payments less fees of
    `ONLINE_PAYOUT_DAYS` days before; see `connectors.sandbox.generator`).
    Post them as the card and online card clearing accounts' opening
    balances, against `OPENING_EQUITY`, dated the day before, so no clearing
    account goes negative in Fava. Written once, under its own push key."""
    from connectors.sandbox.generator import ONLINE_PAYOUT_DAYS, clearing_after
    from connectors.sandbox.generator import Merchant as SandboxCafe

    commerce = merchant.connections.get(source_type=Connection.SourceType.COMMERCE)
    cafe = SandboxCafe(
        seed=str(commerce.settings.get("seed") or merchant.pk),
        time_zone=merchant.time_zone,
        currency=merchant.currency,
        orders_per_day=int(commerce.settings.get("orders_per_day", 40)),
        country=merchant.country,
    )
    day_before = start_date - timedelta(days=1)
    owed = {
        "Assets:Clearing:Card": clearing_after(cafe, day_before, "Card"),
        "Assets:Clearing:OnlineCard": clearing_after(cafe, day_before, "OnlineCard"),
    }
    first_online = start_date - timedelta(days=ONLINE_PAYOUT_DAYS)
    words = {
        "Assets:Clearing:Card": f"Card takings of {day_before}, paid out on the first synced day",
        "Assets:Clearing:OnlineCard": (
            f"Online card takings of {first_online} to {day_before}, "
            "paid out on the first synced days"
        ),
    }
    lines = [
        {"accountRef": {"id": account}, "netAmount": str(amount), "description": words[account]}
        for account, amount in owed.items()
        if amount
    ]
    if not lines:
        return
    total = sum((Decimal(line["netAmount"]) for line in lines), Decimal(0))
    ledger = connection_target(
        connection=merchant.connections.get(source_type=Connection.SourceType.ACCOUNTING)
    )
    ledger.create_account(account_id=OPENING_EQUITY, name="Opening balances", account_type="Equity")
    ledger.write_document(
        key=f"{merchant.pk}:opening-balances",
        document={
            "type": "journalEntry",
            "date": day_before.isoformat(),
            "currency": merchant.currency,
            "description": "Opening balances",
            "journalLines": [
                *lines,
                {
                    "accountRef": {"id": OPENING_EQUITY},
                    "netAmount": str(-total),
                    "description": "Opening balances",
                },
            ],
        },
    )


@dataclass
class DemoSeed:
    merchant: Merchant
    admin_username: str
    admin_password: str | None  # set only when the account was created now
    ledger_path: str


@transaction.atomic
def demo_seed(
    *,
    days: int = 7,
    orders_per_day: int = 40,
    today: date | None = None,
    write_password: bool = False,
    opening_balances: bool = False,
) -> DemoSeed:
    """Idempotent: a second call finds what the first created.
    `write_password`: keep a newly made admin password in
    `demo_password_path()` (the laptop demo's summary points there).
    `opening_balances`: post the card takings the first payout pays as card
    clearing's opening balance (`ledger_open_balances`; the laptop demo)."""
    partner = Partner.objects.filter(slug="demo").first() or partner_create(
        name="Demo Partner", slug="demo"
    )
    users = get_user_model()
    password = None
    if not users.objects.filter(username="admin").exists():
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser("admin", "admin@example.invalid", password)
        if write_password:
            path = demo_password_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(password + "\n")
    merchant = Merchant.objects.filter(partner=partner, external_id=DEMO_EXTERNAL_ID).first()
    if merchant is None:
        start_date = (today or timezone.localdate()) - timedelta(days=days)
        merchant = cafe_create(
            partner=partner,
            name="Demo Café",
            external_id=DEMO_EXTERNAL_ID,
            orders_per_day=orders_per_day,
            start_date=start_date,
            document=demo_configuration(),
        )
        if opening_balances:
            ledger_open_balances(merchant, start_date)
    ledger_connection = merchant.connections.get(source_type=Connection.SourceType.ACCOUNTING)
    return DemoSeed(
        merchant, "admin", password, str(connection_ledger_path(connection=ledger_connection))
    )


def demo_ports() -> tuple[str, str]:
    """(web, Fava) ports `scripts/serve.sh` serves on: `PORT` (8000) and
    `FAVA_PORT` (5000) from the environment, as the script reads them."""
    return os.environ.get("PORT") or "8000", os.environ.get("FAVA_PORT") or "5000"


@dataclass
class DemoCheck:
    """What `make demo` / `make run` print at the end. `lines` go to standard
    output, `warnings` to standard error; `ok` is False when the ledger has
    errors or no transaction, or (`strict`) when the latest sync failed."""

    lines: list[str]
    warnings: list[str]
    ok: bool


def demo_check(*, strict: bool) -> DemoCheck:
    """The demo ledger loads cleanly in Beancount and holds the synced days,
    and the sync just run (the merchant's latest) succeeded. Earlier runs
    are history: a failure among them never stops the demo. With `strict`
    False (`make run`) a failed latest sync is only a warning, so the app is
    served anyway."""
    from beancount import loader
    from beancount.core import data

    merchant = Merchant.objects.get(external_id=DEMO_EXTERNAL_ID)
    ledger = connection_ledger_path(
        connection=merchant.connections.get(source_type=Connection.SourceType.ACCOUNTING)
    )
    entries, errors, _ = loader.load_file(str(ledger))
    transactions = [e for e in entries if isinstance(e, data.Transaction)]
    latest = SyncRun.objects.filter(merchant=merchant).order_by("-created_at").first()
    failed = latest is not None and latest.status != SyncRun.Status.SUCCEEDED
    warnings = [f"ledger error: {error.message}" for error in errors]
    if latest is None:
        state = "no sync has run yet"
    else:
        state = f"the latest sync {latest.status} ({latest.status_code})"
        if failed:
            reasons = [m["message"] for m in latest.messages if m.get("level") == "error"]
            warnings.append(
                f"WARNING: the latest sync did not succeed ({'; '.join(reasons[:3]) or latest.status}). "
                "Its errors are in the admin (Sync runs); the ledger holds what earlier syncs posted."
            )
    password_file = demo_password_path()
    if password_file.exists():
        where = f"password in {password_file}"
    else:
        where = (
            "reset its password: ENV_FILE=var/.env .venv/bin/python manage.py changepassword admin"
        )
    web, fava = demo_ports()
    lines = [
        "",
        f"Demo Café: {state}; {len(transactions)} balanced transactions in {ledger}",
        "Look at:",
        f"  the admin      http://127.0.0.1:{web}/admin/  (user 'admin', {where})",
        f"  the portal     http://127.0.0.1:{web}/portal/",
        f"  the ledger     {ledger}",
        f"  in Fava        http://127.0.0.1:{fava}/  (make run serves it beside the app)",
    ]
    ok = not errors and bool(transactions) and not (strict and failed)
    return DemoCheck(lines, warnings, ok)
