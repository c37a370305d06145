"""Bad input never crashes the mapping: `preview` answers every document with
errors that say what is wrong (or, for a harmless change, a valid result), and
`manage.py preview_sync` answers with an exit status and JSON, never a traceback.

Hypothesis mutates valid scenarios (the golden UK café files and sandbox days
in JPY and BHD): it deletes fields, swaps in values of the wrong type, unknown
enum values, absurd numbers (1e400, NaN, infinities), huge strings and nested
junk, and gives configuration, period and schedule the wrong shapes.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import traceback
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from connectors.sandbox.generator import Merchant, generate_day, reference_data
from mapping.engine import MappingResult
from mapping.preview import preview

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(os.environ.get("COMMERCE_SYNC_SHARED") or ROOT.parent / "shared") / "scenarios"

Where = tuple[str | int, ...]


def golden(name: str) -> dict[str, Any]:
    scenario = json.loads((SCENARIOS / name).read_text(encoding="utf-8"), parse_float=Decimal)
    for key in ("expected", "name", "description"):
        scenario.pop(key, None)
    return scenario


def sandbox_day(currency: str, country: str, zone: str, output_format: str) -> dict[str, Any]:
    """A sandbox merchant-day with the golden files' configuration, its tax
    rates extended to the sandbox's country."""
    merchant = Merchant(
        seed="fuzz", time_zone=zone, currency=currency, country=country, orders_per_day=6
    )
    day = date(2026, 11, 2)
    orders, transactions = generate_day(merchant, day)
    config = golden("uk-cafe-invoice.json")["configuration"]
    config["sales"]["taxRates"] |= {
        rate: {"selectedTaxRateId": f"RATE{rate}"} for rate in ("5", "8", "10")
    }
    config["mapSettings"]["outputFormat"] = output_format
    return {
        "timeZone": zone,
        "currency": currency,
        "schedule": {"syncHour": 0, "timeZone": zone, "startDate": "2026-11-01"},
        "period": {"start": day.isoformat(), "end": "2026-11-03"},
        "commerce": {"orders": orders, "transactions": transactions, **reference_data(merchant)},
        "configuration": config,
    }


BASES = [
    golden("uk-cafe-journal.json"),
    golden("uk-cafe-invoice.json"),
    sandbox_day("JPY", "JP", "Asia/Tokyo", "Invoice"),
    sandbox_day("BHD", "BH", "Asia/Bahrain", "JournalEntry"),
]


# -- mutations ---------------------------------------------------------------

ABSURD_NUMBERS = [
    Decimal("1e400"),
    Decimal("-1e400"),
    Decimal("1e-400"),
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
    Decimal("999999999999999.999"),
    Decimal("0.0000000000000000000000000001"),
    float("nan"),
    float("inf"),
    1e308,
    -0.0,
    10**30,
    -(2**63),
    "1e400",
    "NaN",
    "-Infinity",
    " 12.5 ",
    "0x10",
    "",
]
BAD_ENUMS = ["Bitcoin", "card", "CARD", "Paid ", "Chargeback", "Csv", "journalentry", "Other"]
BAD_TEXT = [
    "\x00",
    "\ud800",
    "💸" * 50,
    "../../etc/passwd",
    "2026-13-45T25:61:00",
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+14:00",
    "America",
    "Europe/Londres",
    "UTC",
]


def huge_text() -> str:
    return "x" * 100_000


