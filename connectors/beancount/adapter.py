"""The local Beancount ledger as an accounting target: one file per merchant.

Every change runs under an exclusive `flock` on a lock file beside the ledger,
is appended, and is kept only if Beancount then loads the whole ledger without
a single error; otherwise the file goes back to its previous bytes. Readers
take a shared lock so they never see a change that is about to be undone.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from beancount.core import account as bc_account

from commerce_sync.errors import DocumentRejected
from connectors.batching import SingleWrites
from connectors.beancount import ledger, translate
from connectors.beancount.ledger import LedgerState
from connectors.protocols import AccountOption, TaxRateOption

_TYPES = {
    "asset": "Asset",
    "assets": "Asset",
    "liability": "Liability",
    "liabilities": "Liability",
    "equity": "Equity",
    "income": "Income",
    "revenue": "Income",
    "expense": "Expense",
    "expenses": "Expense",
}

Fingerprint = tuple[tuple[Any, ...], ...]


class BeancountTarget(SingleWrites):
    """One document per append (`write_documents` loops `write_document`);
    nothing to check before writing beyond the accounts the sync checks."""

    platform_key = "beancount"

    def __init__(
        self,
        *,
        ledger_path: Path,
        title: str = "Commerce Sync ledger",
        operating_currency: str = "GBP",
    ) -> None:
        self.ledger_path = Path(ledger_path).absolute()
        self.lock_path = self.ledger_path.with_name(self.ledger_path.name + ".lock")
        self.title = title
        self.operating_currency = operating_currency
        # The last load, reused while no file it read has changed.
        self._cache: tuple[Fingerprint, LedgerState] | None = None

    # -- the protocol -------------------------------------------------------

    def list_accounts(self) -> list[AccountOption]:
        state = self._read()
        if state is None:
            return []
        options = (self._option(state, name) for name in sorted(state.opens))
        return [option for option in options if option is not None]

    def list_tax_rates(self) -> list[TaxRateOption]:
        state = self._read()
        if state is None:
            return []
        rates = []
        for name, opened in sorted(state.opens.items()):
            rate = opened.meta.get(translate.TAX_RATE_META)
            if rate is None or name in state.closes:
                continue
            if state.account_type(name) == "Liability":
                rates.append(TaxRateOption(id=name, name=_display_name(opened), rate=str(rate)))
        return rates

    def create_account(
        self, *, account_id: str, name: str, account_type: str, tax_rate: str | None = None
    ) -> AccountOption:
        if not bc_account.is_valid(account_id):
            raise DocumentRejected(
                f"{account_id!r} is not a valid Beancount account name: it needs a root such "
                "as Assets or Income and components that start with a capital letter or a "
                "digit, joined by colons (e.g. Income:Sales)"
            )
        wanted = _TYPES.get(str(account_type).strip().lower())
        if wanted is None:
            raise DocumentRejected(f"Unknown account type {account_type!r}")
        meta = {"name": name} if name and name != account_id else {}
        if tax_rate is not None:
            meta[translate.TAX_RATE_META] = _check_rate(tax_rate, wanted)
        with self._locked(exclusive=True):
            state = self._ensure()
            actual = state.account_type(account_id)
            if actual is None:
                raise DocumentRejected(f"Account {account_id} does not start with a known root")
            if actual != wanted:
                raise DocumentRejected(
                    f"Account {account_id} cannot be of type {wanted}: its root makes it {actual}"
                )
            if account_id not in state.opens:  # opening twice is a no-op
                state = self._append(translate.render_open(account_id, meta), state)
            option = self._option(state, account_id)
        if option is None:  # unreachable: the account was just opened and has a known root
            raise DocumentRejected(f"Account {account_id} could not be opened")
        return option

    def find_document(self, *, key: str) -> str | None:
        state = self._read()
        return None if state is None else state.keys.get(key)

    def write_document(self, *, key: str, document: dict[str, Any]) -> str:
        if not isinstance(key, str) or not key:
            raise DocumentRejected("The document has no idempotency key")
        with self._locked(exclusive=True):
            state = self._ensure()
            if key in state.keys:  # already written: exactly once
                return state.keys[key]
            if state.errors:
                raise DocumentRejected(
                    "The ledger has errors to fix before it can take documents: "
                    + ledger.describe_errors(state.errors)
                )
            entry = translate.build_entry(document)
            opens = _opens_needed(state, entry)
            state = self._append("".join(opens) + translate.render_transaction(entry, key), state)
            return state.keys[key]

    # -- helpers for the demo and the tests ---------------------------------

    def ensure_ledger(self) -> None:
        with self._locked(exclusive=True):
            self._ensure()

    def balances(self) -> dict[str, dict[str, Decimal]]:
        state = self._read()
        return {} if state is None else ledger.balances(state)

    # -- internals ----------------------------------------------------------

    @contextmanager
    def _locked(self, *, exclusive: bool) -> Iterator[None]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> LedgerState | None:
        if not self.ledger_path.exists():
            return None
        with self._locked(exclusive=False):
            return self._state()

    def _ensure(self) -> LedgerState:
        """The ledger's state, creating the file first if missing (lock held)."""
        if not self.ledger_path.exists():
            header = translate.render_header(self.title, self.operating_currency)
            with open(self.ledger_path, "x", encoding="utf-8") as fh:
                fh.write(header)
        return self._state()

    def _fingerprint(self, state: LedgerState) -> Fingerprint:
        # Includes count too: an edit to an included file changes the ledger.
        out = []
        for name in dict.fromkeys([str(self.ledger_path), *state.files]):
            try:
                st = os.stat(name)
            except FileNotFoundError:
                out.append((name,))
                continue
            out.append((name, st.st_ino, st.st_mtime_ns, st.st_size))
        return tuple(out)

    def _state(self) -> LedgerState:
        if self._cache is not None:
            fingerprint, state = self._cache
            if fingerprint == self._fingerprint(state):
                return state
        state = ledger.read_ledger(self.ledger_path)
        self._cache = (self._fingerprint(state), state)
        return state

    def _append(self, text: str, previous: LedgerState) -> LedgerState:
        """Append `text`; keep it only if Beancount then reports no error at all."""
        with open(self.ledger_path, "r+b") as fh:
            original = fh.read()
            gap = b"\n" if original.endswith(b"\n") or not original else b"\n\n"
            fh.write(gap + text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            state = self._state()
            if state.errors:
                raise DocumentRejected(
                    "The ledger refused the change: " + ledger.describe_errors(state.errors)
                )
        except BaseException:
            self._restore(original)
            self._cache = (self._fingerprint(previous), previous)
            raise
        return state

    def _restore(self, original: bytes) -> None:
        # Overwrite in place then cut: the file is never empty on the way back.
        with open(self.ledger_path, "r+b") as fh:
            fh.write(original)
            fh.truncate(len(original))
            fh.flush()
            os.fsync(fh.fileno())

    @staticmethod
    def _option(state: LedgerState, name: str) -> AccountOption | None:
        kind = state.account_type(name)
        if kind is None or name not in state.opens:
            return None
        status = "Archived" if name in state.closes else "Active"
        return AccountOption(
            id=name, name=_display_name(state.opens[name]), type=kind, status=status
        )


def _display_name(opened: Any) -> str:
    name = opened.meta.get("name")
    return name if isinstance(name, str) and name else opened.account


def _check_rate(tax_rate: str, account_type: str) -> str:
    if account_type != "Liability":
        raise DocumentRejected("Only a Liability account can carry a tax rate")
    try:
        rate = Decimal(str(tax_rate).strip())
    except InvalidOperation:
        rate = Decimal("NaN")
    if not rate.is_finite() or not 0 <= rate <= 100:
        raise DocumentRejected(f"Tax rate {tax_rate!r} is not a percentage between 0 and 100")
    return str(tax_rate).strip()


def _opens_needed(state: LedgerState, entry: translate.Entry) -> list[str]:
    """Open directives for control accounts used for the first time; every
    other account must already be open on the entry's date."""
    opens: dict[str, str] = {}
    for posting in entry.postings:
        account = posting.account
        if account in entry.controls and account not in state.opens:
            opens.setdefault(account, translate.render_open(account, entry.controls[account]))
            continue
        reason = state.inactive_reason(account, entry.date)
        if reason is not None:
            raise DocumentRejected(f"{posting.role} {account} {reason}")
    return list(opens.values())
