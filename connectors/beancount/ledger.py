"""The ledger file read back: the Beancount target's "client".

`read_ledger` loads a file (and what it includes) into the few facts the
adapter needs; writing is the adapter's (append under a lock, kept only if
the ledger still loads without errors). Documents become Beancount text in
`connectors.beancount.translate`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from beancount import loader
from beancount.core import data
from beancount.parser.options import get_account_types

from connectors.beancount.translate import KEY_META

# -- reading the ledger -----------------------------------------------------


@dataclass
class LedgerState:
    """What one load of the ledger tells the adapter."""

    entries: list[data.Directive]
    errors: list[Any]
    options: dict[str, Any]
    opens: dict[str, data.Open] = field(default_factory=dict)
    closes: dict[str, date] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # push-key -> target id

    @property
    def files(self) -> list[str]:
        return list(self.options.get("include") or [])

    def account_type(self, account: str) -> str | None:
        """Asset, Liability, Equity, Income or Expense, from the account's root."""
        types = get_account_types(self.options)
        roots = dict(zip(types, ("Asset", "Liability", "Equity", "Income", "Expense"), strict=True))
        return roots.get(account.split(":", 1)[0])

    def inactive_reason(self, account: str, on: date) -> str | None:
        """Why `account` cannot take a posting dated `on`, or None if it can."""
        opened = self.opens.get(account)
        if opened is None:
            return "is not open in the ledger"
        if on < opened.date:
            return f"opens only on {opened.date.isoformat()} in the ledger"
        closed = self.closes.get(account)
        if closed is not None and on > closed:
            return f"was closed on {closed.isoformat()} in the ledger"
        return None


def read_ledger(path: Path) -> LedgerState:
    entries, errors, options = loader.load_file(str(path))
    state = LedgerState(entries=entries, errors=errors, options=options)
    for entry in entries:
        if isinstance(entry, data.Open):
            state.opens[entry.account] = entry
        elif isinstance(entry, data.Close):
            state.closes[entry.account] = entry.date
        elif isinstance(entry, data.Transaction) and isinstance(entry.meta.get(KEY_META), str):
            state.keys.setdefault(entry.meta[KEY_META], entry.meta[KEY_META])
    return state


def describe_errors(errors: Iterable[Any]) -> str:
    """Beancount's errors as one line each, with where they were found."""
    out = []
    for error in errors:
        source = error.source or {}
        where = Path(str(source.get("filename", "?"))).name
        out.append(f"{error.message} ({where} line {source.get('lineno', '?')})")
    return "; ".join(out)


def balances(state: LedgerState) -> dict[str, dict[str, Decimal]]:
    """Net movement per account and currency over every transaction (debit +)."""
    totals: dict[str, dict[str, Decimal]] = {}
    for entry in state.entries:
        if isinstance(entry, data.Transaction):
            for posting in entry.postings:
                units = posting.units
                per_currency = totals.setdefault(posting.account, {})
                per_currency[units.currency] = (
                    per_currency.get(units.currency, Decimal(0)) + units.number
                )
    return totals