bad_text = st.one_of(st.sampled_from(BAD_TEXT), st.builds(huge_text))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(ABSURD_NUMBERS + BAD_ENUMS),
    bad_text,
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4),
        st.dictionaries(st.text(max_size=12), inner, min_size=1, max_size=4),
    ),
    max_leaves=12,
)
# Fields worth aiming at (list positions as indexes); missing keys are added.
TARGETS: list[Where] = [
    (),
    ("timeZone",),
    ("currency",),
    ("schedule",),
    ("schedule", "syncHour"),
    ("schedule", "timeZone"),
    ("period",),
    ("period", "start"),
    ("period", "end"),
    ("commerce",),
    ("commerce", "orders"),
    ("commerce", "transactions"),
    ("commerce", "products"),
    ("commerce", "taxComponents"),
    ("configuration",),
    ("configuration", "sales"),
    ("configuration", "sales", "accounts"),
    ("configuration", "sales", "taxRates"),
    ("configuration", "sales", "grouping"),
    ("configuration", "sales", "newTaxRates"),
    ("configuration", "sales", "invoiceStatus"),
    ("configuration", "sales", "salesCustomer"),
    ("configuration", "payments"),
    ("configuration", "payments", "accounts"),
    ("configuration", "fees"),
    ("configuration", "fees", "feesSupplier"),
    ("configuration", "mapSettings"),
    ("configuration", "mapSettings", "outputFormat"),
    ("configuration", "sales", "grouping", "groupingLevels"),
    ("configuration", "sales", "grouping", "groupingLevels", "invoiceLevel"),
    (
        "configuration",
        "sales",
        "grouping",
        "groupingLevels",
        "invoiceLevel",
        "selectedGroupByOptions",
    ),
    ("configuration", "sales", "accounts", "discount"),
    ("configuration", "sales", "accounts", "sales", "selectedAccountId"),
    ("configuration", "sales", "taxRates", "20"),
    ("configuration", "payments", "accounts", "card"),
    ("configuration", "payments", "syncPayments"),
    ("commerce", "orders", 0),
    ("commerce", "orders", 0, "id"),
    ("commerce", "orders", 0, "currency"),
    ("commerce", "orders", 0, "createdDate"),
    ("commerce", "orders", 0, "totalGratuity"),
    ("commerce", "orders", 0, "locationRef"),
    ("commerce", "orders", 0, "serviceCharges"),
    ("commerce", "orders", 0, "serviceCharges", 0),
    ("commerce", "orders", 0, "orderLineItems", 0, "taxPercentage"),
    ("commerce", "orders", 0, "orderLineItems", 0, "totalAmount"),
    ("commerce", "orders", 0, "orderLineItems", 0, "taxes"),
    ("commerce", "orders", 0, "orderLineItems", 0, "discountAllocations"),
    ("commerce", "orders", 0, "payments", 0, "type"),
    ("commerce", "orders", 0, "payments", 0, "status"),
    ("commerce", "orders", 0, "payments", 0, "amount"),
    ("commerce", "transactions", 0, "type"),
    ("commerce", "transactions", 0, "totalAmount"),
    ("commerce", "transactions", 0, "transactionSourceRef"),
    ("commerce", "products", 0, "isGiftCard"),
    ("previouslyPosted",),
    ("late",),
]


def walk(node: Any, path: Where = ()) -> list[Where]:
    """Every path in the tree, the root included."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += walk(value, (*path, index))
    return found


def resolve(tree: Any, path: Where) -> tuple[Any, str | int | None]:
    """(parent, key) of `path`; (None, None) for the root."""
    if not path:
        return None, None
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    return parent, path[-1]


def reachable(tree: Any, path: Where) -> bool:
    """Whether `path` exists, or can be made to by adding keys to objects
    (which this does)."""
    node = tree
    for depth, key in enumerate(path):
        if isinstance(node, dict) and isinstance(key, str):
            if key not in node:
                if depth == len(path) - 1:
                    node[key] = None
                    return True
                node[key] = {}
        elif not (isinstance(node, list) and isinstance(key, int) and key < len(node)):
            return False
        node = node[key]
    return True


OPERATIONS = (
    "delete",
    "junk",
    "junk",
    "absurd",
    "enum",
    "text",
    "wrap",
    "reshape",
    "duplicate",
    "empty",
)


def reshaped(value: Any) -> list[Any]:
    """The same content in other shapes: an object as a list or a string, a
    list as an object, a scalar as an object or a list."""
    if isinstance(value, dict):
        return [list(value.values()) or [1], list(value) or ["key"], json.dumps(str(value))]
    if isinstance(value, list):
        return [{str(i): v for i, v in enumerate(value)} or {"0": 1}, value[:1] * 2, "[]"]
    return [{"id": value}, [value, value], {"value": [value]}]


def replacement(draw: st.DrawFn, operation: str, current: Any) -> Any:
    if operation == "junk":
        return draw(junk)
    if operation == "absurd":
        return draw(st.sampled_from(ABSURD_NUMBERS))
    if operation == "enum":
        return draw(st.sampled_from(BAD_ENUMS))
    if operation == "text":
        return draw(bad_text)
    if operation == "wrap":
        return draw(st.sampled_from(([current], {"value": current})))
    if operation == "reshape":
        return draw(st.sampled_from(reshaped(current)))
    return draw(st.sampled_from(([], {}, "", 0, None)))


@st.composite
def mutated_scenarios(draw: st.DrawFn) -> Any:
    scenario: Any = copy.deepcopy(draw(st.sampled_from(BASES)))
    if draw(st.booleans()):
        scenario["previouslyPosted"] = copy.deepcopy(scenario["commerce"])
    for _ in range(draw(st.integers(1, 3))):
        paths = walk(scenario)
        path = draw(st.sampled_from(paths))
        if draw(st.booleans()):
            aimed = draw(st.sampled_from(TARGETS))
            if reachable(scenario, aimed):
                path = aimed
        operation = draw(st.sampled_from(OPERATIONS))
        parent, key = resolve(scenario, path)
        current = scenario if parent is None else parent[key]
        if operation == "delete":
            if parent is None:
                scenario = {}
            else:
                del parent[key]
            continue
        if operation == "duplicate":
            if isinstance(current, list) and current:
                current.append(copy.deepcopy(draw(st.sampled_from(current))))
                continue
            operation = "junk"
        value = replacement(draw, operation, current)
        if parent is None:
            scenario = value
        else:
            parent[key] = value
    return scenario


# -- known engine crashes ------------------------------------------------------

# A crash found and not yet fixed goes here, pinned by an xfail test:
# (exception type, file, function it escapes from). The fuzzer notes it and
# moves on; remove the entry when the fix lands. None are open.
KNOWN_CRASHES: dict[str, tuple[type[BaseException], str, str]] = {}


def known_crash(error: BaseException) -> str | None:
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if "/mapping/" in frame.filename.replace(os.sep, "/")
    ]
    if not frames:
        return None
    innermost = frames[-1]
    where = innermost.filename.replace(os.sep, "/")
    for name, (kind, path, function) in KNOWN_CRASHES.items():
        if isinstance(error, kind) and where.endswith(path) and innermost.name == function:
            return name
    return None


def preview_unless_known_crash(scenario: Any) -> MappingResult | None:
    """preview's result, or None (noted as a Hypothesis event) for a known crash."""
    try:
        return preview(scenario)
    except Exception as error:
        name = known_crash(error)
        if name is None:
            raise
        event(f"known crash: {name}")
        return None


