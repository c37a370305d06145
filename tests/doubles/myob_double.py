"""A local MYOB Business company file behind the AccountRight v2 API (test code).

A real HTTP server on loopback holding accounts, tax codes, customers and
the general journals, service invoices and customer payments written, able
to report each account's balance. Every request goes through the strict
harness (tests/doubles/strict.py, `MyobContract`) before the double
handles it:

* the `x-myobapi-key` and `x-myobapi-version: v2` headers must be sent;
* the endpoint must be one the double knows (README: `GeneralLedger/
  Account`, `GeneralLedger/TaxCode`, `GeneralLedger/GeneralJournal`,
  `Sale/Invoice`, `Sale/Invoice/Service`, `Sale/CustomerPayment`,
  `Sale/CreditRefund`, `Sale/CreditSettlement`;
  `Contact/Customer` and `Contact/Supplier` have no contract class in the
  material and are answered unchecked, in the shape of MYOB's published
  Contact resource: `CompanyName`, `IsIndividual`, `DisplayID`, `IsActive`);
* every field of a body (nested lines and links too) must be a property of
  the SDK contract class, inherited ones included (`ServiceInvoice :
  InvoiceWithLines<ServiceInvoiceLine> : Invoice : Sale : BaseEntity`), of
  the property's C# type (Guid, string, bool, int/long/short, decimal,
  double, DateTime as `YYYY-MM-DDTHH:MM:SS`, Uri, an enum's member name, a
  list, a nested class; a link class absent from the material is held to
  `BaseLink`: `UID`, `URI`); `null` only where the type allows it;
* `$filter` may name only properties of the entity read, `$top` ≤ 1000;
* every item answered is held against its class the same way.

The contract classes are parsed from ../shared/reference/myob/sdk-contracts
at test time, never copied. What the double adds on top, as MYOB does:
a journal whose debits and credits differ, a payment whose amounts applied
do not add up to the amount received, or more applied than an invoice owes,
a credit refund against anything but an open credit note of its customer or
for more than the credit left, is refused with MYOB's `{"Errors": [...]}`
400. Each sale keeps its `BalanceDueAmount` and `Status` (`Open`, `Credit`
while a credit note has credit left, `Closed` at zero).

Creates answer 201 with `Location: <uri>/<UID>` and no body; lists are
`PagedCollection`s (`Items`, `NextPageLink`, `Count`) paged by
`$top`/`$skip` (`page_max` rows at most).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from connectors.quickbooks.client import dumps
from tests.doubles.consent import RotatingTokens, serve_page
from tests.doubles.http import JsonHandler, LocalServer, harnessed_handler, most_in_window
from tests.doubles.strict import Contract, Harness, HarnessedDouble, Request

CONTRACTS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "myob" / "sdk-contracts"
TOKEN = "myob-good-token"
API_KEY = "myob-test-api-key"

_CLASS = re.compile(r"public (?:abstract )?class (\w+)(<\w+>)?(?:\s*:\s*([\w.]+)(?:<([\w.]+)>)?)?")
_ENUM = re.compile(r"public enum (\w+)\s*\{([^}]*)\}", re.S)
_PROPERTY = re.compile(r"public ([\w.<>\[\]?]+) (\w+) \{ get; set; \}")
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$")
_INTEGERS = {"int": 2**31, "long": 2**63, "short": 2**15}
_LIST = re.compile(r"^(?:IList|IEnumerable|List)<(\w+)>$|^(\w+)\[\]$")

ENDPOINTS = {
    "GeneralLedger/Account": "Account",
    "GeneralLedger/TaxCode": "TaxCode",
    "GeneralLedger/Category": "Category",
    "GeneralLedger/GeneralJournal": "GeneralJournal",
    "Sale/Invoice": "Invoice",
    "Sale/Invoice/Service": "ServiceInvoice",
    "Sale/CustomerPayment": "CustomerPayment",
    "Sale/CreditRefund": "CreditRefund",
    "Sale/CreditSettlement": "CreditSettlement",
    "Contact/Customer": "",  # no contract class in the material
    "Contact/Supplier": "",  # nor here
}


@dataclass
class CsClass:
    name: str
    base: str | None = None
    base_argument: str | None = None
    parameter: str | None = None
    own: dict[str, tuple[str, bool]] = field(default_factory=dict)  # name -> (type, nullable)


@cache
def contracts() -> tuple[dict[str, CsClass], dict[str, list[str]]]:
    """Every class (with its own properties) and enum in the contracts."""
    classes: dict[str, CsClass] = {}
    enums: dict[str, list[str]] = {}
    for path in sorted(CONTRACTS.rglob("*.cs")):
        text = path.read_text(encoding="utf-8-sig")
        text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))
        for name, body in _ENUM.findall(text):
            members = [m.split("=")[0].strip() for m in body.split(",")]
            enums[name] = [m for m in members if m and not m.startswith("[")]
        current: CsClass | None = None
        ignored = False  # the property after [JsonIgnore] is never on the wire
        for line in text.splitlines():
            if "[JsonIgnore]" in line:
                ignored = True
                continue
            match = _CLASS.search(line)
            if match:
                name, generic, base, argument = match.groups()
                current = CsClass(name, base.rsplit(".", 1)[-1] if base else None, argument)
                current.parameter = generic[1:-1] if generic else None
                classes[name] = current
                continue
            found = _PROPERTY.search(line)
            if found and current is not None:
                kind, prop = found.groups()
                if ignored:
                    ignored = False
                    continue
                nullable = kind.endswith("?") or not (
                    kind in ("bool", "decimal", "double", "Guid", "DateTime") or kind in _INTEGERS
                )
                current.own[prop] = (kind.rstrip("?"), nullable)
    return classes, enums


def properties(name: str) -> dict[str, tuple[str, bool]]:
    """A class's properties, inherited ones included (generic arguments put in)."""
    classes, _ = contracts()
    found: dict[str, tuple[str, bool]] = {}
    current = classes.get(name)
    argument: str | None = None
    while current is not None:
        for prop, (kind, nullable) in current.own.items():
            if current.parameter and argument:
                kind = re.sub(rf"\b{current.parameter}\b", argument, kind)
            found.setdefault(prop, (kind, nullable))
        argument = current.base_argument or argument
        current = classes.get(current.base or "")
    return found


