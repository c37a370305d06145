"""A local QuickBooks Online company behind the v3 API (test code).

A real HTTP server on loopback holding accounts, customers, vendors, tax
codes, items and the entities written, able to report each account's
balance. Every request goes through the strict harness
(tests/doubles/strict.py, `QuickBooksContract`) before the double handles
it: each entity sent, alone or in a batch, is validated by xmlschema against
Intuit's XSD (read at test time from ../shared/reference/quickbooks/) and
against QBO_REQUIRED (TxnDate, Line with its detail, ...); every entity
answered is validated after. Problems are refused with a ValidationFault and
fail the test (the autouse fixture `strict_doubles`).
"""

from __future__ import annotations

import json
import re
import threading
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Any, Self

import xmlschema

from connectors.quickbooks.client import dumps
from tests import secrets_guard
from tests.doubles.http import JsonHandler, LocalServer, harnessed_handler, most_in_window
from tests.doubles.strict import Contract, Harness, Request

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "quickbooks"
NOW = "2026-11-03T09:00:00-08:00"
# Name lists: a query leaves their inactive rows out unless it asks for them.
NAME_LISTS = ("Account", "Customer", "Vendor", "Item", "TaxCode", "Class", "Department")
# What a customer payment can apply (LinkedTxn TxnType), per Intuit's Payment
# reference: invoices and journal charges it pays, credit memos it uses.
OPEN_ITEMS = ("Invoice", "CreditMemo", "JournalEntry")


# -- the schema --

NAMESPACE = "http://schema.intuit.com/finance/v3"
DOCS = "https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities"
# What Intuit's entity pages require beyond the XSD (which marks almost
# every element minOccurs="0"). TxnDate: "if not supplied, the current date
# on the server is used" -- a sync posting a past business day must send it.
QBO_REQUIRED: dict[str, tuple[str, ...]] = {
    "Invoice": ("Line", "CustomerRef", "TxnDate"),
    "CreditMemo": ("Line", "CustomerRef", "TxnDate"),
    "SalesReceipt": ("Line", "TxnDate"),
    "RefundReceipt": ("Line", "DepositToAccountRef", "TxnDate"),
    "JournalEntry": ("Line", "TxnDate"),
    "Payment": ("TotalAmt", "CustomerRef", "TxnDate"),
    "Deposit": ("DepositToAccountRef", "Line", "TxnDate"),
    "Bill": ("VendorRef", "Line", "TxnDate"),
    "BillPayment": ("VendorRef", "PayType", "TotalAmt", "Line", "TxnDate"),
    "Transfer": ("FromAccountRef", "ToAccountRef", "Amount", "TxnDate"),
}


class Schema:
    """Intuit's published XSD (IntuitRestServiceDef.xsd and the Finance,
    base and names types it includes), loaded with xmlschema. A JSON entity
    is encoded to XML against its global element; every error the validator
    reports while encoding is a problem (unknown elements, wrong simple
    types, enumerations, repetition). The JSON convention maps to XML as
    QuickBooks' own does: `{"value": ..}` is an element's text, attribute
    names (`name`, `type`) are attributes; element order is the schema's."""

    def __init__(self, folder: Path = REFERENCE) -> None:
        with warnings.catch_warnings():
            # The service definition includes Report.xsd, which Intuit's SDK
            # does not publish beside it; report types are not used here.
            warnings.simplefilter("ignore")
            self.xsd = xmlschema.XMLSchema(
                str(folder / "IntuitRestServiceDef.xsd"), validation="lax"
            )

    def check(
        self, type_name: str, value: Any, path: str = "", *, required: bool = True
    ) -> list[str]:
        """Everything in `value` (a JSON entity) that element `type_name`
        does not allow; with `required`, also what QBO_REQUIRED names."""
        where = path or type_name
        element = self.xsd.elements.get(type_name)
        if element is None:
            return [f"{where}: no element {type_name} in Intuit's schema"]
        data = self._as_xml_data(element, value)
        _, errors = element.encode(
            data,
            validation="lax",
            converter=xmlschema.UnorderedConverter,
            namespaces={"": NAMESPACE},
        )
        problems = [f"{where}: {_xsd_error(e)}" for e in errors]
        if not required or not isinstance(value, dict):
            return problems
        for name in QBO_REQUIRED.get(type_name, ()):
            if value.get(name) in (None, "", []):
                problems.append(f"{where}.{name}: required ({DOCS}/{type_name.lower()})")
        for index, line in enumerate(value.get("Line") or []):
            if not isinstance(line, dict):
                continue
            if type_name in ("Payment", "BillPayment"):  # lines link the documents paid
                needed = [n for n in ("Amount", "LinkedTxn") if not line.get(n)]
                if type_name == "Payment":
                    problems += [
                        f"{where}.Line[{index}].LinkedTxn.TxnType: {linked.get('TxnType')!r} is "
                        f"not one a customer payment links ({', '.join(OPEN_ITEMS)}; "
                        f"{DOCS}/payment)"
                        for linked in line.get("LinkedTxn") or []
                        if isinstance(linked, dict) and linked.get("TxnType") not in OPEN_ITEMS
                    ]
            else:
                kind = line.get("DetailType")
                needed = [] if kind and kind in line else ["DetailType and its detail element"]
            problems += [
                f"{where}.Line[{index}].{n}: required ({DOCS}/{type_name.lower()})" for n in needed
            ]
        return problems

    def _as_xml_data(self, element: Any, value: Any) -> Any:
        """xmlschema's dict convention ('@' attributes, '$' text) from QuickBooks JSON."""
        if isinstance(value, list):
            return [self._as_xml_data(element, each) for each in value]
        if not isinstance(value, dict):
            return value
        kind = element.type
        children = {}
        if (
            kind.is_complex()
            and kind.content is not None
            and hasattr(kind.content, "iter_elements")
        ):
            children = {child.local_name: child for child in kind.content.iter_elements()}
        attributes = kind.attributes if kind.is_complex() else {}
        converted: dict[str, Any] = {}
        for name, each in value.items():
            if name == "value" and kind.has_simple_content():
                converted["$"] = each
            elif name in attributes:
                converted["@" + name] = each
            elif name in children:
                converted[name] = self._as_xml_data(children[name], each)
            else:
                converted[name] = each  # the validator reports it
        # `...Ex` elements of IntuitAnyType are Intuit's internal extension
        # slots: the XSD omits minOccurs on some (Transfer's TransferEx), yet
        # the API never asks for them. An empty one stands in, so the
        # validator goes on to check the rest of the sequence.
        for name, child in children.items():
            if name not in converted and child.min_occurs and _local_type(child) == "IntuitAnyType":
                converted[name] = {}
        return converted