def check_result(result: Any) -> None:
    assert isinstance(result, MappingResult)
    for issue in [*result.errors, *result.warnings]:
        assert isinstance(issue.code, str) and issue.code
        assert isinstance(issue.message, str) and issue.message.strip()
    payload = result.as_json()
    json.dumps(payload, allow_nan=False)  # what the command prints must be JSON
    if result.errors:
        assert result.documents == [], "a refused input must post nothing"
        return
    for doc in payload["documents"]:
        if doc["type"] == "journalEntry":
            assert sum(Decimal(x["netAmount"]) for x in doc["journalLines"]) == 0


def test_every_base_scenario_maps_cleanly() -> None:
    for scenario in BASES:
        result = preview(copy.deepcopy(scenario))
        assert not result.errors, result.errors
        assert result.documents


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_scenarios())
def test_preview_never_raises_on_mutated_scenarios(scenario: Any) -> None:
    result = preview_unless_known_crash(scenario)
    if result is not None:
        event("refused" if result.errors else "mapped")
        check_result(result)


@settings(max_examples=150, deadline=None)
@given(st.one_of(junk, st.dictionaries(st.sampled_from([p[0] for p in TARGETS[1:]]), junk)))
def test_preview_never_raises_on_junk(document: Any) -> None:
    result = preview_unless_known_crash(document)
    if result is not None:
        check_result(result)
        assert result.errors


# -- the crashes found so far, as minimal inputs --------------------------------


def _base(**changes: Any) -> dict[str, Any]:
    scenario = copy.deepcopy(BASES[0])
    scenario.update(changes)
    return scenario


def _with(path: Where, value: Any) -> dict[str, Any]:
    scenario = _base()
    parent, key = resolve(scenario, path)
    parent[key] = value
    return scenario


def _derived_rate_overflow() -> dict[str, Any]:
    scenario = _base()
    line = scenario["commerce"]["orders"][0]["orderLineItems"][0]
    del line["taxPercentage"]
    line["totalTaxAmount"] = Decimal("100000000000000")
    line["totalAmount"] = Decimal("100000000000000.000000000001")
    return scenario


def _created(value: str) -> dict[str, Any]:
    return _with(("commerce", "orders", 0, "createdDate"), value)


