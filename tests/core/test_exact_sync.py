"""The real sync service writing a café's days into the Exact Online double:
each document exactly once after a clean run, a repeated run, and a worker
killed with SIGKILL at a random moment (Exact keeps no idempotency key and
cannot update or delete a journal entry, so recovery rests on
`find_document`)."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from typing import Any

import pytest
from django.db import connections

from commerce_sync.core.models import Merchant
from commerce_sync.core.services.demo import DEMO_ACCOUNTS
from commerce_sync.syncs.runs import sync_run_execute
from tests.connectors.test_exact import _keys_in
from tests.core.target_sync import link_target, sync_exactly_once
from tests.core.test_exactly_once import (
    NOW,
    assert_synced_exactly_once,
    expected_documents,
    merchant_seed,
    once,
    rerun,
)
from tests.doubles.exact_double import ExactDouble

# Our account types -> the Exact G/L type seeded for the demo café's accounts.
GL_TYPES = {"Asset": 12, "Liability": 90, "Income": 110, "Expense": 120}


def exact_books(partner: Any, name: str, exact: ExactDouble) -> Merchant:
    """A demo café (invoice format, two days) whose books are in `exact`."""
    books = exact.books
    for code, label, kind, _rate in DEMO_ACCOUNTS:
        side = "D" if kind in ("Asset", "Expense") else "C"
        books.seed_account(
            code, label, 24 if code.endswith("VAT:Output") else GL_TYPES[kind], side=side
        )
    books.seed_account("1300", "Debiteuren", 20)
    books.seed_account("1600", "Crediteuren", 22, side="C")
    books.seed_vat("Liabilities:VAT:Output", "20", to_pay="Liabilities:VAT:Output")
    books.seed_party("CAFE", "Café till")
    books.seed_party("BANK", "Card processor", customer=False)
    merchant = merchant_seed(partner, name, days=2, ledger=False)
    link_target(merchant, "exact", {"division": exact.division, "host": "nl"}, exact)
    return merchant


@pytest.mark.django_db(transaction=True)
def test_a_sync_writes_each_day_once_into_exact(partner: Any, settings: Any) -> None:
    with ExactDouble(division=310001) as exact:
        settings.EXACT_BASE_URL = exact.url
        merchant = exact_books(partner, "Exact café", exact)
        expected = expected_documents(merchant, NOW)
        assert {d["type"] for d in expected.values()} >= {
            "invoice",
            "payment",
            "bill",
            "billPayment",
        }
        run = sync_exactly_once(merchant, expected, lambda: _keys_in(exact))
        # Payments are journal entries Exact does not match to the invoices
        # (unlike a Xero merchant's paid invoices): the run says so.
        advice = [m["message"] for m in run.messages if m["code"] == "TargetAdvisory"]
        assert len(advice) == 1 and advice[0].startswith("Exact Online: the day's payments")
        assert "receivables and payables" in advice[0] and "open items" in advice[0]
        writes = [r for r in exact.requests if r[0] == "POST"]
        invoices = sum(1 for d in expected.values() if d["type"] in ("invoice", "creditNote"))
        # One create per document; per invoice or credit note one processing
        # call (PrintedSalesInvoices) and one read of its status (so a lost
        # answer neither skips nor repeats it); a handful of reads and
        # lookups (Exact allows 60 calls a minute).
        assert len(exact.requests) <= len(expected) + 2 * invoices + 8, len(exact.requests)
        assert rerun(merchant) is None or _keys_in(exact) == once(expected)
        assert [r for r in exact.requests if r[0] == "POST"] == writes  # nothing written again
        assert exact.violations == []


TRIALS = int(os.environ.get("CRASH_TRIALS", "6"))


def _sync_in_child(merchant_id: str) -> None:
    merchant = Merchant.objects.select_related("sync_configuration").get(pk=merchant_id)
    sync_run_execute(merchant=merchant, now=NOW)
    os._exit(0)


@pytest.mark.django_db(transaction=True)
def test_a_sync_killed_at_any_moment_writes_each_document_once(partner: Any, settings: Any) -> None:
    context = multiprocessing.get_context("fork")
    dice = random.Random(23)  # noqa: S311 - a test's dice
    outcomes: Counter[str] = Counter()
    for trial in range(TRIALS):
        # A division per trial: the shared limiter counts 60 calls a minute each.
        with ExactDouble(division=320000 + trial, delay=0.004) as exact:
            settings.EXACT_BASE_URL = exact.url
            merchant = exact_books(partner, f"Exact crash {trial}", exact)
            expected = expected_documents(merchant, NOW)
            connections.close_all()  # the child opens its own session
            child = context.Process(target=_sync_in_child, args=(str(merchant.pk),))
            child.start()
            if trial % 2:  # anywhere: reading, storing, mapping or writing
                time.sleep(dice.uniform(0.0, 0.4))
            else:  # after the k-th create, in the window before it is recorded
                wanted, deadline = dice.randint(1, len(expected) - 1), time.monotonic() + 20
                while sum(exact.books.creates.values()) < wanted and child.is_alive():
                    assert time.monotonic() < deadline, "the child made no progress"
                    time.sleep(0.001)
                time.sleep(dice.uniform(0.0, 0.005))
            os.kill(child.pid or 0, signal.SIGKILL)
            child.join(5)
            written = sum(_keys_in(exact).values())
            outcomes["killed" if child.exitcode == -signal.SIGKILL else "finished"] += 1
            outcomes["killed after writing" if 0 < written < len(expected) else "other"] += 1
            rerun(merchant)
            assert _keys_in(exact) == once(expected), f"trial {trial}"
            assert_synced_exactly_once(merchant, expected)
            assert exact.violations == []
    assert outcomes["killed"] >= 1, outcomes
    assert outcomes["killed after writing"] >= TRIALS // 2 - 1, outcomes