def check(name: str, body: Any, where: str) -> list[str]:
    """What in `body` the contract class `name` does not allow."""
    classes, _ = contracts()
    if name not in classes and name.endswith("Link"):
        name = "BaseLink"  # a link class the material lacks
    if not isinstance(body, dict):
        return [f"{where} is not an object ({name})"]
    known = properties(name)
    problems = []
    for prop, value in body.items():
        if prop not in known:
            problems.append(f"{where}.{prop} is not a property of {name}")
            continue
        problems += _type_problems(*known[prop], value, f"{where}.{prop}")
    return problems


def _type_problems(kind: str, nullable: bool, value: Any, where: str) -> list[str]:
    classes, enums = contracts()
    if value is None:
        return [] if nullable else [f"{where} may not be null ({kind})"]
    listed = _LIST.match(kind)
    if listed:
        inner = listed.group(1) or listed.group(2)
        if not isinstance(value, list):
            return [f"{where} must be a list of {inner}"]
        return [
            p
            for index, each in enumerate(value)
            for p in _type_problems(inner, False, each, f"{where}[{index}]")
        ]
    if kind == "Guid":
        ok = isinstance(value, str) and bool(_GUID.match(value))
    elif kind in ("string", "Uri"):
        ok = isinstance(value, str)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind in _INTEGERS:
        bound = _INTEGERS[kind]
        ok = isinstance(value, int) and not isinstance(value, bool) and -bound <= value < bound
    elif kind in ("decimal", "double"):
        ok = isinstance(value, int | Decimal | float) and not isinstance(value, bool)
    elif kind == "DateTime":
        ok = isinstance(value, str) and bool(_DATE.match(value))
    elif kind in enums:
        ok = value in enums[kind]
    elif kind in classes or kind.endswith("Link"):
        return check(kind, value, where)
    else:
        return [f"{where} has C# type {kind}, which this double cannot check"]
    return [] if ok else [f"{where} = {value!r} is not a {kind}"]


def _error(name: str, message: str, status: int = 400) -> tuple[int, Any, dict[str, str]]:
    return status, {"Errors": [{"Name": name, "Message": message, "Severity": "Error"}]}, {}


