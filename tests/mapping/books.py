"""The README's "effect on the books" table, applied to preview output.

Written independently of the engine: the tests compare what the documents do
to each account with figures worked out by hand.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from mapping.money import format_amount

RECEIVABLE, PAYABLE = "RECEIVABLE", "PAYABLE"


def movements(documents: list[dict]) -> dict[str, Decimal]:
    """Net movement per account (debit +, credit -); tax through a tax rate
    shows as TAX:<id>."""
    moved: dict[str, Decimal] = defaultdict(Decimal)

    def post(account: str, amount: str | Decimal) -> None:
        moved[account] += Decimal(amount)

    for doc in documents:
        kind = doc["type"]
        if kind == "journalEntry":
            for line in doc["journalLines"]:
                post(line["accountRef"]["id"], line["netAmount"])
        elif kind in ("invoice", "creditNote"):
            sign = 1 if kind == "invoice" else -1
            post(RECEIVABLE, sign * Decimal(doc["totalAmount"]))
            for line in doc["lineItems"]:
                post(line["accountRef"]["id"], -sign * Decimal(line["subTotal"]))
                if Decimal(line["taxAmount"]):
                    post("TAX:" + line["taxRateRef"]["id"], -sign * Decimal(line["taxAmount"]))
        elif kind == "payment":
            post(doc["accountRef"]["id"], doc["totalAmount"])
            post(RECEIVABLE, -Decimal(doc["totalAmount"]))
        elif kind == "bill":
            for line in doc["lineItems"]:
                post(line["accountRef"]["id"], line["subTotal"])
                if Decimal(line["taxAmount"]):
                    post("TAX:" + line["taxRateRef"]["id"], line["taxAmount"])
            post(PAYABLE, -Decimal(doc["totalAmount"]))
        elif kind == "billPayment":
            post(doc["accountRef"]["id"], -Decimal(doc["totalAmount"]))
            post(PAYABLE, doc["totalAmount"])
        elif kind == "deposit":
            post(doc["accountRef"]["id"], doc["totalAmount"])
            for line in doc["lineItems"]:
                post(line["accountRef"]["id"], -Decimal(line["totalAmount"]))
        elif kind == "transfer":
            post(doc["fromAccountRef"]["id"], -Decimal(doc["amount"]))
            post(doc["toAccountRef"]["id"], doc["amount"])
        else:
            raise AssertionError(f"unknown document type {kind}")
    return dict(moved)


def nonzero(moved: dict[str, Decimal], currency: str) -> dict[str, str]:
    """Movements as the scenario files write them, control accounts left out
    (they must net to zero, which `assert_controls_closed` checks)."""
    return {
        account: format_amount(amount, currency)
        for account, amount in moved.items()
        if amount and account not in (RECEIVABLE, PAYABLE)
    }


def assert_controls_closed(moved: dict[str, Decimal]) -> None:
    assert moved.get(RECEIVABLE, Decimal(0)) == 0, "receivable does not net to zero"
    assert moved.get(PAYABLE, Decimal(0)) == 0, "payable does not net to zero"


def in_group(documents: list[dict], currency: str, location: str | None) -> list[dict]:
    return [
        d
        for d in documents
        if d["group"]["currency"] == currency and d["group"].get("locationId") == location
    ]