# Inputs that once crashed `preview` (or still do: those are marked `crash`).
# Each must now come back as a result: refused with errors, or mapped.
EDGE_CASES: dict[str, tuple[dict[str, Any], bool]] = {
    "time zone too long for a file name": (_base(timeZone="a" * 300), True),
    "time zone naming a tzdata folder": (_base(timeZone="America"), True),
    "period at the end of year 9999 west of UTC": (
        _base(
            timeZone="America/Los_Angeles",
            period={"start": "9999-12-30", "end": "9999-12-31"},
            schedule={"syncHour": 23},
        ),
        True,
    ),
    "period at the start of year 1 east of UTC": (
        _base(timeZone="Asia/Tokyo", period={"start": "0001-01-01", "end": "0001-01-02"}),
        True,
    ),
    "period start a date-time in year 1": (
        _base(period={"start": "0001-01-01T00:00:00+14:00", "end": "2026-11-03"}),
        True,
    ),
    "createdDate in year 1 east of UTC": (_created("0001-01-01T00:00:00+14:00"), True),
    "createdDate in year 9999 west of UTC": (_created("9999-12-31T23:59:59-12:00"), True),
    "groupingLevels a list": (
        _with(("configuration", "sales", "grouping"), {"groupingLevels": [1]}),
        False,
    ),
    "selectedGroupByOptions a number": (
        _with(
            ("configuration", "sales", "grouping"),
            {"groupingLevels": {"invoiceLevel": {"selectedGroupByOptions": 5}}},
        ),
        False,
    ),
    "sales.accounts a list": (_with(("configuration", "sales", "accounts"), [1]), False),
    "sales.accounts.discount a string": (
        _with(("configuration", "sales", "accounts", "discount"), "4900"),
        False,
    ),
    "serviceCharges[].type a list": (
        _with(
            ("commerce", "orders", 0, "serviceCharges"),
            [{"type": ["Shipping"], "totalAmount": 1}],
        ),
        True,
    ),
    "tax rate derived from absurd amounts": (_derived_rate_overflow(), True),
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_edge_cases_come_back_as_results(case: str) -> None:
    check_result(preview(copy.deepcopy(EDGE_CASES[case][0])))


# -- the command ----------------------------------------------------------------


def run_preview(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "DEBUG": "1",
        "SECRET_KEY": "x" * 50,
        "DATABASE_URL": "sqlite:////tmp/commerce-sync-fuzz.sqlite3",
        "ENV_FILE": "",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "preview_sync", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def scenario_text(scenario: Any) -> str:
    """JSON as a POS sends it: Decimal amounts written as plain numbers."""

    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return json.dumps(plain(scenario))


def _with_first_total(literal: str) -> str:
    """The UK café journal with the first order's total written as `literal`."""
    text = scenario_text(BASES[0])
    assert text.count('"totalAmount": 8.8,') == 1
    return text.replace('"totalAmount": 8.8,', f'"totalAmount": {literal},')


def _refused_files() -> dict[str, str]:
    no_card_account = copy.deepcopy(BASES[0])
    del no_card_account["configuration"]["payments"]["accounts"]["card"]
    bad_amount = copy.deepcopy(BASES[1])
    bad_amount["commerce"]["orders"][0]["totalAmount"] = "lots"
    return {
        "missing card account": scenario_text(no_card_account),
        "amount not a number": scenario_text(bad_amount),
        "top level a list": "[1, 2, 3]",
        "amount 1e400": _with_first_total("1e400"),
        "NaN literal": _with_first_total("NaN"),
        "Infinity literal": _with_first_total("-Infinity"),
    }


@pytest.mark.parametrize("case", sorted(_refused_files()))
def test_command_refuses_bad_data_with_json_errors(case: str, tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(_refused_files()[case], encoding="utf-8")
    done = run_preview("--input", str(path))
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    output = json.loads(done.stdout)
    assert output["documents"] == []
    assert output["errors"] and all(e["message"].strip() for e in output["errors"])


def test_command_maps_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(scenario_text(BASES[3]), encoding="utf-8")
    done = run_preview("--input", str(path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["errors"] == []


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"\xff\xfe\x00garbage", b'{"timeZone": "Europe/London"'],
    ids=["invalid", "empty", "not utf-8", "truncated"],
)
def test_command_rejects_unreadable_files_with_status_2(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_bytes(content)
    done = run_preview("--input", str(path))
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.strip()


def test_command_status_2_for_a_missing_file_or_option(tmp_path: Path) -> None:
    for args in (("--input", str(tmp_path / "absent.json")), ("--input", str(tmp_path)), ()):
        done = run_preview(*args)
        assert done.returncode == 2, (args, done.returncode, done.stderr)
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "content", ['{"a": ' + "1" * 5000 + "}", "[" * 100_000 + "]" * 100_000], ids=["int", "deep"]
)
def test_command_rejects_json_python_cannot_hold(content: str, tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(content, encoding="utf-8")
    done = run_preview("--input", str(path))
    assert "Traceback" not in done.stderr
    assert done.returncode == 2


def test_error_messages_quote_bad_values_briefly() -> None:
    scenario = _with(("commerce", "orders", 0, "currency"), huge_text())
    result = preview(scenario)
    assert result.errors
    assert all(len(e.message) <= 1000 for e in result.errors)
