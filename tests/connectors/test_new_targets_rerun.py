"""Every shared scenario, both formats, written into the Exact Online, MYOB
and Sage doubles and then written again by a fresh target (as a run after a
crash does, remembering nothing): every document is found by its key and
nothing is written twice. (FreeAgent's scenario test does the same.)"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.connectors import test_exact, test_myob, test_sage

SCENARIOS = Path(__file__).resolve().parents[3] / "shared" / "scenarios"
FORMATS = {"journal": "JournalEntry", "invoice": "Invoice"}


def _cases() -> list[tuple[str, str]]:
    cases = []
    for path in sorted(SCENARIOS.glob("*.json")):
        scenario = json.loads(path.read_text(), parse_float=Decimal)
        cases += [(path.name, kind) for kind in scenario.get("expected", {})]
    return cases


def _exact(name: str, output: str) -> Any:
    documents = test_exact._documents(name, output)
    double = test_exact.ExactDouble()
    with double:
        test_exact._seed(double)
        test_exact._seed_for(double, documents)
        locations = {d["group"]["locationId"] for d in documents if d["group"]["locationId"]}
        centres = {location: f"CC-{location}" for location in locations}
        for centre in centres.values():
            double.books.seed_cost_centre(centre)
        yield documents, double, lambda: test_exact._target(double, cost_centres=centres)


def _myob(name: str, output: str) -> Any:
    documents = test_myob._documents(name, output)
    with test_myob.MyobDouble() as double:
        test_myob._seed(double)
        test_myob._seed_for(double, documents)
        yield documents, double, lambda: test_myob._target(double)


def _sage(name: str, output: str) -> Any:
    documents = test_sage._documents(name, output)
    currency = documents[0]["currency"]
    with test_sage.SageDouble(debtors="1300", creditors="1600", base_currency=currency) as double:
        test_sage._seed(double)
        test_sage._seed_for(double, documents)
        yield documents, double, lambda: test_sage._target(double)


@pytest.mark.parametrize("platform", ["exact", "myob", "sage"])
@pytest.mark.parametrize(("name", "kind"), _cases())
def test_a_rerun_after_a_crash_writes_nothing(platform: str, name: str, kind: str) -> None:
    opened = {"exact": _exact, "myob": _myob, "sage": _sage}[platform](name, FORMATS[kind])
    documents, double, target = next(opened)
    items = [(d["key"], d) for d in documents]
    results = target().write_documents(items)
    assert all(isinstance(v, str) for v in results.values()), results
    posts = [r for r in double.requests if r[0] == "POST"]
    fresh = target()
    assert {key: fresh.find_document(key=key) for key in results} == results
    assert target().write_documents(items) == results
    assert [r for r in double.requests if r[0] == "POST"] == posts
    assert double.violations == []
    opened.close()
