"""Accounting targets for fault-injection tests (test code, never shipped).

`MemoryTarget` is an in-memory ledger that, unlike the protocol promises,
does NOT deduplicate by key: every `write_document` call adds a document, as
a platform without idempotency-key support would. A sync that writes a key
twice therefore leaves two documents, and the tests see it.

`FaultyTarget` wraps any `AccountingTarget` (a `MemoryTarget` or the real
`BeancountTarget`) and, drawing from its own seeded RNG, fails a share of the
`find_document` / `write_document` calls the way remote platforms do:

* ``timeout``: `PlatformUnavailable`, nothing written;
* ``500``: `PlatformUnavailable`, nothing written;
* ``429``: `RateLimited(retry_after=...)`, nothing written;
* ``lost``: the write is performed on the inner target, then the response is
  lost (`PlatformUnavailable`). On `find_document` it is a plain 500.

`refuse` adds permanent refusals (`DocumentRejected`, `CredentialsRevoked`
...) for chosen documents. It counts, per key, how many times a write really reached the inner target
(`writes`), and which faults it injected (`injected`). Optional delays make
writes slow (to race two workers or to land a SIGKILL mid-push); the delay
after the inner write is the window in which a document is written but the
sync has not yet recorded it.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from commerce_sync.errors import ApplicationError, PlatformUnavailable, RateLimited
from connectors.batching import SingleWrites
from connectors.protocols import AccountingTarget, AccountOption, TaxRateOption

FAULTS = ("timeout", "500", "429", "lost")

# Captured at import: tests replace the sync's sleep, never this one.
_sleep = time.sleep


class MemoryTarget(SingleWrites):
    """A ledger in a list. Not idempotent on purpose (see the module doc)."""

    platform_key = "memory"

    def __init__(self, accounts: Iterable[AccountOption] = ()) -> None:
        self.accounts = {a.id: a for a in accounts}
        self.documents: list[tuple[str, str, dict[str, Any]]] = []  # (id, key, document)
        self._lock = threading.Lock()

    def list_accounts(self) -> list[AccountOption]:
        return list(self.accounts.values())

    def list_tax_rates(self) -> list[TaxRateOption]:
        return []

    def create_account(self, *, account_id: str, name: str, account_type: str) -> AccountOption:
        option = AccountOption(id=account_id, name=name, type=account_type)
        self.accounts.setdefault(account_id, option)
        return self.accounts[account_id]

    def find_document(self, *, key: str) -> str | None:
        with self._lock:
            return next((doc_id for doc_id, k, _ in self.documents if k == key), None)

    def write_document(self, *, key: str, document: dict[str, Any]) -> str:
        with self._lock:
            doc_id = f"mem-{len(self.documents) + 1}"
            self.documents.append((doc_id, key, document))
            return doc_id

    def keys(self) -> Counter[str]:
        """How many documents the ledger holds per key."""
        return Counter(k for _, k, _ in self.documents)

    def by_key(self) -> dict[str, dict[str, Any]]:
        return {k: doc for _, k, doc in self.documents}


class FaultyTarget(SingleWrites):
    """Fails a `rate` share of find/write calls with a fault drawn from `faults`."""

    def __init__(
        self,
        inner: AccountingTarget,
        *,
        rate: float = 0.0,
        seed: int = 0,
        faults: Iterable[str] = FAULTS,
        retry_after: float = 0.001,
        delay_before_write: float = 0.0,
        delay_after_write: float = 0.0,
        after_write: Callable[[str], None] | None = None,
        refuse: Callable[[str, dict[str, Any]], ApplicationError | None] | None = None,
    ) -> None:
        self.inner = inner
        self.platform_key = inner.platform_key
        self.rate = rate
        self.faults = tuple(faults)
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}")
        self.retry_after = retry_after
        self.delay_before_write = delay_before_write
        self.delay_after_write = delay_after_write
        self.after_write = after_write
        # A permanent refusal, every time: refuse(key, document) -> error or None.
        self.refuse = refuse
        self.rng = random.Random(seed)  # noqa: S311 - reproducible faults, not security
        self.writes: Counter[str] = Counter()  # writes that reached the inner target
        self.injected: Counter[str] = Counter()  # "write:429", "find:timeout", ...
        self.calls: Counter[str] = Counter()  # "find", "write"
        self._lock = threading.Lock()

    # -- delegated as is -------------------------------------------------------

    def list_accounts(self) -> list[AccountOption]:
        return self.inner.list_accounts()

    def list_tax_rates(self) -> list[TaxRateOption]:
        return self.inner.list_tax_rates()

    def create_account(self, **kwargs: Any) -> AccountOption:
        return self.inner.create_account(**kwargs)

    def __getattr__(self, name: str) -> Any:  # ensure_ledger, balances ... of the inner one
        if name == "inner":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    # -- with faults -----------------------------------------------------------

    def _draw(self, call: str) -> str | None:
        with self._lock:
            self.calls[call] += 1
            if self.rate <= 0 or self.rng.random() >= self.rate:
                return None
            fault = self.rng.choice(self.faults)
            if call == "find" and fault == "lost":
                fault = "500"  # a read has nothing to lose
            self.injected[f"{call}:{fault}"] += 1
            return fault

    def _raise(self, fault: str, key: str) -> None:
        if fault == "429":
            raise RateLimited(f"429 Too Many Requests ({key})", retry_after=self.retry_after)
        if fault == "timeout":
            raise PlatformUnavailable(f"The platform did not answer in time ({key})")
        if fault == "lost":
            raise PlatformUnavailable(f"The connection dropped before the response ({key})")
        raise PlatformUnavailable(f"500 Internal Server Error ({key})")

    def find_document(self, *, key: str) -> str | None:
        fault = self._draw("find")
        if fault is not None:
            self._raise(fault, key)
        return self.inner.find_document(key=key)

    def write_document(self, *, key: str, document: dict[str, Any]) -> str:
        refusal = self.refuse(key, document) if self.refuse is not None else None
        if refusal is not None:
            with self._lock:
                self.calls["write"] += 1
                self.injected[f"write:{type(refusal).__name__}"] += 1
            raise refusal
        fault = self._draw("write")
        if fault is not None and fault != "lost":
            self._raise(fault, key)
        if self.delay_before_write:
            _sleep(self.delay_before_write)
        target_id = self.inner.write_document(key=key, document=document)
        with self._lock:
            self.writes[key] += 1
        if self.after_write is not None:
            self.after_write(key)
        if self.delay_after_write:
            _sleep(self.delay_after_write)
        if fault == "lost":
            self._raise(fault, key)
        return target_id


class DuplicateReporter(SingleWrites):
    """Wraps a target that refuses a repeated key itself (Beancount) and
    reports, instead of hiding, each write of a key the target already holds:
    a sync that writes without looking the key up first shows here, whatever
    the inner target then does with it. Also records each look-up.

    Works across processes (a forked worker, then its successor): every
    event is appended as one line, "find <key>" or "duplicate <key>", to
    `journal` (a file path). `events(journal)` reads them back."""

    def __init__(self, inner: AccountingTarget, journal: str) -> None:
        self.inner = inner
        self.platform_key = inner.platform_key
        self.journal = journal

    def _note(self, event: str, key: str) -> None:
        with open(self.journal, "a", encoding="utf-8") as handle:
            handle.write(f"{event} {key}\n")

    def list_accounts(self) -> list[AccountOption]:
        return self.inner.list_accounts()

    def list_tax_rates(self) -> list[TaxRateOption]:
        return self.inner.list_tax_rates()

    def create_account(self, **kwargs: Any) -> AccountOption:
        return self.inner.create_account(**kwargs)

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def find_document(self, *, key: str) -> str | None:
        self._note("find", key)
        return self.inner.find_document(key=key)

    def write_document(self, *, key: str, document: dict[str, Any]) -> str:
        if self.inner.find_document(key=key) is not None:  # asked directly, not by the sync
            self._note("duplicate", key)
        return self.inner.write_document(key=key, document=document)

    @staticmethod
    def events(journal: str) -> list[tuple[str, str]]:
        try:
            with open(journal, encoding="utf-8") as handle:
                return [tuple(line.split(" ", 1)) for line in handle.read().splitlines()]  # type: ignore[misc]
        except FileNotFoundError:
            return []
