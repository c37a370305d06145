"""A local QuickBooks Online company behind the v3 API (test code).

A real HTTP server on loopback holding accounts, customers, vendors, tax
codes, items and the entities written, able to report each account's
balance. Every entity the connector sends and every entity the double
answers with is checked against its complexType in Intuit's `Finance.xsd`
(read at test time from ../shared/reference/quickbooks/): element names,
simple types, repetition and required elements. Problems are refused with a
ValidationFault and kept in `double.schema_problems` for the tests to assert.
"""

from __future__ import annotations

import json
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors.quickbooks.client import dumps
from tests.doubles.http import JsonHandler, LocalServer

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "quickbooks"
XS = "{http://www.w3.org/2001/XMLSchema}"
NOW = "2026-11-03T09:00:00-08:00"
# Name lists: a query leaves their inactive rows out unless it asks for them.
NAME_LISTS = ("Account", "Customer", "Vendor", "Item", "TaxCode", "Class", "Department")


# -- the schema --


@dataclass(frozen=True)
class Field:
    type: str
    required: bool
    repeated: bool


class Schema:
    """The complex and simple types of Intuit's XSD files."""

    def __init__(self, folder: Path = REFERENCE) -> None:
        self.complex: dict[str, ET.Element] = {}
        self.simple: dict[str, ET.Element] = {}
        for name in ("IntuitBaseTypes.xsd", "IntuitNamesTypes.xsd", "Finance.xsd"):
            # Intuit's published schema, read-only reference data, not user input.
            for node in ET.parse(folder / name).getroot():  # noqa: S314
                if node.tag == XS + "complexType":
                    self.complex[node.get("name", "")] = node
                elif node.tag == XS + "simpleType":
                    self.simple[node.get("name", "")] = node
        self._fields: dict[str, dict[str, Field]] = {}

    def fields(self, type_name: str) -> dict[str, Field]:
        if type_name not in self._fields:
            found: dict[str, Field] = {}
            self._collect(self.complex[type_name], found, optional=False)
            self._fields[type_name] = found
        return self._fields[type_name]

    def _collect(self, node: ET.Element, found: dict[str, Field], *, optional: bool) -> None:
        for child in node:
            tag = child.tag.removeprefix(XS)
            if tag in ("sequence", "choice", "all"):
                inner = optional or tag == "choice" or child.get("minOccurs") == "0"
                self._collect(child, found, optional=inner)
            elif tag in ("complexContent", "simpleContent"):
                self._collect(child, found, optional=optional)
            elif tag == "extension":
                base = _local(child.get("base", ""))
                if base in self.complex:
                    found.update(self.fields(base))
                self._collect(child, found, optional=optional)
            elif tag == "element":
                kind = _local(child.get("type", "xs:anyType"))
                # `...Ex` elements of IntuitAnyType are Intuit's internal
                # extension slots: the XSD omits minOccurs on some, but the
                # API never requires them.
                found[child.get("name", "")] = Field(
                    type=kind,
                    required=not optional
                    and child.get("minOccurs", "1") != "0"
                    and kind != "IntuitAnyType",
                    repeated=child.get("maxOccurs", "1") not in ("0", "1"),
                )
            elif tag == "attribute":
                found[child.get("name", "")] = Field(
                    type=_local(child.get("type", "xs:string")),
                    required=child.get("use") == "required",
                    repeated=False,
                )

    def is_simple_content(self, type_name: str) -> bool:
        node = self.complex.get(type_name)
        return node is not None and node.find(XS + "simpleContent") is not None

    def check(self, type_name: str, value: Any, path: str = "") -> list[str]:
        """Everything in `value` that the type does not allow."""
        where = path or type_name
        if type_name in self.complex:
            if not isinstance(value, dict):
                return [f"{where}: expected an object for {type_name}"]
            fields = self.fields(type_name)
            problems = []
            for name, field in fields.items():
                if field.required and name not in value:
                    problems.append(f"{where}.{name}: required by {type_name}")
            for name, item in value.items():
                if name == "value" and self.is_simple_content(type_name):
                    continue
                field = fields.get(name)
                if field is None:
                    problems.append(f"{where}.{name}: no such element in {type_name}")
                    continue
                if field.repeated:
                    if not isinstance(item, list):
                        problems.append(f"{where}.{name}: must be a list (maxOccurs > 1)")
                        continue
                    for index, each in enumerate(item):
                        problems += self.check(field.type, each, f"{where}.{name}[{index}]")
                elif isinstance(item, list):
                    problems.append(f"{where}.{name}: occurs at most once")
                else:
                    problems += self.check(field.type, item, f"{where}.{name}")
            return problems
        return self._check_simple(type_name, value, where)

    def _check_simple(self, type_name: str, value: Any, where: str) -> list[str]:
        node = self.simple.get(type_name)
        if node is not None:
            restriction = node.find(XS + "restriction")
            if restriction is None:  # unions and lists: accept text
                return [] if isinstance(value, str) else [f"{where}: expected text"]
            allowed = [e.get("value") for e in restriction.findall(XS + "enumeration")]
            if allowed and value not in allowed:
                return [f"{where}: {value!r} is not one of {type_name}"]
            return self._check_simple(_local(restriction.get("base", "")), value, where)
        if type_name in ("decimal", "double", "float"):
            ok = isinstance(value, (Decimal, int)) and not isinstance(value, bool)
            return [] if ok else [f"{where}: expected a number, got {value!r}"]
        if type_name in (
            "int",
            "integer",
            "long",
            "short",
            "positiveInteger",
            "nonNegativeInteger",
        ):
            ok = isinstance(value, int) and not isinstance(value, bool)
            ok = ok or (isinstance(value, Decimal) and value == value.to_integral_value())
            return [] if ok else [f"{where}: expected an integer, got {value!r}"]
        if type_name == "boolean":
            return [] if isinstance(value, bool) else [f"{where}: expected true/false"]
        if type_name == "date":
            ok = isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)
            return [] if ok else [f"{where}: expected a date, got {value!r}"]
        if type_name == "dateTime":
            ok = isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", value)
            return [] if ok else [f"{where}: expected a date-time, got {value!r}"]
        if type_name in ("string", "normalizedString", "token", "anyURI", "ID", "id"):
            return [] if isinstance(value, str) else [f"{where}: expected text, got {value!r}"]
        return []  # anyType and friends


