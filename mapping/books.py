"""The engine's working state: per-group books of sums, before formatting.

Records are streamed once into books, one per group (business day, currency,
location, section); each book holds sums keyed by what ends up as one
document line, so memory grows with the number of distinct lines, not of
orders. The writers (`mapping.journal`, `mapping.invoices`) turn books into
documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TypeVar

ZERO = Decimal(0)


@dataclass(slots=True)
class Sum:
    """Amounts (in the record currency, unrounded) and the source ids behind them."""

    amount: Decimal = ZERO
    tax: Decimal = ZERO
    refs: list[str] = field(default_factory=list)

    def add(self, amount: Decimal, tax: Decimal, ref: str) -> None:
        self.amount += amount
        self.tax += tax
        self.refs.append(ref)


# (refund?, kind, account, tax rate id or None, description)
SalesKey = tuple[bool, str, str, str | None, str]
# (payment type, clearing account, refund?)
PaymentKey = tuple[str, str, bool]
# (payment type, clearing account) for fees; (account, description) for taxes
PairKey = tuple[str, str]
# (business day, currency, location or None, section: "" or "adjustment")
GroupKey = tuple[date, str, str | None, str]


@dataclass(slots=True)
class Book:
    """Everything one group of documents will say, before formatting."""

    sales: dict[SalesKey, Sum] = field(default_factory=dict)
    taxes: dict[PairKey, Sum] = field(default_factory=dict)
    payments: dict[PaymentKey, Sum] = field(default_factory=dict)
    fees: dict[PairKey, Sum] = field(default_factory=dict)
    fee_refunds: dict[PairKey, Sum] = field(default_factory=dict)
    # (tx id, clearing, +to bank, description: "Payout", "Failed payout", ...)
    payouts: list[tuple[str, str, Decimal, str]] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    journal: bool = True  # taxes to liability accounts; else through tax rates


K = TypeVar("K")


def sum_for(table: dict[K, Sum], key: K) -> Sum:
    """The Sum at `key` in `table`, created empty if absent."""
    found = table.get(key)
    if found is None:
        found = table[key] = Sum()
    return found
