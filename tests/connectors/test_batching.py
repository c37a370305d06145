"""The shared batch writing of the accounting targets (`connectors.batching`)
and the reference collection they check with (`mapping.documents`)."""

from __future__ import annotations

from typing import Any

import pytest

from commerce_sync.errors import (
    CredentialsRevoked,
    DocumentRejected,
    PlatformUnavailable,
)
from connectors.batching import (
    SingleWrites,
    chunked,
    create_missing,
    document_links,
    waves_write,
)
from mapping.documents import document_account_refs, document_tax_rate_refs


def _doc(kind: str, *links: str) -> dict[str, Any]:
    return {"type": kind, "links": [{"id": link, "amount": "1.00"} for link in links]}


def test_payments_follow_the_documents_they_settle() -> None:
    documents = {
        "pay-1": _doc("payment", "inv-1", "inv-2"),
        "inv-1": _doc("invoice"),
        "pay-2": _doc("payment", "outside"),  # linked to a key not in this call
        "inv-2": _doc("invoice"),
    }
    waves: list[list[str]] = []

    def write(keys: list[str]) -> dict[str, str | Any]:
        waves.append(keys)
        return {key: f"id-{key}" for key in keys}

    results = waves_write(documents, {}, write)

    assert waves == [["inv-1", "pay-2", "inv-2"], ["pay-1"]]
    assert results == {key: f"id-{key}" for key in documents}


def test_keys_already_settled_are_not_written_and_unanswered_ones_come_again() -> None:
    documents = {"a": _doc("invoice"), "b": _doc("invoice"), "c": _doc("invoice")}
    calls: list[list[str]] = []

    def write(keys: list[str]) -> dict[str, str | Any]:
        calls.append(keys)
        return {key: "ok" for key in keys if key != "c" or len(calls) > 1}

    results = waves_write(documents, {"a": "found"}, write)

    assert calls == [["b", "c"], ["c"]]
    assert results == {"a": "found", "b": "ok", "c": "ok"}


def test_a_cycle_is_refused_without_a_call() -> None:
    documents = {"x": _doc("payment", "y"), "y": _doc("payment", "x"), "z": _doc("invoice")}
    calls: list[list[str]] = []

    def write(keys: list[str]) -> dict[str, str | Any]:
        calls.append(keys)
        return {key: "ok" for key in keys}

    results = waves_write(documents, {}, write)

    assert calls == [["z"]]
    assert results["z"] == "ok"
    for key in ("x", "y"):
        assert isinstance(results[key], DocumentRejected)
        assert "cycle" in results[key].message


def test_chunks_keep_order_and_the_last_is_shorter() -> None:
    assert [list(c) for c in chunked(list(range(7)), 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunked([], 3)) == []
    assert document_links({"links": [{"id": 12}]}) == ["12"]
    assert document_links({"type": "invoice"}) == []


class _OneAtATime(SingleWrites):
    platform_key = "one"

    def __init__(self, refuse: dict[str, Exception]) -> None:
        self.refuse = refuse
        self.written: list[str] = []

    def write_document(self, *, key: str, document: dict[str, Any]) -> str:
        if key in self.refuse:
            raise self.refuse[key]
        self.written.append(key)
        return f"id-{key}"


def test_single_writes_answer_per_key_and_raise_what_concerns_every_document() -> None:
    refused = DocumentRejected("Account 999 does not exist")
    target = _OneAtATime({"b": refused})

    assert target.writes_in_batches is False
    assert target.check_references([_doc("invoice")]) == []
    assert target.write_documents([("a", {}), ("b", {}), ("c", {})]) == {
        "a": "id-a",
        "b": refused,
        "c": "id-c",
    }
    for error in (PlatformUnavailable("down"), CredentialsRevoked("revoked")):
        with pytest.raises(type(error)):
            _OneAtATime({"b": error}).write_documents([("a", {}), ("b", {})])


def test_a_grant_lost_part_way_names_what_the_batch_already_wrote() -> None:
    """Revoked credentials after some writes: the error carries the ids of
    the documents already in the target (found or written, earlier waves
    and this one), and none of the rest."""
    revoked = CredentialsRevoked("gone")

    def create(key: str, document: dict[str, Any]) -> str:
        if key == "inv-3":
            raise revoked
        return f"id-{key}"

    documents = {k: _doc("invoice") for k in ("inv-1", "inv-2", "inv-3", "inv-4")}
    with pytest.raises(CredentialsRevoked) as raised:
        create_missing(documents, {"inv-1": "found-1"}, create)
    assert raised.value.settled == {"inv-1": "found-1", "inv-2": "id-inv-2"}

    class Ledger(SingleWrites):
        def write_document(self, *, key: str, document: dict[str, Any]) -> str:
            return create(key, document)

    revoked.settled = {}
    linked = {**documents, "pay-1": _doc("payment", "inv-1")}
    with pytest.raises(CredentialsRevoked) as raised:
        waves_write(
            linked, {}, lambda keys: Ledger().write_documents([(k, linked[k]) for k in keys])
        )
    assert raised.value.settled == {"inv-1": "id-inv-1", "inv-2": "id-inv-2"}


def test_references_are_collected_from_the_document_and_its_lines() -> None:
    transfer = {
        "type": "transfer",
        "fromAccountRef": {"id": "1100"},
        "toAccountRef": {"id": "1200"},
    }
    invoice = {
        "type": "invoice",
        "customerRef": {"id": "C1"},
        "lineItems": [
            {"accountRef": {"id": "4000"}, "taxRateRef": {"id": "VAT20"}},
            {"accountRef": {"id": "4010"}, "taxRateRef": None},
            {"accountRef": {"id": "4000"}, "taxRateRef": {"id": ""}},
        ],
    }
    journal = {
        "type": "journalEntry",
        "journalLines": [{"accountRef": {"id": "1100"}}, {"accountRef": {"id": 2100}}],
    }
    payment = {"type": "payment", "accountRef": {"id": "1100"}, "links": []}

    assert document_account_refs(transfer) == {"1100", "1200"}
    assert document_account_refs(invoice) == {"4000", "4010"}
    assert document_account_refs(journal) == {"1100", "2100"}
    assert document_account_refs(payment) == {"1100"}
    assert document_tax_rate_refs(invoice) == {"VAT20"}
    assert document_tax_rate_refs(transfer) == set()


def test_which_targets_the_sync_hands_whole_batches() -> None:
    from connectors.beancount import BeancountTarget
    from connectors.http_ledger import HttpLedgerTarget
    from connectors.quickbooks import QuickBooksTarget
    from connectors.xero import XeroTarget

    batched = {
        target.platform_key: target.writes_in_batches
        for target in (BeancountTarget, HttpLedgerTarget, XeroTarget, QuickBooksTarget)
        if callable(target.write_documents) and callable(target.check_references)
    }
    assert batched == {"beancount": False, "http-ledger": False, "xero": True, "quickbooks": True}