def _local_type(element: Any) -> str:
    return (element.type.name or "").rsplit("}", 1)[-1]


def _xsd_error(error: Any) -> str:
    where = getattr(error, "path", None) or ""
    reason = getattr(error, "reason", None) or str(error)
    value = getattr(error, "obj", None)
    if isinstance(value, (str, int, Decimal)):
        reason += f" (got {value!r})"
    return f"{where} {reason}".replace("{" + NAMESPACE + "}", "").strip()[:300]


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
        self.schema_problems: list[str] = []  # the double's harness's violations (same list)
        self.journal_charges: dict[str, Decimal] = {}  # JournalEntry Id -> open A/R charge
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
        # The company's own record (Finance.xsd CompanyInfo), read for its name.
        self.add("CompanyInfo", {"CompanyName": "Double Café Ltd", "Country": "GB"}, "1")

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
        """Store an entity the strict harness has let through."""
        refused = self._business_rules(entity, body)
        if refused:
            return _fault("ValidationFault", "Business Validation Error", refused, code="6000")
        stored = self.add(entity, self._with_totals(entity, body))
        if entity == "JournalEntry" and self._journal_charge(body) > 0:
            self.journal_charges[stored["Id"]] = self._journal_charge(body)
        self.creates[entity] += 1
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
        if entity == "Payment":  # last: it applies the payment once nothing else refused
            return self._payment_rules(body)
        return None

    def _payment_rules(self, body: dict[str, Any]) -> str | None:
        """A customer payment applies what it links: invoices and journal
        charges (a journal's Accounts Receivable debit for a customer) it
        pays less the credit memos it uses equal its total (so a 0.00 payment
        applies a credit memo to an invoice, or to the journal that paid the
        credit back), and no linked document is applied beyond its open
        balance. Balances fall as the payment is accepted."""
        applied = Decimal(0)
        moves: list[tuple[str, str, Decimal]] = []
        for line in body.get("Line", []):
            for linked in line.get("LinkedTxn", []):
                kind, txn_id = linked["TxnType"], linked["TxnId"]
                if kind not in OPEN_ITEMS or txn_id not in self.entities[kind]:
                    continue
                amount = Decimal(line["Amount"])
                applied += -amount if kind == "CreditMemo" else amount
                moves.append((kind, txn_id, amount))
        if not moves:
            return None
        if applied != Decimal(body.get("TotalAmt", 0)):
            return f"The amounts applied ({applied}) do not match the payment total {body.get('TotalAmt')}"
        for kind, txn_id, amount in moves:
            if amount > self.open_balance(kind, txn_id):
                return (
                    f"The amount applied {amount} exceeds the open balance "
                    f"{self.open_balance(kind, txn_id)} of {kind} {txn_id}"
                )
        for kind, txn_id, amount in moves:
            if kind == "JournalEntry":
                self.journal_charges[txn_id] -= amount
            else:
                row = self.entities[kind][txn_id]
                row["Balance"] = Decimal(row["Balance"]) - amount
        return None

    def open_balance(self, kind: str, txn_id: str) -> Decimal:
        """What is still open on an invoice, credit memo or journal charge."""
        if kind == "JournalEntry":
            return self.journal_charges.get(txn_id, Decimal(0))
        return Decimal(self.entities[kind][txn_id].get("Balance", 0))

    def open_items(self) -> dict[str, Decimal]:
        """ "<TxnType>:<Id>" -> open balance of every invoice, credit memo and
        journal charge not fully applied (what QuickBooks' Receive Payment
        would list as open for the customer)."""
        found = {}
        for kind in OPEN_ITEMS:
            for txn_id in self.entities[kind]:
                if self.open_balance(kind, txn_id):
                    found[f"{kind}:{txn_id}"] = self.open_balance(kind, txn_id)
        return found

    def _journal_charge(self, body: dict[str, Any]) -> Decimal:
        """A journal's debits to Accounts Receivable naming a customer: an
        open charge for that customer, as QuickBooks keeps one."""
        receivable = {
            i for i, a in self.entities["Account"].items()
            if a.get("AccountType") == "Accounts Receivable"
        }  # fmt: skip
        charge = Decimal(0)
        for line in body.get("Line", []):
            detail = line["JournalEntryLineDetail"]
            customer = (detail.get("Entity") or {}).get("Type") == "Customer"
            if customer and detail["AccountRef"]["value"] in receivable:
                charge += _signed_journal(line)
        return charge

    def _with_totals(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """QuickBooks computes the totals of what it stores."""
        lines = sum((Decimal(line.get("Amount", 0)) for line in body.get("Line", [])), Decimal(0))
        tax = Decimal((body.get("TxnTaxDetail") or {}).get("TotalTax", 0))
        if entity in ("Invoice", "CreditMemo"):
            return {**body, "TotalAmt": lines + tax, "Balance": lines + tax}
        if entity in ("Bill", "Deposit"):
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
        if not total:  # a credit memo applied to an invoice: both on AR, nothing moves
            return []
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


class QuickBooksContract(Contract):
    """QuickBooks Online v3 as its XSD and entity pages describe it: the
    query parameters it takes (minorversion, requestid, query), each entity
    written (alone or in a batch) held against its element and QBO_REQUIRED,
    and each entity answered against its element."""

    vendor = "quickbooks"
    PARAMS = frozenset({"minorversion", "requestid", "query"})

    def __init__(self, realm: str) -> None:
        self.prefix = f"/v3/company/{realm}/"

    def request_problems(self, request: Request) -> list[str]:
        problems = [
            f"query parameter {name!r} is not one QuickBooks takes"
            for name in sorted(set(request.query) - self.PARAMS)
        ]
        if request.method != "POST" or not request.body:
            return problems
        try:
            body = request.json()
        except ValueError as error:
            return [*problems, f"body is not JSON: {error}"]
        resource = request.path.removeprefix(self.prefix)
        if resource == "batch":
            for index, operation in enumerate(body.get("BatchItemRequest") or []):
                for entity in set(operation) - {"bId", "operation"}:
                    where = f"BatchItemRequest[{index}].{entity}"
                    problems += schema().check(entity, operation[entity], where)
            return problems
        entity = next((n for n in _WRITABLE if n.lower() == resource), None)
        if entity is None:
            return [*problems, f"no entity {resource!r} to write"]
        return problems + schema().check(entity, body)

    def describes(self, request: Request, status: int) -> bool:
        return status in (HTTPStatus.OK, HTTPStatus.BAD_REQUEST)

    def response_problems(self, request: Request, status: int, payload: bytes) -> list[str]:
        if status != HTTPStatus.OK:
            return []
        answer = json.loads(payload, parse_float=Decimal)
        entities: list[tuple[str, Any]] = []
        for name, value in answer.items():
            if name == "QueryResponse":
                entities += [
                    (kind, row)
                    for kind, rows in value.items()
                    if isinstance(rows, list)
                    for row in rows
                ]
            elif name == "BatchItemResponse":
                entities += [
                    (kind, item[kind]) for item in value for kind in set(item) - {"bId", "Fault"}
                ]
            elif name not in ("time", "Fault"):
                entities.append((name, value))
        return [
            problem
            for kind, entity in entities
            for problem in schema().check(kind, entity, f"answer {kind}", required=False)
        ]

    def refusal(self, problems: list[str]) -> tuple[int, bytes, dict[str, str]]:
        status, body = _fault(
            "ValidationFault", "Request has invalid or unsupported property", "; ".join(problems)
        )
        return status, dumps(body).encode(), {}


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
        self.harness = Harness(QuickBooksContract(self.realm))
        self.company.schema_problems = self.harness.violations
        self.rate_limit = rate_limit
        self.accepted: list[float] = []
        self.refused: list[float] = []
        self._rate_lock = threading.Lock()
        self.token = token
        secrets_guard.register(token)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.scripted: list[tuple[int, Any, dict[str, str]]] = []
        self.lose_next_answer = False
        super().__init__(self._handler(), poll_interval=0.02)

    def __enter__(self) -> Self:
        schema()  # load Intuit's XSD (seconds) before serving, not during the first call
        return super().__enter__()

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
        return most_in_window(self.accepted, self.rate_limit[1] if self.rate_limit else None)

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
        return harnessed_handler(self, lambda answer: dumps(answer).encode())


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
