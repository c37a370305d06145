"""Every hand-worked scenario, mapped by `mapping.preview.preview`, the function
the `preview_sync` command prints (run in-process so a mutation tester sees
which engine code each scenario reaches, and in about a tenth of the time);
`test_the_command_prints_what_the_engine_maps` runs the real command on a
mapped and a refused scenario and compares its output and exit status.

The published ones are read from ../shared/scenarios at test time
(COMMERCE_SYNC_SHARED overrides where ../shared is, for `make mutate`, which
runs the tests from a copy of the repository); ours, for what those do not
cover, live beside this file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from mapping.preview import preview as engine_preview
from tests.mapping.books import assert_controls_closed, in_group, movements, nonzero

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("COMMERCE_SYNC_SHARED") or ROOT.parent / "shared") / "scenarios"
OURS = Path(__file__).resolve().parent / "scenarios"
SCENARIOS = sorted(SHARED.glob("*.json")) + sorted(OURS.glob("*.json"))
COMMAND_ENV = {
    **os.environ,
    "DEBUG": "1",
    "ENV_FILE": "",
    "SECRET_KEY": "preview-" + "x" * 50,
    "DATABASE_URL": "sqlite:////tmp/commerce-sync-preview-unused.sqlite3",
}


def preview(path: Path) -> tuple[int, dict]:
    """The command's (exit status, parsed stdout), computed in-process."""
    result = engine_preview(json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal))
    output = json.loads(json.dumps(result.as_json(), ensure_ascii=False))
    return (1 if result.errors else 0), output


def preview_command(path: Path) -> tuple[int, dict]:
    done = subprocess.run(
        [sys.executable, "manage.py", "preview_sync", "--input", str(path)],
        cwd=ROOT,
        env=COMMAND_ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout) if done.stdout else {}


def test_the_published_scenarios_are_there():
    if not SHARED.parent.is_dir() and not os.environ.get("CI"):
        pytest.skip(f"{SHARED.parent} is absent (a clone on its own); with CI set this fails")
    assert len(list(SHARED.glob("*.json"))) >= 4, f"no scenarios found in {SHARED}"


@pytest.mark.parametrize("name", ["uk-cafe-journal", "cash-rounding-refused"])
def test_the_command_prints_what_the_engine_maps(name: str):
    path = next(p for p in SCENARIOS if p.stem == name)
    assert preview_command(path) == preview(path)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario(path: Path):
    scenario = json.loads(path.read_text(), parse_float=Decimal)
    status, output = preview(path)
    expected = scenario["expected"]
    if "errors" in expected:  # a refusal: exactly these errors, nothing posted
        assert status == 1, output
        assert [e["code"] for e in output["errors"]] == [x["code"] for x in expected["errors"]]
        for got, want in zip(output["errors"], expected["errors"], strict=True):
            for fragment in want.get("contains", []):
                assert fragment in got["message"], (fragment, got["message"])
        assert output["documents"] == []
        return
    assert status == 0, output.get("errors")
    assert output["errors"] == []
    for want in expected.get("warnings", []):
        assert any(
            w["code"] == want["code"] and all(f in w["message"] for f in want.get("contains", []))
            for w in output["warnings"]
        ), (want, output["warnings"])
    documents = output["documents"]
    if "creditNoteLinks" in expected:
        got_links = [
            (link["type"], link["amount"])
            for doc in documents
            if doc["type"] == "creditNote"
            for link in doc["links"]
        ]
        assert got_links == [tuple(x) for x in expected["creditNoteLinks"]]
        invoices = {d["key"] for d in documents if d["type"] == "invoice"}
        for doc in documents:
            if doc["type"] == "creditNote":
                assert {link["id"] for link in doc["links"]} <= invoices
    if "descriptions" in expected:
        described = {
            line["description"]
            for doc in documents
            for line in doc.get("journalLines", []) + doc.get("lineItems", [])
        } | {doc["description"] for doc in documents}
        assert set(expected["descriptions"]) <= described, described
    assert len({d["key"] for d in documents}) == len(documents), "keys must be unique"
    for doc in documents:
        if doc["type"] == "journalEntry":
            total = sum(Decimal(line["netAmount"]) for line in doc["journalLines"])
            assert total == 0, f"{doc['key']} does not balance"
    if "journal" in expected:
        check_journal_groups(documents, expected["journal"]["groups"])
    if "invoice" in expected:
        check_invoice_set(documents, expected["invoice"])
    if "invoiceGroups" in expected:
        for group in expected["invoiceGroups"]:
            docs = in_group(documents, group["currency"], group["locationId"])
            moved = movements(docs)
            assert_controls_closed(moved)
            assert nonzero(moved, group["currency"]) == group["balances"], group["locationId"]
            check_invoices(docs, "invoice", group["invoices"], short=True)
            check_invoices(docs, "creditNote", group["creditNotes"], short=True)
    if "journals" in expected:
        journals = [d for d in documents if d["type"] == "journalEntry"]
        assert len(journals) == len(expected["journals"])
        for doc, want in zip(journals, expected["journals"], strict=True):
            assert doc.get("flags", []) == want["flags"]
            assert nonzero(movements([doc]), doc["currency"]) == want["balances"]