_CONDITION = re.compile(r"^(\w+) eq '((?:[^']|'')*)'$")


def _filter(entity: str, text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(field, value) conditions of an `or`-joined `$filter`, and problems."""
    conditions, problems = [], []
    known = properties(entity) if entity else {}
    for part in re.split(r" or (?=\w+ eq ')", text):
        match = _CONDITION.match(part.strip())
        if not match:
            problems.append(f"$filter part {part!r} is not `<Field> eq '<text>'`")
            continue
        name, value = match.group(1), match.group(2).replace("''", "'")
        if entity and name not in known:
            problems.append(f"$filter names {name}, not a property of {entity}")
        conditions.append((name, value))
    return conditions, problems


class MyobContract(Contract):
    vendor = "MYOB"

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix  # "/accountright/<company file>/"

    def _endpoint(self, request: Request) -> tuple[str | None, list[str]]:
        if request.path == "/accountright/" and request.method == "GET":
            return "", []  # the company files the grant reaches
        if not request.path.startswith(self.prefix):
            return None, [f"{request.path} is not under {self.prefix}"]
        path = request.path.removeprefix(self.prefix).rstrip("/")
        if path not in ENDPOINTS:
            return None, [f"no endpoint {path} in the material"]
        return path, []

    def request_problems(self, request: Request) -> list[str]:
        problems = []
        if not request.headers.get("x-myobapi-key"):
            problems.append("x-myobapi-key header missing")
        if request.headers.get("x-myobapi-version") != "v2":
            problems.append("x-myobapi-version header must be v2")
        path, found = self._endpoint(request)
        problems += found
        if not path:
            return problems
        entity = ENDPOINTS[path]
        for name in request.query:
            if name not in ("$top", "$skip", "$filter"):
                problems.append(f"query parameter {name} is not an OData option used here")
        top = request.query.get("$top", ["0"])[0]
        if not top.isdigit() or int(top) > 1000:
            problems.append(f"$top={top} is not a number up to 1000")
        if "$filter" in request.query:
            problems += _filter(entity, request.query["$filter"][0])[1]
        if request.method == "POST":
            if not entity or path in ("Sale/Invoice", "GeneralLedger/Category"):
                return [*problems, f"this double does not create at {path}"]
            try:
                body = request.json()
            except ValueError as error:
                return [*problems, f"body is not JSON: {error}"]
            problems += check(entity, body, "body")
            if path == "GeneralLedger/Account" and isinstance(body, dict):
                problems += new_account_problems(body)
        return problems

    def response_problems(self, request: Request, status: int, payload: bytes) -> list[str]:
        path, _ = self._endpoint(request)
        if request.method != "GET" or status != 200:
            return []
        answer = json.loads(payload, parse_float=Decimal)
        if path == "":
            return [p for i, row in enumerate(answer) for p in check("CompanyFile", row, f"[{i}]")]
        if not path or not ENDPOINTS[path]:
            return []
        problems = [f"answer.{k} is not a PagedCollection property" for k in answer
                    if k not in ("Items", "NextPageLink", "Count")]  # fmt: skip
        for index, item in enumerate(answer.get("Items") or []):
            problems += check(ENDPOINTS[path], item, f"Items[{index}]")
        return problems

    def refusal(self, problems: list[str]) -> tuple[int, bytes, dict[str, str]]:
        status, body, headers = _error("ValidationError", "; ".join(problems))
        return status, dumps(body).encode(), headers


@cache
def classifications() -> tuple[dict[str, str], dict[str, str]]:
    """(AccountType member -> its Classification, Classification -> its
    DisplayID digit), read from the doc comments of AccountType.cs ("Has
    Asset classification") and Classification.cs ("DisplayID of 1-...")."""
    found = []
    for name, pattern in (
        ("AccountType", r"Has (\w+) classification\s*(?:///\s*</summary>\s*)?(\w+)\s*="),
        ("Classification", r"DisplayID of (\d)-\.\.\.\s*(?:///\s*</summary>\s*)?(\w+)"),
    ):
        text = (CONTRACTS / "Version2" / "GeneralLedger" / f"{name}.cs").read_text("utf-8-sig")
        pairs = re.findall(pattern, text)
        found.append({b: a for a, b in pairs})
    return found[0], found[1]


# Account.cs marks these read only (Classification: "You change this field by
# modifying the Type property"; ParentAccount); a balance and the identity are
# MYOB's own (BaseEntity: UID "NOT required when creating").
ACCOUNT_READ_ONLY = (
    "Classification",
    "ParentAccount",
    "CurrentBalance",
    "UID",
    "URI",
    "RowVersion",
)


def new_account_problems(body: dict[str, Any]) -> list[str]:
    """What MYOB would refuse in a new account beyond the property types:
    read-only fields sent; no Name (60 characters at most, MYOB's Account
    page), Number (a four-digit number without the classification digit,
    Account.cs), Type or TaxCode (CData's MYOB driver lists Number, Type and
    TaxCode as required on insert: a third-party source, taken as the
    stricter reading); a Level outside 2..4 (Account.cs: "You can only
    assign levels 2 to 4 to a new account"); a DisplayID that is not the
    Type's classification digit, a dash and the Number."""
    problems = [f"body.{k} is read only on an Account" for k in ACCOUNT_READ_ONLY if k in body]
    name = body.get("Name")
    if not isinstance(name, str) or not name.strip() or len(name) > 60:
        problems.append("body.Name is required, 1 to 60 characters")
    number = body.get("Number")
    if not isinstance(number, int) or not 0 < number <= 9999:
        problems.append("body.Number must be the account's four-digit number (1 to 9999)")
    if not (body.get("TaxCode") or {}).get("UID"):
        problems.append("body.TaxCode is required on a new account")
    level = body.get("Level")
    if level is not None and level not in (2, 3, 4):
        problems.append(f"body.Level {level} is not 2, 3 or 4 (a new account's levels)")
    types, digits = classifications()
    classification = types.get(str(body.get("Type")))
    if classification is None:
        problems.append(f"body.Type {body.get('Type')!r} is required, a member of AccountType")
    elif "DisplayID" in body and isinstance(number, int):
        wanted = f"{digits[classification]}-{number:04d}"
        if body["DisplayID"] != wanted:
            problems.append(
                f"body.DisplayID {body['DisplayID']!r} is not {wanted} "
                f"(a {body['Type']} account is {classification}, number {number})"
            )
    return problems


@dataclass
class Posting:
    account: str  # DisplayID
    amount: Decimal  # + debit
    key: str
    category: str | None = None  # the DisplayID of the transaction's Category


class Books:
    """The company file: rows per endpoint and the postings they made."""

    def __init__(self, receivable: str = "1300", payable: str = "1600") -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {p: [] for p in ENDPOINTS}
        self.postings: list[Posting] = []
        self.creates: Counter[str] = Counter()
        self.receivable = receivable
        self.payable = payable
        self.lock = threading.Lock()

    def seed_account(
        self, display_id: str, name: str = "", classification: str = "Asset", **flags: Any
    ) -> str:
        uid = str(uuid.uuid4())
        row = {
            "UID": uid,
            "DisplayID": display_id,
            "Name": name or f"Account {display_id}",
            "Classification": classification,
            "IsActive": flags.get("active", True),
            "IsHeader": flags.get("header", False),
            "CurrentBalance": Decimal(0),
        }
        if "level" in flags:
            row["Level"] = flags["level"]
        self.rows["GeneralLedger/Account"].append(row)
        return uid

    def seed_category(self, display_id: str, name: str, *, active: bool = True) -> str:
        """A category (GeneralLedger/Category: DisplayID, Name, IsActive); its UID."""
        uid = str(uuid.uuid4())
        row = {"UID": uid, "DisplayID": display_id, "Name": name, "IsActive": active}
        self.rows["GeneralLedger/Category"].append(row)
        return uid

    def _category(self, body: dict[str, Any]) -> tuple[str | None, Any]:
        """(the DisplayID of the body's Category, or None), or a refusal
        when the link names no active category of the file."""
        link = body.get("Category")
        if link is None:
            return None, None
        row = self._by_uid("GeneralLedger/Category", str(link.get("UID")))
        if row is None or not row["IsActive"]:
            return None, _error("ValidationError", "The category does not exist or is inactive")
        return str(row["DisplayID"]), None

    def _new_account(self, body: dict[str, Any]) -> Any:
        """A detail account, as MYOB files it: its classification from its
        Type, its parent the last header account of that classification
        numbered before it; refused when its DisplayID is taken or its tax
        code does not exist."""
        types, digits = classifications()
        classification = types[body["Type"]]
        display_id = f"{digits[classification]}-{body['Number']:04d}"
        if any(r["DisplayID"] == display_id for r in self.rows["GeneralLedger/Account"]):
            return _error("DuplicateAccountNumber", f"Account number {display_id} is in use")
        if self._by_uid("GeneralLedger/TaxCode", str(body["TaxCode"]["UID"])) is None:
            return _error("ValidationError", "The tax code does not exist")
        headers = [r for r in self.rows["GeneralLedger/Account"] if r["IsHeader"]
                   and r["DisplayID"][:2] == display_id[:2] and r["DisplayID"] < display_id]  # fmt: skip
        parent = max(headers, key=lambda r: r["DisplayID"]) if headers else None
        row = {
            **body,
            "DisplayID": display_id,
            "Classification": classification,
            "CurrentBalance": Decimal(0),
            "IsHeader": False,
            "IsActive": body.get("IsActive", True),
        }
        if parent is not None:
            row["ParentAccount"] = {"UID": parent["UID"], "DisplayID": parent["DisplayID"],
                                    "Name": parent["Name"]}  # fmt: skip
        return self._keep("GeneralLedger/Account", row, [])

    def seed_tax(self, code: str, rate: str, collected: str = "", paid: str = "") -> None:
        row: dict[str, Any] = {"UID": str(uuid.uuid4()), "Code": code, "Description": code}
        row["Rate"] = Decimal(rate)
        for prop, display_id in (("TaxCollectedAccount", collected), ("TaxPaidAccount", paid)):
            if display_id:
                account = self.by_display(display_id)
                row[prop] = {"UID": account["UID"], "DisplayID": display_id}
        self.rows["GeneralLedger/TaxCode"].append(row)

    def seed_customer(
        self, display_id: str, name: str, *, active: bool = True, path: str = "Contact/Customer"
    ) -> None:
        """A company card (`Contact/Customer`, or `Contact/Supplier` by `path`)."""
        self.rows[path].append(
            {"UID": str(uuid.uuid4()), "DisplayID": display_id, "CompanyName": name,
             "IsIndividual": False, "IsActive": active}
        )  # fmt: skip

    def by_display(self, display_id: str) -> dict[str, Any]:
        return next(r for r in self.rows["GeneralLedger/Account"] if r["DisplayID"] == display_id)

    def _by_uid(self, path: str, uid: str) -> dict[str, Any] | None:
        return next((r for r in self.rows[path] if r["UID"] == uid), None)

    def balances(self, keep: Callable[[Posting], bool] = lambda p: True) -> dict[str, Decimal]:
        """Account DisplayID -> balance (+ debit) of the postings kept; zeros left out."""
        found: Counter[str] = Counter()
        for posting in self.postings:
            if keep(posting):
                found[posting.account] += posting.amount
        return {k: v for k, v in found.items() if v}

    # -- writes: the postings MYOB would make, or its refusal --

    def create(self, path: str, body: dict[str, Any]) -> tuple[str, str] | tuple[int, Any, dict]:
        with self.lock:
            if path == "GeneralLedger/GeneralJournal":
                return self._journal(body)
            if path == "Sale/Invoice/Service":
                return self._invoice(body)
            if path == "Sale/CreditRefund":
                return self._refund(body)
            if path == "Sale/CreditSettlement":
                return self._settlement(body)
            if path == "GeneralLedger/Account":
                return self._new_account(body)
            return self._payment(body)

    def _account(self, link: Any) -> dict[str, Any] | None:
        uid = (link or {}).get("UID")
        row = self._by_uid("GeneralLedger/Account", str(uid))
        if row is None or not row["IsActive"] or row["IsHeader"]:
            return None
        return row

    def _journal(self, body: dict[str, Any]) -> Any:
        category, refused = self._category(body)
        if refused:
            return refused
        postings = []
        for line in body.get("Lines") or []:
            account = self._account(line.get("Account"))
            if account is None:
                return _error("AccountNotFound", "The account on a journal line is not usable")
            amount = Decimal(line["Amount"])
            sign = -1 if line.get("IsCredit") else 1
            postings.append(
                Posting(account["DisplayID"], sign * amount, body.get("Memo") or "", category)
            )
        if not postings or sum(p.amount for p in postings) != 0:
            return _error("OutOfBalance", "The journal's debits and credits are not equal")
        return self._keep("GeneralLedger/GeneralJournal", body, postings)

    def _invoice(self, body: dict[str, Any]) -> Any:
        if self._by_uid("Contact/Customer", str((body.get("Customer") or {}).get("UID"))) is None:
            return _error("CustomerNotFound", "The customer does not exist")
        key = body.get("JournalMemo") or ""
        category, refused = self._category(body)
        if refused:
            return refused
        postings, total, tax_total = [], Decimal(0), Decimal(0)
        for line in body.get("Lines") or []:
            account = self._account(line.get("Account"))
            code = self._by_uid(
                "GeneralLedger/TaxCode", str((line.get("TaxCode") or {}).get("UID"))
            )
            if account is None or code is None:
                return _error("ValidationError", "A line's account or tax code is not usable")
            net = Decimal(line["Total"])
            tax = (net * code["Rate"] / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
            postings.append(Posting(account["DisplayID"], -net, key, category))
            if tax:
                collected = self._by_uid(
                    "GeneralLedger/Account", str(code["TaxCollectedAccount"]["UID"])
                )
                assert collected is not None
                postings.append(Posting(collected["DisplayID"], -tax, key, category))
            total += net + tax
            tax_total += tax
        postings.append(Posting(self.receivable, total, key, category))
        row = {**body, "Subtotal": total - tax_total, "TotalTax": tax_total,
               "TotalAmount": total, "BalanceDueAmount": total}  # fmt: skip
        _set_status(row)
        return self._keep("Sale/Invoice/Service", row, postings)

    def _payment(self, body: dict[str, Any]) -> Any:
        bank = self._account(body.get("Account"))
        if bank is None:
            return _error("AccountNotFound", "The deposit account is not usable")
        received = Decimal(body["AmountReceived"])
        applied = body.get("Invoices") or []
        if sum(Decimal(a["AmountApplied"]) for a in applied) != received:
            return _error(
                "ValidationError", "The amounts applied do not add up to the amount received"
            )
        invoices = []
        for line in applied:
            invoice = self._by_uid("Sale/Invoice/Service", str(line["UID"]))
            if invoice is None or Decimal(line["AmountApplied"]) > invoice["BalanceDueAmount"]:
                return _error("ValidationError", "More is applied than the invoice owes")
            invoices.append((invoice, Decimal(line["AmountApplied"])))
        for invoice, amount in invoices:
            invoice["BalanceDueAmount"] -= amount
            _set_status(invoice)
        key = body.get("Memo") or ""
        postings = [
            Posting(bank["DisplayID"], received, key),
            Posting(self.receivable, -received, key),
        ]
        return self._keep("Sale/CustomerPayment", body, postings)

    def _refund(self, body: dict[str, Any]) -> Any:
        """Cash paid back against a credit note: the credit left grows
        towards zero, the account pays and the receivable takes it back."""
        bank = self._account(body.get("Account"))
        if bank is None:
            return _error("AccountNotFound", "The account paid from is not usable")
        credit = self._by_uid("Sale/Invoice/Service", str((body.get("Invoice") or {}).get("UID")))
        if credit is None or credit["BalanceDueAmount"] >= 0:
            return _error("ValidationError", "The refund's invoice is not an open credit note")
        customer = str((body.get("Customer") or {}).get("UID"))
        if customer != credit["Customer"]["UID"]:
            return _error("ValidationError", "The refund's customer is not the credit note's")
        amount = Decimal(body["Amount"])
        if amount <= 0 or amount > -credit["BalanceDueAmount"]:
            return _error("ValidationError", "More is refunded than the credit note has left")
        credit["BalanceDueAmount"] += amount
        _set_status(credit)
        key = body.get("Memo") or ""
        postings = [Posting(bank["DisplayID"], -amount, key), Posting(self.receivable, amount, key)]
        return self._keep("Sale/CreditRefund", body, postings)

    def _settlement(self, body: dict[str, Any]) -> Any:
        """A credit note's credit applied to open invoices of its customer,
        no money moving: the credit left and each invoice's balance due
        shrink by the amounts applied (no postings: the receivable nets)."""
        credit = self._by_uid(
            "Sale/Invoice/Service", str((body.get("CreditFromInvoice") or {}).get("UID"))
        )
        if credit is None or credit["BalanceDueAmount"] >= 0:
            return _error("ValidationError", "The credit settled from is not an open credit note")
        customer = str((body.get("Customer") or {}).get("UID"))
        if customer != credit["Customer"]["UID"]:
            return _error("ValidationError", "The settlement's customer is not the credit note's")
        lines = body.get("Lines") or []
        applied = sum((Decimal(line["AmountApplied"]) for line in lines), Decimal(0))
        if not lines or applied != Decimal(body["CreditAmount"]):
            return _error("ValidationError", "The amounts applied do not add up to the credit")
        if applied > -credit["BalanceDueAmount"]:
            return _error("ValidationError", "More is applied than the credit note has left")
        sales = []
        for line in lines:
            sale = self._by_uid("Sale/Invoice/Service", str((line.get("Sale") or {}).get("UID")))
            amount = Decimal(line["AmountApplied"])
            if line.get("Type") != "Invoice" or sale is None or sale["BalanceDueAmount"] < amount:
                return _error("ValidationError", "A line's invoice is not open for that amount")
            if sale["Customer"]["UID"] != customer or amount <= 0:
                return _error("ValidationError", "A line's invoice is another customer's")
            sales.append((sale, amount))
        for sale, amount in sales:
            sale["BalanceDueAmount"] -= amount
            _set_status(sale)
        credit["BalanceDueAmount"] += applied
        _set_status(credit)
        return self._keep("Sale/CreditSettlement", body, [])

    def _keep(self, path: str, row: dict[str, Any], postings: list[Posting]) -> tuple[str, str]:
        uid = str(uuid.uuid4())
        self.rows[path].append({**row, "UID": uid})
        self.postings += postings
        self.creates[ENDPOINTS[path]] += 1
        return path, uid


def _set_status(sale: dict[str, Any]) -> None:
    """A sale's `Status` (SaleStatus) from its balance due."""
    due = sale["BalanceDueAmount"]
    sale["Status"] = "Open" if due > 0 else "Credit" if due < 0 else "Closed"


class MyobDouble(RotatingTokens, HarnessedDouble, LocalServer):
    """`with MyobDouble() as myob:` serves a company file at `myob.url`
    (the API root; the company file is `myob.company_file`)."""

    def __init__(
        self,
        *,
        page_max: int = 1000,
        other_files: tuple[str, ...] = (),
        rate_limit: tuple[int, float] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.delay = delay  # seconds before each answer
        self.company_file = str(uuid.uuid4())
        # Company files the grant reaches: this one ("Cafe Books") and others by name.
        self.files = [(self.company_file, "Cafe Books")] + [
            (str(uuid.uuid4()), n) for n in other_files
        ]
        # OAuth on the same host: the consent screen and the token endpoint
        # (client id and secret in the form; the refresh token rotates).
        self.tokens_init(
            platform="MYOB",
            prefix="myob",
            token=TOKEN,
            client=(API_KEY, "myob-client-secret"),
            expires_in=1200,
        )
        self.prefix = f"/accountright/{self.company_file}/"
        self.books = Books()
        self.page_max = page_max
        self.harness = Harness(MyobContract(self.prefix))
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.lose_next_answer = False
        self.throttle_next = 0  # 429s to answer before serving again
        self.day_spent = False  # 403 RateLimitError
        self.fail_next: int | None = None  # a status to answer once
        # (calls, seconds) per API key, as MYOB's 8 a second; past it a 429.
        self.rate_limit = rate_limit
        self.accepted: list[float] = []
        self.refused: list[float] = []
        super().__init__(harnessed_handler(self, self._encode, before=self._oauth_page))

    def _oauth_page(self, handler: JsonHandler, method: str, path: str, query: Any) -> bool:
        """The consent screen and the token endpoint (outside the API's harness)."""
        if path == "/oauth2/account/authorize" and method == "GET":
            serve_page(handler, *self.screen.page(path, {k: v[0] for k, v in query.items()}))
            return True
        if path == "/oauth2/v1/authorize" and method == "POST":
            form = {k: v[0] for k, v in parse_qs(handler.read_body().decode()).items()}
            handler.reply(*self.oauth_token(form))
            return True
        return False

    def _let_through(self) -> bool:
        with self.books.lock:
            now = time.monotonic()
            if self.rate_limit is not None:
                calls, seconds = self.rate_limit
                if len([t for t in self.accepted if t > now - seconds]) >= calls:
                    self.refused.append(now)
                    return False
            self.accepted.append(now)
            return True

    def keys_written(self) -> Counter[str]:
        """How many entities carry each push key (journals', payments' and
        refunds' Memo, invoices' JournalMemo)."""
        rows = self.books.rows
        keys: Counter[str] = Counter(r["Memo"] for r in rows["GeneralLedger/GeneralJournal"])
        keys.update(r["Memo"] for r in rows["Sale/CustomerPayment"])
        keys.update(r["Memo"] for r in rows["Sale/CreditRefund"])
        keys.update(r["JournalMemo"] for r in rows["Sale/Invoice/Service"])
        return keys

    def most_in_window(self) -> int:
        """The most calls let through in any `rate_limit` window."""
        return most_in_window(self.accepted, self.rate_limit[1] if self.rate_limit else None)

    @staticmethod
    def _encode(answer: Any) -> bytes:
        return b"" if answer is None else dumps(answer).encode()

    def handle(
        self, method: str, path: str, params: dict[str, str], body: Any, authorization: str
    ) -> tuple[int, Any, dict[str, str]]:
        self.requests.append((method, path, params))
        if self.delay:
            time.sleep(self.delay)
        if not self._let_through():
            return 429, {"Errors": [{"Name": "RateLimitError", "Message": "Slow down"}]}, {}
        if authorization.removeprefix("Bearer ") not in self.valid_tokens:
            return (
                401,
                {"Errors": [{"Name": "OAuthTokenIsInvalid", "Message": "The token is not valid"}]},
                {},
            )
        if self.throttle_next:
            self.throttle_next -= 1
            return (
                429,
                {"Errors": [{"Name": "RateLimitError", "Message": "Slow down"}]},
                {"Retry-After": "0"},
            )
        if self.day_spent:
            return _error("RateLimitError", "The API key's daily limit is reached", 403)
        if self.fail_next is not None:
            status, self.fail_next = self.fail_next, None
            return _error("Failure", f"Failure {status}", status)
        if path == "/accountright/":
            return 200, [{"Id": i, "Name": n, "Uri": f"{self.url}/accountright/{i}"}
                         for i, n in self.files], {}  # fmt: skip
        endpoint = path.removeprefix(self.prefix).rstrip("/")
        if method == "POST":
            made = self.books.create(endpoint, body)
            if len(made) == 3:
                return made  # type: ignore[return-value]
            stored, uid = made
            return 201, None, {"Location": f"{self.url}{self.prefix}{stored}/{uid}"}
        return 200, self._page(endpoint, params), {}

    def _page(self, endpoint: str, params: dict[str, str]) -> dict[str, Any]:
        rows = list(self.books.rows[endpoint])
        if endpoint == "Sale/Invoice":
            rows = list(self.books.rows["Sale/Invoice/Service"])
        if "$filter" in params:
            conditions, _ = _filter("", params["$filter"])
            rows = [r for r in rows if any(str(r.get(f)) == v for f, v in conditions)]
        top = min(int(params.get("$top") or self.page_max), self.page_max)
        skip = int(params.get("$skip") or 0)
        page = rows[skip : skip + top]
        more = skip + top < len(rows)
        following = None
        if more:
            query = urlencode({**params, "$top": str(top), "$skip": str(skip + top)})
            following = f"{self.url}{self.prefix}{endpoint}?{query}"
        items = [self._shown(endpoint, r) for r in page]
        return {"Items": items, "NextPageLink": following, "Count": len(rows)}

    @staticmethod
    def _shown(endpoint: str, row: dict[str, Any]) -> dict[str, Any]:
        if endpoint.startswith("Contact/"):
            return row
        return {k: v for k, v in row.items() if k != "Lines" or endpoint != "Sale/Invoice"}
