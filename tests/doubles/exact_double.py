"""A local Exact Online division behind the REST API (test code).

A real HTTP server on loopback holding G/L accounts, VAT codes, CRM accounts
(customers and suppliers), journals and the entries written, able to report
each G/L account's balance. Every request goes through the strict harness
(tests/doubles/strict.py, `ExactContract`) before the double handles it:

* the endpoint must be one `Services.cs` maps an entity to;
* a write must go to an entity whose model class allows create
  (`[SupportedActionsSDK(create, read, update, delete)]`), and every field
  of its body (nested lines too) must be a property of the model class, not
  marked `[SDKFieldType(FieldType.ReadOnly)]`, and of the property's C# type
  (Guid, string, Int16/Int32, double, bool, DateTime as `/Date(ms)/`,
  `IEnumerable<Line>`); `null` only where the type is nullable;
* `$select` and `$filter` may name only properties of the entity read;
* every entity answered is held against its model the same way (read-only
  properties allowed there).

The model classes, `Services.cs` and the response samples are parsed from
../shared/reference/exactonline at test time, never copied. What the SDK
material does not model (CRM accounts, `current/Me`, `system/Divisions`,
`general/Currencies`) is answered in the samples' OData shape unchecked.

Answers use the samples' shape: `{"d": {"results": [...], "__next": url}}`
with `$skiptoken` paging, one entity as `{"d": {...}}`, dates as
`/Date(ms)/`, amounts as JSON numbers, nested lines as `{"results": [...]}`,
and the limit headers `X-RateLimit-*` (day) and `X-RateLimit-Minutely-*`.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlencode

from connectors.quickbooks.client import dumps
from tests.doubles.consent import RotatingTokens, serve_page
from tests.doubles.http import JsonHandler, LocalServer, harnessed_handler, most_in_window
from tests.doubles.strict import Contract, Harness, HarnessedDouble, Request

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "exactonline"
MODELS = REFERENCE / "sdk-models"

# -- the SDK's model classes --

_ACTIONS = re.compile(r"\[SupportedActionsSDK\((\w+),\s*(\w+),\s*(\w+),\s*(\w+)\)\]")
_KEY = re.compile(r'\[DataServiceKey\("(\w+)"\)\]')
_CLASS = re.compile(r"public class (\w+)")
_PROPERTY = re.compile(r"public ([\w.<>?]+) (\w+) \{ get; set; \}")
_SERVICE = re.compile(r'ServicesDictionary\.Add\(typeof\((\w+)\)\.FullName, "([\w/]+)"\)')
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_DATE = re.compile(r"^/Date\(-?\d+([+-]\d{4})?\)/$")
_INTEGERS = {
    "Int16": (-(2**15), 2**15 - 1),
    "short": (-(2**15), 2**15 - 1),
    "Int32": (-(2**31), 2**31 - 1),
    "int": (-(2**31), 2**31 - 1),
    "Int64": (-(2**63), 2**63 - 1),
    "long": (-(2**63), 2**63 - 1),
    "byte": (0, 255),
}


@dataclass(frozen=True)
class Property:
    name: str
    type: str  # the C# type without "?" (e.g. "Guid", "IEnumerable<...SalesInvoiceLine>")
    nullable: bool
    read_only: bool


@dataclass
class Model:
    name: str
    key: str
    create: bool
    read: bool
    update: bool
    delete: bool
    properties: dict[str, Property] = field(default_factory=dict)


@cache
def models() -> dict[str, Model]:
    """Every model class in sdk-models, by class name."""
    found: dict[str, Model] = {}
    for path in sorted(MODELS.rglob("*.cs")):
        text = path.read_text(encoding="utf-8-sig")
        actions, name = _ACTIONS.search(text), _CLASS.search(text)
        if actions is None or name is None:
            continue
        key = _KEY.search(text)
        flags = [a == "true" for a in actions.groups()]
        model = Model(name.group(1), key.group(1) if key else "", *flags)
        read_only = False
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("[SDKFieldType(FieldType.ReadOnly)]"):
                read_only = True
                continue
            match = _PROPERTY.search(stripped)
            if match:
                kind, prop = match.groups()
                model.properties[prop] = Property(
                    prop,
                    kind.rstrip("?"),
                    kind.endswith("?") or kind in ("string", "String"),
                    read_only,
                )
                read_only = False
            elif stripped and not stripped.startswith(("///", "[")):
                read_only = False
        found[model.name] = model
    for name, (key, flags, properties) in SUPPLEMENT.items():
        if name not in found:
            model = Model(name, key, *flags)
            for prop, (kind, nullable) in properties.items():
                model.properties[prop] = Property(prop, kind, nullable, False)
            found[name] = model
    found.setdefault("Costcenter", _costcenter())
    return found


# Entities Services.cs maps (so the material names their endpoint) whose
# model class is not among sdk-models, restated from the same SDK's class
# (exactonline/exactonline-api-dotnet-client, commit a6f8895e,
# src/ExactOnline.Client.Models/SalesInvoice/PrintedSalesInvoice.cs, read
# through the code search): (key, (create, read, update, delete),
# {property: (C# type, nullable)}); none of its properties is read-only.
SUPPLEMENT: dict[str, tuple[str, tuple[bool, bool, bool, bool], dict[str, tuple[str, bool]]]] = {
    "PrintedSalesInvoice": (
        "InvoiceID",
        (True, False, False, False),
        {
            "InvoiceID": ("Guid", False),  # the SalesInvoice to process
            "Division": ("Int32", True),
            "Document": ("Guid", True),
            "DocumentCreationError": ("String", True),
            "DocumentCreationSuccess": ("String", True),
            "DocumentLayout": ("Guid", True),
            "EmailCreationError": ("String", True),
            "EmailCreationSuccess": ("String", True),
            "EmailLayout": ("Guid", True),
            "ExtraText": ("String", True),
            "InvoiceDate": ("DateTime", True),
            "PostboxMessageCreationError": ("String", True),
            "PostboxMessageCreationSuccess": ("String", True),
            "PostboxSender": ("Guid", True),
            "ReportingPeriod": ("Int32", True),
            "ReportingYear": ("Int32", True),
            "SendEmailToCustomer": ("Boolean", True),
            "SenderEmailAddress": ("String", True),
            "SendInvoiceToCustomerPostbox": ("Boolean", True),
            "SendOutputBasedOnAccount": ("Boolean", True),
        },
    ),
}


def _costcenter() -> Model:
    """The cost centre model (`HRM/Costcenters`, which Services.cs maps to
    `Costcenter`). Its class is not among the models in ../shared/reference;
    these are its properties as the same SDK declares them
    (exactonline/exactonline-api-dotnet-client, commit 8ceb6a77,
    src/ExactOnline.Client.Models/HRM/Costcenter.cs: create, read, update
    and delete supported; key ID)."""
    model = Model("Costcenter", "ID", True, True, True, True)
    for name, kind, nullable, read_only in (
        ("Active", "bool", True, False),
        ("Code", "string", True, False),
        ("Created", "DateTime", True, True),
        ("Creator", "Guid", True, True),
        ("CreatorFullName", "string", True, True),
        ("Description", "string", True, False),
        ("Division", "Int32", True, True),
        ("ID", "Guid", False, False),
        ("Modified", "DateTime", True, True),
        ("Modifier", "Guid", True, True),
        ("ModifierFullName", "string", True, True),
    ):
        model.properties[name] = Property(name, kind, nullable, read_only)
    return model


@cache
def services() -> dict[str, str]:
    """Endpoint (lower-case "service/entities") -> entity class name, from Services.cs."""
    text = (MODELS / "Services.cs").read_text(encoding="utf-8-sig")
    return {path.lower(): name for name, path in _SERVICE.findall(text)}


def _line_model(kind: str) -> str:
    inner = kind[kind.index("<") + 1 : -1]
    return inner.rsplit(".", 1)[-1]


def check(model_name: str, body: Any, where: str, *, writing: bool) -> list[str]:
    """What in `body` the model class `model_name` does not allow."""
    model = models()[model_name]
    if not isinstance(body, dict):
        return [f"{where} is not an object"]
    problems = []
    for name, value in body.items():
        if name == "__metadata":
            continue
        prop = model.properties.get(name)
        if prop is None:
            problems.append(f"{where}.{name} is not a property of {model_name}")
            continue
        if writing and prop.read_only:
            problems.append(f"{where}.{name} is read-only in {model_name}")
            continue
        problems += _type_problems(prop, value, f"{where}.{name}", writing=writing)
    return problems


def _type_problems(prop: Property, value: Any, where: str, *, writing: bool) -> list[str]:
    kind = prop.type
    if value is None:
        nullable = prop.nullable or kind.startswith("IEnumerable")
        return [] if nullable else [f"{where} may not be null ({kind})"]
    if kind.startswith("IEnumerable<"):
        if isinstance(value, dict) and not writing:
            if "__deferred" in value:
                return []
            value = value.get("results")
        if not isinstance(value, list):
            return [f"{where} must be a list of {_line_model(kind)}"]
        line_model = _line_model(kind)
        if line_model not in models():
            return []
        return [
            p
            for index, line in enumerate(value)
            for p in check(line_model, line, f"{where}[{index}]", writing=writing)
        ]
    if kind == "Guid":
        ok = isinstance(value, str) and bool(_GUID.match(value))
    elif kind in ("string", "String"):
        ok = isinstance(value, str)
    elif kind in ("bool", "Boolean"):
        ok = isinstance(value, bool)
    elif kind in _INTEGERS:
        low, high = _INTEGERS[kind]
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    elif kind in ("double", "Double", "decimal", "Decimal"):
        ok = isinstance(value, int | Decimal | float) and not isinstance(value, bool)
    elif kind == "DateTime":
        ok = isinstance(value, str) and bool(_DATE.match(value))
    else:
        return [f"{where} has C# type {kind}, which this double cannot check"]
    return [] if ok else [f"{where} = {value!r} is not a {kind}"]


# -- OData query options --

_CONDITION = re.compile(
    r"^\s*(\w+)\s+eq\s+(?:'((?:[^']|'')*)'|(\d+)|guid'([0-9a-fA-F-]+)'|(true|false))\s*$"
)
QUERY_OPTIONS = frozenset({"$filter", "$select", "$skiptoken", "$top", "$orderby", "$inlinecount"})


def parse_filter(text: str) -> list[list[tuple[str, Any]]]:
    """`A eq 'x' or A eq 'y' and B eq 1` as OR-groups of AND-conditions;
    ValueError for anything else."""
    groups = []
    for alternative in re.split(r"\s+or\s+", text):
        conditions = []
        for part in re.split(r"\s+and\s+", alternative):
            match = _CONDITION.match(part)
            if match is None:
                raise ValueError(f"cannot read the condition {part!r}")
            name, quoted, number, guid, boolean = match.groups()
            value: Any
            if quoted is not None:
                value = quoted.replace("''", "'")
            elif number is not None:
                value = int(number)
            elif guid is not None:
                value = guid
            else:
                value = boolean == "true"
            conditions.append((name, value))
        groups.append(conditions)
    return groups


class ExactContract(Contract):
    """Exact Online's REST API as the SDK's model classes describe it."""

    vendor = "exact"

    def __init__(self, division: int) -> None:
        self.prefix = f"/api/v1/{division}/"

    def _entity(self, request: Request) -> tuple[str, str | None]:
        resource = request.path.removeprefix(self.prefix).lower()
        return resource, services().get(resource)

    def request_problems(self, request: Request) -> list[str]:
        if not request.path.startswith(self.prefix):
            return []  # current/Me and the OAuth endpoints are outside the division
        resource, entity = self._entity(request)
        if entity is None:
            return [f"{resource!r} is not an endpoint Services.cs maps an entity to"]
        problems = [
            f"query option {name!r} is not an OData option Exact takes"
            for name in sorted(set(request.query) - QUERY_OPTIONS)
        ]
        model = models().get(entity)
        if model is None:
            if request.method != "GET":
                problems.append(f"{entity} has no model class in the material to write against")
            return problems
        if request.method == "GET":
            if not model.read:
                problems.append(f"{entity} cannot be read (SupportedActionsSDK)")
            for name in ",".join(request.query.get("$select", [])).split(","):
                if name and name not in model.properties:
                    problems.append(f"$select names {name!r}, not a property of {entity}")
            for text in request.query.get("$filter", []):
                try:
                    groups = parse_filter(text)
                except ValueError as error:
                    problems.append(f"$filter: {error}")
                    continue
                for name, _ in (c for group in groups for c in group):
                    if name not in model.properties:
                        problems.append(f"$filter names {name!r}, not a property of {entity}")
            return problems
        if request.method == "POST":
            if not model.create:
                return [*problems, f"{entity} cannot be created (SupportedActionsSDK)"]
            try:
                body = request.json()
            except ValueError as error:
                return [*problems, f"body is not JSON: {error}"]
            return problems + check(entity, body, entity, writing=True)
        action = {"PUT": "update", "DELETE": "delete"}.get(request.method, "")
        if not getattr(model, action, False):
            problems.append(f"{entity} cannot be {action or request.method}d (SupportedActionsSDK)")
        return problems

    def describes(self, request: Request, status: int) -> bool:
        return status in (HTTPStatus.OK, HTTPStatus.CREATED)

    def response_problems(self, request: Request, status: int, payload: bytes) -> list[str]:
        if not request.path.startswith(self.prefix):
            return []
        _, entity = self._entity(request)
        if entity is None or entity not in models():
            return []
        import json

        answer = json.loads(payload, parse_float=Decimal).get("d")
        rows = answer.get("results", [answer]) if isinstance(answer, dict) else answer
        return [
            p
            for index, row in enumerate(rows or [])
            for p in check(entity, row, f"answer[{index}]", writing=False)
        ]

    def refusal(self, problems: list[str]) -> tuple[int, bytes, dict[str, str]]:
        return _error(HTTPStatus.BAD_REQUEST, "; ".join(problems))


def _error(status: int, message: str) -> tuple[int, bytes, dict[str, str]]:
    body = {"error": {"code": "", "message": {"lang": "", "value": message}}}
    return status, dumps(body).encode(), {"Content-Type": "application/json"}


def odata_now() -> str:
    return f"/Date({int(time.time() * 1000)})/"


def _new_id() -> str:
    return str(uuid.uuid4())


# -- the division --


class Division:
    """One administration's data. Rows are kept in Exact's own shape, by
    endpoint (lower-case "service/entities")."""

    def __init__(self, code: int) -> None:
        self.code = code
        self.lock = threading.RLock()
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.journals = {"90": "Memoriaal", "70": "Verkoopboek"}
        self.creates: dict[str, int] = defaultdict(int)
        self.invoice_numbers = 26000000  # the sales journal's last number
        self.sent_to_customer = 0  # invoices mailed or posted to the customer

    def seed_account(
        self, code: str, name: str = "", kind: int = 90, *, blocked: bool = False, side: str = "D"
    ) -> str:
        row = {
            "ID": _new_id(),
            "Code": code,
            "Description": name or f"Account {code}",
            "Type": kind,
            "BalanceSide": side,
            "BalanceType": "W" if kind >= 110 else "B",
            "IsBlocked": blocked,
            "Division": self.code,
        }
        self.rows["financial/glaccounts"].append(row)
        return str(row["ID"])

    def seed_cost_centre(self, code: str, name: str = "", *, active: bool = True) -> str:
        """A cost centre (`hrm/costcenters`); its ID."""
        row = {"ID": _new_id(), "Code": code, "Description": name or f"Cost centre {code}",
               "Active": active, "Division": self.code}  # fmt: skip
        self.rows["hrm/costcenters"].append(row)
        return str(row["ID"])

    def gl(self, code: str) -> dict[str, Any]:
        return next(r for r in self.rows["financial/glaccounts"] if r["Code"] == code)

    def seed_vat(
        self,
        code: str,
        percent: str,
        *,
        to_pay: str | None = None,
        to_claim: str | None = None,
        blocked: bool = False,
        vat_type: str = "E",
    ) -> None:
        self.rows["vat/vatcodes"].append(
            {
                "ID": _new_id(),
                "Code": code,
                "Description": f"VAT {code}",
                "Percentage": Decimal(percent) / 100,
                "IsBlocked": blocked,
                "GLToPay": self.gl(to_pay)["ID"] if to_pay else None,
                "GLToClaim": self.gl(to_claim)["ID"] if to_claim else None,
                "Type": vat_type,
                "VATTransactionType": "B",
                "Division": self.code,
            }
        )

    def seed_party(
        self, code: str, name: str, *, customer: bool = True, blocked: bool = False
    ) -> str:
        row = {
            "ID": _new_id(),
            "Code": code.rjust(18),  # Exact right-aligns codes, as in the samples
            "Name": name,
            "Blocked": blocked,
            "IsSales": customer,
            "IsSupplier": not customer,
            "Status": "C" if customer else "A",
        }
        self.rows["crm/accounts"].append(row)
        return str(row["ID"])

    # -- writes --

    def create(self, resource: str, body: dict[str, Any]) -> tuple[int, Any]:
        with self.lock:
            if resource == "generaljournalentry/generaljournalentries":
                return self._journal_entry(body)
            if resource == "salesinvoice/salesinvoices":
                return self._sales_invoice(body)
            if resource == "salesinvoice/printedsalesinvoices":
                return self._print(body)
            if resource == "financial/glaccounts":
                row = {**body, "ID": _new_id(), "IsBlocked": False, "Division": self.code}
                self.rows[resource].append(row)
                return HTTPStatus.CREATED, row
        return HTTPStatus.NOT_FOUND, None

    def _gl_by_id(self, guid: Any) -> dict[str, Any] | None:
        return next((r for r in self.rows["financial/glaccounts"] if r["ID"] == guid), None)

    def _party(self, guid: Any) -> dict[str, Any] | None:
        return next((r for r in self.rows["crm/accounts"] if r["ID"] == guid), None)

    def _line_rules(self, line: dict[str, Any], where: str) -> str | None:
        account = self._gl_by_id(line.get("GLAccount"))
        if account is None:
            return f"{where}: G/L account {line.get('GLAccount')} does not exist"
        if account["IsBlocked"]:
            return f"{where}: G/L account {account['Code']} is blocked"
        if account["Type"] in (20, 22) and self._party(line.get("Account")) is None:
            return f"{where}: G/L account {account['Code']} needs a customer or supplier (Account)"
        if line.get("VATCode"):
            code = self._vat_code(line["VATCode"])
            if code is None:
                return f"{where}: VAT code {line['VATCode']} does not exist"
            if code["IsBlocked"]:
                return f"{where}: VAT code {line['VATCode']} is blocked"
        if line.get("CostCenter") and not any(
            c["Code"] == line["CostCenter"] and c["Active"] for c in self.rows["hrm/costcenters"]
        ):
            return f"{where}: cost centre {line['CostCenter']} does not exist or is inactive"
        return None

    def _vat_code(self, code: str) -> dict[str, Any] | None:
        return next((v for v in self.rows["vat/vatcodes"] if v["Code"] == code), None)

    def _journal_vat(self, line: dict[str, Any], where: str) -> tuple[Decimal, str | None]:
        """The VAT line Exact adds for a journal line with a VAT code
        (`GeneralJournalEntryLine.VATCode`: "VAT Lines will be automatically
        created"), as (amount, problem). The VAT is the line's base times the
        code's percentage, rounded half away from zero to the cent, or the
        `AmountVATFC` sent ("If you want to set this in a POST you have to
        specify VATCode as well"). The double's own rule, which the SDK
        material does not state: a VAT amount sent may differ from that
        computation by what a day's per-sale rounding explains: a cent plus
        half a cent per unit of base (each sale rounds its VAT by at most
        half a cent, and few sales are under one unit), which a wrong rate
        (rates differ by whole percents) or sign never is."""
        sent = line.get("AmountVATFC")
        if not line.get("VATCode"):
            if sent is not None:
                return Decimal(0), f"{where}: AmountVATFC needs a VATCode"
            return Decimal(0), None
        code = self._vat_code(line["VATCode"]) or {}
        if code.get("Type") == "I":
            return Decimal(0), f"{where}: the double does not model including VAT codes"
        if not code.get("GLToPay"):
            return Decimal(0), f"{where}: VAT code {code.get('Code')} has no VAT to pay account"
        base = Decimal(str(line["AmountFC"]))
        computed = (base * Decimal(str(code.get("Percentage") or 0))).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        if sent is None:
            return computed, None
        vat = Decimal(str(sent))
        if vat.as_tuple().exponent < -2:  # type: ignore[operator]
            return Decimal(0), f"{where}: AmountVATFC {vat} is finer than a cent"
        if vat and (vat > 0) != (base > 0):
            return Decimal(0), f"{where}: AmountVATFC {vat} has the opposite sign of {base}"
        if abs(vat - computed) > Decimal("0.01") + abs(base) * Decimal("0.005"):
            return (
                Decimal(0),
                f"{where}: AmountVATFC {vat} is not {code.get('Code')}'s "
                f"{Decimal(str(code.get('Percentage'))) * 100}% of {base} ({computed})",
            )
        return vat, None

    def _journal_entry(self, body: dict[str, Any]) -> tuple[int, Any]:
        lines = body.get("GeneralJournalEntryLines") or []
        if body.get("JournalCode") not in self.journals:
            return HTTPStatus.BAD_REQUEST, f"Journal {body.get('JournalCode')} does not exist"
        if not body.get("Currency"):
            return HTTPStatus.BAD_REQUEST, "Currency is required"
        if not lines:
            return HTTPStatus.BAD_REQUEST, "An entry needs lines"
        for index, line in enumerate(lines):
            problem = self._line_rules(line, f"line {index + 1}")
            if problem:
                return HTTPStatus.BAD_REQUEST, problem
            if line.get("AmountFC") is None or not line.get("Date"):
                return HTTPStatus.BAD_REQUEST, f"line {index + 1}: AmountFC and Date are required"
        vats = []
        for index, line in enumerate(lines):
            vat, problem = self._journal_vat(line, f"line {index + 1}")
            if problem:
                return HTTPStatus.BAD_REQUEST, problem
            vats.append(vat)
        if sum(Decimal(str(line["AmountFC"])) for line in lines) + sum(vats) != 0:
            return HTTPStatus.BAD_REQUEST, "The entry does not balance"
        entry_id = _new_id()
        number = len(self.rows["generaljournalentry/generaljournalentries"]) + 1
        written: list[dict[str, Any]] = []
        for line, vat in zip(lines, vats, strict=True):
            written.append(line)
            if line.get("VATCode"):
                code = self._vat_code(line["VATCode"]) or {}
                line.update({"AmountVATFC": vat, "VATBaseAmountFC": line["AmountFC"]})
                written.append(  # the VAT line Exact adds, on the code's "to pay" account
                    {
                        "GLAccount": code["GLToPay"],
                        "AmountFC": vat,
                        "Date": line["Date"],
                        "Description": line.get("Description"),
                        "Notes": line.get("Notes"),
                        "VATType": "A",
                    }
                )
        stored_lines = []
        for index, line in enumerate(written):
            account = self._gl_by_id(line["GLAccount"]) or {}
            stored = {
                **line,
                "ID": _new_id(),
                "EntryID": entry_id,
                "EntryNumber": number,
                "LineNumber": index + 1,
                "AmountDC": line["AmountFC"],
                "GLAccountCode": account.get("Code"),
                "Division": self.code,
                "Created": odata_now(),
            }
            stored_lines.append(stored)
            self.rows["generaljournalentry/generaljournalentrylines"].append(stored)
        entry = {
            "EntryID": entry_id,
            "EntryNumber": number,
            "JournalCode": body["JournalCode"],
            "JournalDescription": self.journals[body["JournalCode"]],
            "Currency": body["Currency"],
            "Status": 20,
            "Type": 90,
            "Division": self.code,
            "Created": odata_now(),
            "GeneralJournalEntryLines": stored_lines,
        }
        self.rows["generaljournalentry/generaljournalentries"].append(entry)
        self.creates["GeneralJournalEntry"] += 1
        return HTTPStatus.CREATED, entry

    def _sales_invoice(self, body: dict[str, Any]) -> tuple[int, Any]:
        if body.get("Journal") not in self.journals:
            return HTTPStatus.BAD_REQUEST, f"Journal {body.get('Journal')} does not exist"
        if self._party(body.get("OrderedBy")) is None:
            return HTTPStatus.BAD_REQUEST, "OrderedBy: the customer does not exist"
        if body.get("Type") not in (8020, 8021):
            return HTTPStatus.BAD_REQUEST, "Type must be 8020 (invoice) or 8021 (credit note)"
        lines = body.get("SalesInvoiceLines") or []
        if not lines:
            return HTTPStatus.BAD_REQUEST, "An invoice needs lines"
        invoice_id = _new_id()
        stored_lines = []
        for index, line in enumerate(lines):
            problem = self._line_rules(line, f"line {index + 1}")
            if problem:
                return HTTPStatus.BAD_REQUEST, problem
            amount = Decimal(str(line.get("AmountFC", 0)))
            expected = Decimal(str(line.get("Quantity", 1))) * Decimal(
                str(line.get("UnitPrice", 0))
            )
            if amount != expected:
                return (
                    HTTPStatus.BAD_REQUEST,
                    f"line {index + 1}: AmountFC is not Quantity x UnitPrice",
                )
            if (body["Type"] == 8021) != (amount < 0) and amount != 0:
                return (
                    HTTPStatus.BAD_REQUEST,
                    f"line {index + 1}: a credit note's amounts are negative",
                )
            stored_lines.append(
                {
                    **line,
                    "ID": _new_id(),
                    "InvoiceID": invoice_id,
                    "LineNumber": index + 1,
                    "Division": self.code,
                }
            )
        net = sum((Decimal(str(x["AmountFC"])) for x in stored_lines), Decimal(0))
        vat = sum((Decimal(str(x.get("VATAmountFC") or 0)) for x in stored_lines), Decimal(0))
        invoice = {
            **body,
            "InvoiceID": invoice_id,
            "AmountFC": net + vat,
            "AmountDC": net + vat,
            "AmountFCExclVat": net,
            "VATAmountFC": vat,
            "Status": 20,
            "Division": self.code,
            "InvoiceDate": body.get("OrderDate"),
            "Created": odata_now(),
            "SalesInvoiceLines": stored_lines,
        }
        self.rows["salesinvoice/salesinvoices"].append(invoice)
        self.creates["SalesInvoice"] += 1
        return HTTPStatus.CREATED, invoice

    def _print(self, body: dict[str, Any]) -> tuple[int, Any]:
        """Process (print) an open sales invoice: Status 50, its invoice
        number from the journal's numbering (SalesInvoice.InvoiceNumber:
        "Assigned at entry or at printing"), and from then on in the ledger.
        A processed invoice cannot be processed again ("Processed invoices
        can't be reopened"). Messages to the customer are counted in
        `sent_to_customer`."""
        invoice = next(
            (
                i
                for i in self.rows["salesinvoice/salesinvoices"]
                if i["InvoiceID"] == body.get("InvoiceID")
            ),
            None,
        )
        if invoice is None:
            return HTTPStatus.BAD_REQUEST, f"Sales invoice {body.get('InvoiceID')} does not exist"
        if invoice["Status"] == 50:
            return HTTPStatus.BAD_REQUEST, "The invoice has already been processed"
        if any(
            body.get(flag)
            for flag in (
                "SendEmailToCustomer",
                "SendInvoiceToCustomerPostbox",
                "SendOutputBasedOnAccount",
            )
        ):
            self.sent_to_customer += 1
        self.invoice_numbers += 1
        invoice.update(Status=50, StatusDescription="Processed", InvoiceNumber=self.invoice_numbers)
        self.creates["PrintedSalesInvoice"] += 1
        return HTTPStatus.CREATED, {"InvoiceID": invoice["InvoiceID"], "Division": self.code}

    # -- reads --

    def select(self, resource: str, params: dict[str, str]) -> list[dict[str, Any]]:
        rows = list(self.rows.get(resource, []))
        if "$filter" in params:
            groups = parse_filter(params["$filter"])
            rows = [
                r for r in rows if any(all(r.get(n) == v for n, v in group) for group in groups)
            ]
        if "$select" in params:
            names = params["$select"].split(",")
            rows = [{n: r.get(n) for n in names} for r in rows]
        return rows

    # -- the books --

    def postings(
        self, where: Callable[[dict[str, Any]], bool] | None = None
    ) -> list[tuple[str, Decimal, str]]:
        """(G/L code, amount +debit, the written entity's key field) of every
        line written: journal lines as sent; a processed sales invoice (an
        open one has no sales entry yet) credits each
        line's account with its amount, its VAT code's `GLToPay` with the VAT,
        and debits the receivable account (type 20) with the total."""
        found = []
        for entry in self.rows["generaljournalentry/generaljournalentries"]:
            for line in entry["GeneralJournalEntryLines"]:
                if where is None or where({"key": line.get("Notes"), **entry}):
                    code = (self._gl_by_id(line["GLAccount"]) or {}).get("Code", "?")
                    found.append((code, Decimal(str(line["AmountFC"])), str(line.get("Notes"))))
        receivable = next(
            (r["Code"] for r in self.rows["financial/glaccounts"] if r["Type"] == 20), "AR"
        )
        for invoice in self.rows["salesinvoice/salesinvoices"]:
            if where is not None and not where({"key": invoice.get("Remarks"), **invoice}):
                continue
            if invoice["Status"] != 50:
                continue  # open: no sales entry until it is processed
            key = str(invoice.get("Remarks"))
            for line in invoice["SalesInvoiceLines"]:
                code = (self._gl_by_id(line["GLAccount"]) or {}).get("Code", "?")
                found.append((code, -Decimal(str(line["AmountFC"])), key))
                vat = Decimal(str(line.get("VATAmountFC") or 0))
                if vat:
                    vat_code = next(
                        v for v in self.rows["vat/vatcodes"] if v["Code"] == line["VATCode"]
                    )
                    to_pay = (self._gl_by_id(vat_code["GLToPay"]) or {}).get("Code", "VAT?")
                    found.append((to_pay, -vat, key))
            found.append((receivable, Decimal(str(invoice["AmountFC"])), key))
        return found

    def vat_return(self) -> dict[str, tuple[Decimal, Decimal]]:
        """VAT code -> (base, VAT), sales positive, of every line written
        with a VAT code: what Exact's VAT return is built from. A journal
        line without a VAT code is not in it, whatever its account."""
        found: dict[str, tuple[Decimal, Decimal]] = {}

        def add(code: str, base: Decimal, vat: Decimal) -> None:
            old = found.get(code, (Decimal(0), Decimal(0)))
            found[code] = (old[0] + base, old[1] + vat)

        for entry in self.rows["generaljournalentry/generaljournalentries"]:
            for line in entry["GeneralJournalEntryLines"]:
                if line.get("VATCode"):
                    add(
                        line["VATCode"],
                        -Decimal(str(line["AmountFC"])),
                        -Decimal(str(line["AmountVATFC"])),
                    )
        for invoice in self.rows["salesinvoice/salesinvoices"]:
            if invoice["Status"] != 50:
                continue  # open: not in the ledger, nor on the return
            for line in invoice["SalesInvoiceLines"]:
                if line.get("VATCode"):
                    add(
                        line["VATCode"],
                        Decimal(str(line["AmountFC"])),
                        Decimal(str(line.get("VATAmountFC") or 0)),
                    )
        return found

    def balances(self, where: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Decimal]:
        """G/L code -> balance (debit positive) over what `where` keeps
        (given each written entity with its push key as "key")."""
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for code, amount, _ in self.postings(where):
            totals[code] += amount
        return {code: amount for code, amount in totals.items() if amount}


# -- the server --


class ExactDouble(RotatingTokens, HarnessedDouble, LocalServer):
    """`with ExactDouble() as exact:` serves one division (`exact.division`)
    at `exact.url`. `exact.fail_next(status, body, headers)` queues a scripted
    answer; `exact.lose_next_answer` drops the answer of the next write
    after it happened; `exact.requests` records (method, path, params).

    `rate_limit=(calls, seconds)` throttles as Exact does per minute: a call
    beyond `calls` in the last `seconds` is answered 429 with
    `X-RateLimit-Minutely-Remaining: 0` and its reset (epoch ms);
    `daily=(limit, used)` sets the day's allowance. `accepted`/`refused` hold
    arrival times (time.monotonic()). `page_size` rows per page; `delay`
    seconds before each answer."""

    def __init__(
        self,
        *,
        token: str = "exact-good-token",  # noqa: S107 - a fake
        division: int = 499156,
        rate_limit: tuple[int, float] | None = None,
        daily: tuple[int, int] = (5000, 0),
        page_size: int = 60,
        divisions: tuple[int, ...] = (),
        division_names: dict[int, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.delay = delay  # seconds each answer takes (a slower, more realistic API)
        self.division = division
        self.books = Division(division)
        self.harness = Harness(ExactContract(division))
        self.rate_limit = rate_limit
        self.daily_limit, self.daily_used = daily
        self.page_size = page_size
        self.divisions = divisions or (division,)
        # What `system/Divisions` gives as each administration's Description:
        # the company's own name, as the user typed it in Exact.
        self.division_names = division_names or {}
        self.accepted: list[float] = []
        self.refused: list[float] = []
        self._rate_lock = threading.Lock()
        # OAuth on the same host: the consent screen, and a token endpoint
        # that takes the app's credentials in the form and rotates the
        # refresh token on every use (each access token lasts 600 s).
        self.tokens_init(
            platform="Exact Online",
            prefix="exact",
            token=token,
            client=("exact-client", "exact-client-secret"),
            expires_in=600,
        )
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.bodies: list[tuple[str, str, Any]] = []  # (method, path, JSON body)
        self.scripted: list[tuple[int, Any, dict[str, str]]] = []
        # Path ending (lower case) -> the answer of the next request to it.
        self.scripted_for: dict[str, tuple[int, Any, dict[str, str]]] = {}
        self.lose_next_answer = False
        super().__init__(self._handler(), poll_interval=0.02)

    def __enter__(self) -> Self:
        models()
        services()
        return super().__enter__()

    def fail_next(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.scripted.append((status, body, headers or {}))

    def _limit_headers(self, minute_left: int, minute_reset: float) -> dict[str, str]:
        day_reset = int(time.time()) + 86400
        return {
            "X-RateLimit-Limit": str(self.daily_limit),
            "X-RateLimit-Remaining": str(max(self.daily_limit - self.daily_used, 0)),
            "X-RateLimit-Reset": str(day_reset),
            "X-RateLimit-Minutely-Limit": str(self.rate_limit[0] if self.rate_limit else 60),
            "X-RateLimit-Minutely-Remaining": str(minute_left),
            "X-RateLimit-Minutely-Reset": str(int(minute_reset * 1000)),
        }

    def _throttle(self) -> tuple[bool, dict[str, str]]:
        """Whether this call is let through, and the limit headers to send."""
        with self._rate_lock:
            now, wall = time.monotonic(), time.time()
            if self.daily_used >= self.daily_limit:
                self.refused.append(now)
                return False, self._limit_headers(0, wall + 60)
            if self.rate_limit is None:
                self.accepted.append(now)
                self.daily_used += 1
                return True, self._limit_headers(60, wall + 60)
            calls, seconds = self.rate_limit
            recent = [t for t in self.accepted if t > now - seconds]
            reset = wall + ((recent[0] + seconds - now) if recent else seconds)
            if len(recent) < calls:
                self.accepted.append(now)
                self.daily_used += 1
                return True, self._limit_headers(calls - len(recent) - 1, reset)
            self.refused.append(now)
            return False, self._limit_headers(0, reset)

    def most_in_window(self) -> int:
        """The most calls let through in any `rate_limit` window."""
        return most_in_window(self.accepted, self.rate_limit[1] if self.rate_limit else None)

    def handle(
        self, method: str, path: str, params: dict[str, str], body: Any, auth: str
    ) -> tuple[int, Any, dict[str, str]]:
        self.requests.append((method, path, params))
        self.bodies.append((method, path, body))
        if self.delay:
            time.sleep(self.delay)
        if self.scripted:
            return self.scripted.pop(0)
        for suffix, answer in list(self.scripted_for.items()):
            if path.lower().endswith(suffix):
                del self.scripted_for[suffix]
                return answer
        if auth.removeprefix("Bearer ") not in self.valid_tokens:
            return HTTPStatus.UNAUTHORIZED, {"error": {"message": {"value": "Unauthorized"}}}, {}
        allowed, headers = self._throttle()
        if not allowed:
            message = {"error": {"code": "", "message": {"value": "API rate limit exceeded"}}}
            return HTTPStatus.TOO_MANY_REQUESTS, message, headers
        if path == "/api/v1/current/Me":
            return HTTPStatus.OK, {"d": {"results": [{"CurrentDivision": self.division}]}}, headers
        prefix = f"/api/v1/{self.division}/"
        if not path.startswith(prefix):
            return (
                HTTPStatus.NOT_FOUND,
                {"error": {"message": {"value": "no such division"}}},
                headers,
            )
        resource = path.removeprefix(prefix).lower()
        books = self.books
        with books.lock:
            if method == "POST":
                status, answer = books.create(resource, body or {})
                if status == HTTPStatus.CREATED:
                    return status, {"d": self._shaped(resource, answer)}, headers
                message = answer or f"cannot create {resource}"
                return (
                    status,
                    {"error": {"code": "", "message": {"lang": "", "value": message}}},
                    headers,
                )
            if method != "GET":
                return (
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    {"error": {"message": {"value": method}}},
                    headers,
                )
            if resource == "system/divisions":
                rows = [
                    {"Code": d, "Description": self.division_names.get(d, f"Bedrijf {d}")}
                    for d in self.divisions
                ]
            elif resource == "general/currencies":
                rows = [{"Code": c} for c in ("EUR", "GBP", "USD", "CAD")]
            else:
                rows = books.select(resource, params)
            return HTTPStatus.OK, self._page(path, resource, params, rows), headers

    def _shaped(self, resource: str, row: dict[str, Any]) -> dict[str, Any]:
        """A row as Exact answers it: nested lines as {"results": [...]}."""
        shaped = dict(row)
        for name in ("GeneralJournalEntryLines", "SalesInvoiceLines"):
            if isinstance(shaped.get(name), list):
                shaped[name] = {"results": shaped[name]}
        return shaped

    def _page(
        self, path: str, resource: str, params: dict[str, str], rows: list[dict[str, Any]]
    ) -> dict[str, Any]:
        start = int(params.get("$skiptoken", "0") or 0)
        page = rows[start : start + self.page_size]
        answer: dict[str, Any] = {"results": [self._shaped(resource, r) for r in page]}
        if start + self.page_size < len(rows):
            following = {k: v for k, v in params.items() if k != "$skiptoken"}
            following["$skiptoken"] = str(start + self.page_size)
            answer["__next"] = f"{self.url}{path}?{urlencode(following)}"
        return {"d": answer}

    def _oauth_page(self, handler: JsonHandler, method: str, path: str, query: Any) -> bool:
        """The consent screen and the token endpoint (outside the API's harness)."""
        if path == "/api/oauth2/auth" and method == "GET":
            serve_page(handler, *self.screen.page(path, {k: v[0] for k, v in query.items()}))
            return True
        if path == "/api/oauth2/token" and method == "POST":
            form = {k: v[0] for k, v in parse_qs(handler.read_body().decode()).items()}
            handler.reply(*self.oauth_token(form))
            return True
        return False

    def _handler(self) -> type[JsonHandler]:
        return harnessed_handler(
            self,
            lambda answer: dumps(answer).encode(),
            methods=("GET", "POST", "PUT", "DELETE"),
            before=self._oauth_page,
        )