def check_journal_groups(documents: list[dict], groups: list[dict]) -> None:
    seen = set()
    for group in groups:
        location = group.get("locationId")
        docs = in_group(documents, group["currency"], location)
        assert docs, f"no documents for {group['currency']} / {location}"
        assert {d["type"] for d in docs} == {"journalEntry"}
        assert nonzero(movements(docs), group["currency"]) == group["balances"]
        seen.update(d["key"] for d in docs)
    assert seen == {d["key"] for d in documents}, "documents outside the expected groups"


def check_invoices(
    documents: list[dict], kind: str, expected: list[dict], short: bool = False
) -> None:
    def shape(doc: dict) -> tuple:
        lines = Counter(
            (
                line["accountRef"]["id"],
                (line.get("taxRateRef") or {}).get("id"),
                line["subTotal"],
                line["taxAmount"],
            )
            for line in doc["lineItems"]
        )
        head = (
            (doc["totalAmount"],)
            if short
            else (doc["customerRef"]["id"], doc["currency"], doc["totalAmount"])
        )
        return (*head, frozenset(lines.items()))

    def want(spec: dict) -> tuple:
        if short:
            lines = Counter(tuple(line) for line in spec["lines"])
            return (spec["totalAmount"], frozenset(lines.items()))
        lines = Counter(
            (x["accountId"], x["taxRateId"], x["subTotal"], x["taxAmount"]) for x in spec["lines"]
        )
        return (spec["customerId"], spec["currency"], spec["totalAmount"], frozenset(lines.items()))

    got = Counter(shape(d) for d in documents if d["type"] == kind)
    assert got == Counter(want(x) for x in expected)


def per_account(documents: list[dict], kind: str, field: str = "totalAmount") -> dict[str, str]:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    currency = {}
    for doc in documents:
        if doc["type"] == kind:
            sums[doc["accountRef"]["id"]] += Decimal(doc[field])
            currency[doc["accountRef"]["id"]] = doc["currency"]
    return {k: str(v) for k, v in sums.items()}


def check_invoice_set(documents: list[dict], expected: dict) -> None:
    check_invoices(documents, "invoice", expected.get("invoices", []))
    check_invoices(documents, "creditNote", expected.get("creditNotes", []))
    if "payments" in expected:
        assert per_account(documents, "payment") == expected["payments"]
    if "bills" in expected:
        bills = [d for d in documents if d["type"] == "bill"]
        got = Counter(
            (b["supplierRef"]["id"], b["currency"], b["totalAmount"], line["accountRef"]["id"])
            for b in bills
            for line in b["lineItems"][:1]
        )
        assert got == Counter(
            (b["supplierId"], b["currency"], b["totalAmount"], b["accountId"])
            for b in expected["bills"]
        )
        for bill, spec in zip(bills, expected["bills"], strict=True):
            assert {line["accountRef"]["id"] for line in bill["lineItems"]} == {spec["accountId"]}
    if "billPayments" in expected:
        assert per_account(documents, "billPayment") == expected["billPayments"]
    if "feeRefunds" in expected:
        assert per_account(documents, "deposit") == expected["feeRefunds"]
    if "transfers" in expected:
        got = Counter(
            (d["fromAccountRef"]["id"], d["toAccountRef"]["id"], d["amount"])
            for d in documents
            if d["type"] == "transfer"
        )
        assert got == Counter((t["from"], t["to"], t["amount"]) for t in expected["transfers"])
    moved = movements(documents)
    assert_controls_closed(moved)
    currency = documents[0]["currency"]
    assert nonzero(moved, currency) == expected["balances"]