def _local(name: str) -> str:
    return name.split(":", 1)[-1]


@cache
def schema() -> Schema:
    return Schema()


# -- the company --


class Company:
    """The books of one QuickBooks company."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entities: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.next_id = 100
        self.replies: dict[str, tuple[int, Any]] = {}  # requestid -> first answer
        self.creates: Counter[str] = Counter()  # entities really created, by type
        self.schema_problems: list[str] = []
        self.add(
            "Account",
            {
                "Name": "Accounts Receivable",
                "AccountType": "Accounts Receivable",
                "Classification": "Asset",
            },
            "AR",
        )
        self.add(
            "Account",
            {
                "Name": "Accounts Payable",
                "AccountType": "Accounts Payable",
                "Classification": "Liability",
            },
            "AP",
        )
        self.add("Preferences", {"CurrencyPrefs": {"HomeCurrency": {"value": "GBP"}}}, "1")

    def add(
        self, entity: str, body: dict[str, Any], entity_id: str | None = None
    ) -> dict[str, Any]:
        if entity_id is None:
            self.next_id += 1
            entity_id = str(self.next_id)
        stored = {
            **body,
            "Id": entity_id,
            "SyncToken": "0",
            "MetaData": {"CreateTime": NOW, "LastUpdatedTime": NOW},
        }
        if entity in NAME_LISTS:
            stored.setdefault("Active", True)
        self.entities[entity][entity_id] = stored
        return stored

    # -- seeding --

    def seed_account(
        self, account_id: str, name: str = "", kind: str = "Asset", *, active: bool = True
    ) -> None:
        types = {
            "Asset": "Other Current Asset",
            "Liability": "Other Current Liability",
            "Revenue": "Income",
            "Expense": "Expense",
            "Equity": "Equity",
        }
        self.add(
            "Account",
            {
                "Name": name or f"Account {account_id}",
                "AccountType": types[kind],
                "Classification": kind,
                "Active": active,
            },
            account_id,
        )

    def seed_tax_code(self, code_id: str, percent: str | None) -> None:
        detail = []
        if percent is not None:
            rate_id = f"R-{code_id}"
            self.add(
                "TaxRate", {"Name": f"{code_id} {percent}%", "RateValue": Decimal(percent)}, rate_id
            )
            detail = [
                {
                    "TaxRateRef": {"value": rate_id},
                    "TaxTypeApplicable": "TaxOnAmount",
                    "TaxOrder": 0,
                }
            ]
        self.add(
            "TaxCode", {"Name": code_id, "SalesTaxRateList": {"TaxRateDetail": detail}}, code_id
        )

    # -- writing --

    def create(self, entity: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        problems = schema().check(entity, body)
        if problems:
            self.schema_problems += problems
            return _fault(
                "ValidationFault",
                "Request has invalid or unsupported property",
                "; ".join(problems),
            )
        refused = self._business_rules(entity, body)
        if refused:
            return _fault("ValidationFault", "Business Validation Error", refused, code="6000")
        stored = self.add(entity, self._with_totals(entity, body))
        self.creates[entity] += 1
        answer_problems = schema().check(entity, stored)
        self.schema_problems += [f"answer: {p}" for p in answer_problems]
        return HTTPStatus.OK, {entity: stored, "time": NOW}

    def _business_rules(self, entity: str, body: dict[str, Any]) -> str | None:
        if len(body.get("DocNumber", "")) > 21:
            return "DocNumber is longer than 21 characters"
        if entity in ("Customer", "Vendor"):
            name = body.get("DisplayName", "")
            if any(r.get("DisplayName") == name for r in self.entities[entity].values()):
                return f"Duplicate Name Exists Error: another {entity} is named {name}"
        for kind, ref_id in _tracking_named(body):
            found = self.entities[kind].get(ref_id)
            if found is None:
                return f"Invalid Reference Id: {kind} {ref_id} does not exist"
            if not found.get("Active", True):
                return f"{kind} {found.get('Name')} ({ref_id}) is inactive; it cannot be used"
        for account_id in _accounts_named(body):
            account = self.entities["Account"].get(account_id)
            if account is None:
                return f"Invalid Reference Id: Account {account_id} does not exist"
            if not account.get("Active", True):
                return (
                    f"Account {account.get('Name')} ({account_id}) is inactive; it cannot be used"
                )
        for line in body.get("Line", []):
            item = (line.get("SalesItemLineDetail") or {}).get("ItemRef")
            if item and item["value"] not in self.entities["Item"]:
                return f"Invalid Reference Id: Item {item['value']} does not exist"
            for linked in line.get("LinkedTxn", []):
                if linked["TxnId"] not in self.entities[linked["TxnType"]]:
                    return f"Linked {linked['TxnType']} {linked['TxnId']} does not exist"
        if entity == "JournalEntry":
            signed = sum(_signed_journal(line) for line in body["Line"])
            if signed:
                return f"Transaction must balance: debits and credits differ by {abs(signed)}"
        for party in ("CustomerRef", "VendorRef"):
            if party in body:
                kind = party.removesuffix("Ref")
                found = self.entities[kind].get(body[party]["value"])
                if found is None:
                    return f"Invalid Reference Id: {kind} {body[party]['value']} does not exist"
                if not found.get("Active", True):
                    return f"{kind} {found.get('DisplayName')} is inactive; it cannot be used"
        return None

    def _with_totals(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """QuickBooks computes the totals of what it stores."""
        lines = sum((Decimal(line.get("Amount", 0)) for line in body.get("Line", [])), Decimal(0))
        tax = Decimal((body.get("TxnTaxDetail") or {}).get("TotalTax", 0))
        if entity in ("Invoice", "CreditMemo", "Bill", "Deposit"):
            return {**body, "TotalAmt": lines + tax}
        return body

    # -- reading --

    def query(self, statement: str) -> tuple[int, dict[str, Any]]:
        match = re.fullmatch(
            r"select \* from (\w+)(?: where (.+?))?(?: STARTPOSITION (\d+))?(?: MAXRESULTS (\d+))?",
            statement.strip(),
            flags=re.IGNORECASE,
        )
        if match is None:
            return _fault("ValidationFault", "QueryParserError", f"Cannot parse {statement!r}")
        entity, where, start, most = match.groups()
        rows = list(self.entities[entity].values())
        conditions = re.split(r"\s+and\s+", where, flags=re.IGNORECASE) if where else []
        if entity in NAME_LISTS and not any("Active" in c for c in conditions):
            rows = [r for r in rows if r.get("Active", True)]  # QuickBooks hides inactive rows
        for condition in conditions:
            rows = [r for r in rows if _matches(r, condition)]
        first = int(start or 1) - 1
        page = rows[first : first + int(most or 100)]
        return HTTPStatus.OK, {
            "QueryResponse": {entity: page, "startPosition": first + 1, "maxResults": len(page)},
            "time": NOW,
        }

    # -- balances --

    def balances(self, where: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Decimal]:
        """Net movement per account (debit +, credit -); tax as TAX:<code>;
        of the entities `where` accepts when given."""
        moves: dict[str, Decimal] = defaultdict(Decimal)
        code_of_rate = {
            d["TaxRateRef"]["value"]: code_id
            for code_id, code in self.entities["TaxCode"].items()
            for d in code["SalesTaxRateList"]["TaxRateDetail"]
        }
        items = self.entities["Item"]
        for entity, rows in list(self.entities.items()):
            for row in rows.values():
                if where is not None and not where(row):
                    continue
                for account, amount in _postings(entity, row, items, code_of_rate):
                    moves[account] += amount
        return {k: v for k, v in moves.items() if v}


def _signed_journal(line: dict[str, Any]) -> Decimal:
    detail = line["JournalEntryLineDetail"]
    amount = Decimal(line["Amount"])
    return amount if detail["PostingType"] == "Debit" else -amount


def _postings(
    entity: str, row: dict[str, Any], items: dict[str, Any], code_of_rate: dict[str, str]
) -> list[tuple[str, Decimal]]:
    lines = row.get("Line", [])
    total = Decimal(row.get("TotalAmt", 0))
    taxes = [
        (f"TAX:{code_of_rate[t['TaxLineDetail']['TaxRateRef']['value']]}", Decimal(t["Amount"]))
        for t in (row.get("TxnTaxDetail") or {}).get("TaxLine", [])
    ]
    if entity == "JournalEntry":
        return [
            (x["JournalEntryLineDetail"]["AccountRef"]["value"], _signed_journal(x)) for x in lines
        ]
    if entity in ("Invoice", "CreditMemo"):
        sign = Decimal(1) if entity == "Invoice" else Decimal(-1)
        out = [("AR", sign * total)]
        for line in lines:
            item = items[line["SalesItemLineDetail"]["ItemRef"]["value"]]
            out.append((item["IncomeAccountRef"]["value"], -sign * Decimal(line["Amount"])))
        return out + [(account, -sign * amount) for account, amount in taxes]
    if entity == "Payment":
        return [(row["DepositToAccountRef"]["value"], total), ("AR", -total)]
    if entity == "Bill":
        out = [("AP", -total)]
        out += [
            (x["AccountBasedExpenseLineDetail"]["AccountRef"]["value"], Decimal(x["Amount"]))
            for x in lines
        ]
        return out + taxes
    if entity == "BillPayment":
        return [(row["CheckPayment"]["BankAccountRef"]["value"], -total), ("AP", total)]
    if entity == "Deposit":
        out = [(row["DepositToAccountRef"]["value"], total)]
        return out + [
            (x["DepositLineDetail"]["AccountRef"]["value"], -Decimal(x["Amount"])) for x in lines
        ]
    if entity == "Transfer":
        amount = Decimal(row["Amount"])
        return [(row["FromAccountRef"]["value"], -amount), (row["ToAccountRef"]["value"], amount)]
    return []


def _accounts_named(body: dict[str, Any]) -> list[str]:
    found = [
        body[k]["value"]
        for k in ("DepositToAccountRef", "FromAccountRef", "ToAccountRef")
        if k in body
    ]
    if "CheckPayment" in body:
        found.append(body["CheckPayment"]["BankAccountRef"]["value"])
    for line in body.get("Line", []):
        for detail in (
            "JournalEntryLineDetail",
            "AccountBasedExpenseLineDetail",
            "DepositLineDetail",
        ):
            if detail in line:
                found.append(line[detail]["AccountRef"]["value"])
    return found


def _tracking_named(body: dict[str, Any]) -> list[tuple[str, str]]:
    """("Department" | "Class", Id) of every tracking reference in an entity."""
    found = [("Department", body["DepartmentRef"]["value"])] if "DepartmentRef" in body else []
    if "ClassRef" in body:
        found.append(("Class", body["ClassRef"]["value"]))
    for line in body.get("Line", []):
        detail = line.get(line.get("DetailType", "")) or {}
        if "ClassRef" in detail:
            found.append(("Class", detail["ClassRef"]["value"]))
    return found


def _field(row: dict[str, Any], dotted: str) -> Any:
    value: Any = row
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _matches(row: dict[str, Any], condition: str) -> bool:
    match = re.fullmatch(r"([\w.]+)\s*(=|>=|in)\s*(.+)", condition.strip(), flags=re.IGNORECASE)
    if match is None:
        raise ValueError(condition)
    name, op, raw = match.groups()
    values = [_literal(v) for v in re.findall(r"'(?:\\.|[^'])*'|true|false", raw)]
    actual = _field(row, name)
    if isinstance(actual, dict):
        actual = actual.get("value")
    if op.lower() == "in":
        return actual in values or (actual is None and name == "Active" and True in values)
    if op == ">=":
        return actual is not None and str(actual) >= values[0]
    return actual == values[0]


def _literal(token: str) -> Any:
    if token in ("true", "false"):
        return token == "true"
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def _fault(
    kind: str, message: str, detail: str, *, code: str = "2010"
) -> tuple[int, dict[str, Any]]:
    error = {"Message": message, "Detail": detail, "code": code}
    return HTTPStatus.BAD_REQUEST, {"Fault": {"Error": [error], "type": kind}, "time": NOW}


# -- the server --


class QuickBooksDouble(LocalServer):
    """`with QuickBooksDouble() as qbo:` serves one company at `qbo.url`
    for realm `qbo.realm`. `qbo.fail_next(status, body, headers)` queues a
    scripted answer; `qbo.requests` records (method, path, params).

    `rate_limit=(calls, seconds)` makes it throttle as QuickBooks does (500
    calls a minute per company): a call beyond `calls` in the last `seconds`
    is answered 429 with Retry-After; `qbo.accepted` and `qbo.refused` hold
    the arrival times (time.monotonic()) of the calls let through and
    throttled."""

    realm = "9130357"

    def __init__(
        self,
        *,
        token: str = "good-token",  # noqa: S107 - a fake
        rate_limit: tuple[int, float] | None = None,
    ) -> None:
        self.company = Company()
        self.rate_limit = rate_limit
        self.accepted: list[float] = []
        self.refused: list[float] = []
        self._rate_lock = threading.Lock()
        self.token = token
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.scripted: list[tuple[int, Any, dict[str, str]]] = []
        self.lose_next_answer = False
        super().__init__(self._handler(), poll_interval=0.02)

    def fail_next(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.scripted.append((status, body, headers or {}))

    def handle(
        self, method: str, path: str, params: dict[str, str], body: Any, auth: str
    ) -> tuple[int, Any, dict[str, str]]:
        self.requests.append((method, path, params))
        throttled = self._throttle()
        if throttled is not None:
            return throttled
        if self.scripted:
            return self.scripted.pop(0)
        if auth != f"Bearer {self.token}":
            error = {
                "Message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                "code": "3200",
            }
            return (
                HTTPStatus.UNAUTHORIZED,
                {"Fault": {"Error": [error], "type": "AuthenticationFault"}},
                {},
            )
        prefix = f"/v3/company/{self.realm}/"
        if not path.startswith(prefix):
            return HTTPStatus.NOT_FOUND, {"message": "no such company"}, {}
        if params.get("minorversion") != "75":
            return (*_fault("ValidationFault", "minorversion 75 is required", path), {})
        resource = path.removeprefix(prefix)
        company = self.company
        with company.lock:
            if method == "GET" and resource == "query":
                return (*company.query(params["query"]), {})
            request_id = params.get("requestid")
            if method != "POST" or not request_id or len(request_id) > 50:
                return (
                    *_fault(
                        "ValidationFault", "writes need a requestid of ≤ 50 characters", resource
                    ),
                    {},
                )
            if request_id in company.replies:  # a replay gets the first answer
                return (*company.replies[request_id], {})
            if resource == "batch":
                answer: tuple[int, Any] = self._batch(body["BatchItemRequest"])
            else:
                entity = next((e for e in company.entities if e.lower() == resource), None)
                if entity is None and resource in {n.lower() for n in _WRITABLE}:
                    entity = next(n for n in _WRITABLE if n.lower() == resource)
                if entity is None:
                    return HTTPStatus.NOT_FOUND, {"message": "no such entity"}, {}
                answer = company.create(entity, body)
            company.replies[request_id] = answer
            return (*answer, {})

    def _throttle(self) -> tuple[int, Any, dict[str, str]] | None:
        """A 429 when this call would exceed the rate limit, else None."""
        if self.rate_limit is None:
            return None
        calls, seconds = self.rate_limit
        with self._rate_lock:
            now = time.monotonic()
            recent = [t for t in self.accepted if t > now - seconds]
            if len(recent) < calls:
                self.accepted.append(now)
                return None
            self.refused.append(now)
            wait = recent[0] + seconds - now
        error = {"Message": "ThrottleExceeded", "Detail": "Too many requests", "code": "003001"}
        return (
            HTTPStatus.TOO_MANY_REQUESTS,
            {"Fault": {"Error": [error], "type": "ThrottleExceeded"}, "time": NOW},
            {"Retry-After": f"{max(wait, 0.001):.3f}"},
        )

    def most_in_window(self) -> int:
        """The most calls let through in any `rate_limit` window."""
        if self.rate_limit is None:
            return len(self.accepted)
        seconds = self.rate_limit[1]
        times = sorted(self.accepted)
        most, first = 0, 0
        for last, at in enumerate(times):
            while times[first] <= at - seconds:
                first += 1
            most = max(most, last - first + 1)
        return most

    def _batch(self, operations: list[dict[str, Any]]) -> tuple[int, Any]:
        if len(operations) > 30:
            return _fault(
                "ValidationFault", "Batch is limited to 30 operations", str(len(operations))
            )
        answers = []
        for operation in operations:
            entity = next(k for k in operation if k not in ("bId", "operation"))
            status, answer = self.company.create(entity, operation[entity])
            answers.append(
                {
                    "bId": operation["bId"],
                    **({"Fault": answer["Fault"]} if status >= 400 else {entity: answer[entity]}),
                }
            )
        return HTTPStatus.OK, {"BatchItemResponse": answers, "time": NOW}

    def _handler(self) -> type[JsonHandler]:
        double = self

        class Handler(JsonHandler):
            def encode(self, body: Any) -> bytes:
                return dumps(body).encode()

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(parts.query).items()}
                raw = self.read_body()
                body = json.loads(raw, parse_float=Decimal) if raw else None
                status, answer, headers = double.handle(
                    method, parts.path, params, body, self.headers.get("Authorization", "")
                )
                if double.lose_next_answer and method == "POST":
                    double.lose_next_answer = False
                    return  # the write happened; the connection drops before the answer
                self.reply(status, answer, headers)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler


_WRITABLE = (
    "Invoice",
    "CreditMemo",
    "Payment",
    "JournalEntry",
    "Bill",
    "BillPayment",
    "Deposit",
    "Transfer",
    "Item",
    "Account",
    "Customer",
    "Vendor",
)
