"""A local Sage Accounting (API v3.1) business behind the REST API (test code).

A real HTTP server on loopback holding ledger accounts, tax rates, contacts,
bank accounts and the records written (journals, sales invoices, sales
credit notes, contact payments), able to report each ledger account's
balance. Every request goes through the strict harness
(tests/doubles/strict.py, `SageContract`) before the double handles it.

No machine-readable description of v3.1 is in ../shared/reference (README:
the Swagger file is only on developer.sage.com), so the contract below is
written by hand from Sage's own pages, read through the search corpus on
2026-12-01 (the connector's docstrings name the page of each fact):

* base path `/v3.1`, business chosen by `X-Business` (README; Sage's
  authentication guide); OAuth: `/token` with the app's id and secret in the
  form, access tokens of 300 s and refresh tokens of 31 days rotating on
  every use, `/revoke` taking `client_id`, `client_secret`, `token`
  (developer.sage.com/accounting/guides/authenticating/authentication/);
* `sales_invoice` requires `contact_id`, `date`, `invoice_lines` and each
  line `description`, `ledger_account_id`, `unit_price`; a line's
  `tax_amount` is required unless its tax rate is a zero/exempt/no-tax one;
  `sales_credit_note` likewise with `credit_note_lines`; the header's
  `currency_id` (Sage's API portal, developer.columbus.sage.com, "Creates a
  Sales Invoice", "Updates a Sales Credit Note"; the tax_amount rule is in
  the line schema's description);
* `contact_payment` requires `transaction_type_id` (CUSTOMER_RECEIPT,
  CUSTOMER_REFUND, VENDOR_PAYMENT, VENDOR_REFUND:
  developer.sage.com/accounting/guides/concepts/payments/), `contact_id`,
  `bank_account_id`, `date`, `total_amount`; `allocated_artefacts` items
  are `{artefact_id, amount}`;
* `journal` requires `date`, `reference`, `journal_lines`, each line
  `ledger_account_id`, `debit` and `credit`, `details` optional; journals
  have no currency field (Sage posts them in the base currency only);
* `ledger_account` requires `ledger_account_type_id`, `included_in_chart`,
  `name`, `display_name` and `nominal_code` (an integer 1-99999999);
* `financial_settings` is one object with `base_currency.id`
  (developer.columbus.sage.com, "Returns all Financial Settings");
* errors `[{"$severity", "$dataCode", "$message", "$source"}]`; a business
  without a subscription is answered 401 `AuthorizationFailure` "No active
  subscription. (MSE)" (developer.sage.com/accounting/guides/concepts/frequently_raised_errors/).

NOT verified against a Sage page (what the v3.1 API is publicly known to
use): collections `{"$total", "$page", "$next", "$back", "$itemsPerPage",
"$items"}` with `items_per_page` at most 200; the 25-character limit on
`reference`; which artefacts each payment type may be allocated to; the
ledger account type ids other than SALES; 429 with `Retry-After`.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import defaultdict
from decimal import Decimal
from http import HTTPStatus
from typing import Any, Self
from urllib.parse import parse_qs, urlencode

from connectors.quickbooks.client import dumps
from tests import secrets_guard
from tests.doubles.consent import ConsentScreen, serve_page
from tests.doubles.http import JsonHandler, LocalServer, harnessed_handler, most_in_window
from tests.doubles.strict import Contract, Harness, Request

BASE = "/v3.1"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Field kinds: "id" and "text" strings, "date", "amount" (a JSON number),
# "int", "bool", a dict (a nested object's fields), a list of one dict
# (nested records).
_LINE = {
    "description": "text",
    "ledger_account_id": "id",
    "quantity": "amount",
    "unit_price": "amount",
    "net_amount": "amount",
    "tax_rate_id": "id",
    "tax_amount": "amount",
    "total_amount": "amount",
}
_ARTEFACT = {
    "contact_id": "id",
    "date": "date",
    "due_date": "date",
    "reference": "text",
    "notes": "text",
    "currency_id": "id",
}


class Schema:
    """One writable resource: its wrapper, fields, required fields (with
    nested lists as "<list>.<field>") and the most characters of each text
    field."""

    def __init__(
        self,
        wrapper: str,
        fields: dict[str, Any],
        required: tuple[str, ...],
        lengths: dict[str, int] | None = None,
    ) -> None:
        self.wrapper = wrapper
        self.fields = fields
        self.required = required
        self.lengths = lengths or {}


SCHEMAS = {
    "journals": Schema(
        "journal",
        {
            "date": "date",
            "reference": "text",
            "description": "text",
            "journal_lines": [
                {
                    "ledger_account_id": "id",
                    "debit": "amount",
                    "credit": "amount",
                    "details": "text",
                }
            ],
        },
        (
            "date",
            "reference",
            "journal_lines",
            "journal_lines.ledger_account_id",
            "journal_lines.debit",
            "journal_lines.credit",
        ),
        {"reference": 25, "description": 200, "details": 200},
    ),
    "sales_invoices": Schema(
        "sales_invoice",
        {**_ARTEFACT, "invoice_lines": [_LINE]},
        (
            "contact_id",
            "date",
            "invoice_lines",
            "invoice_lines.description",
            "invoice_lines.ledger_account_id",
            "invoice_lines.unit_price",
        ),
        {"reference": 25, "description": 200},
    ),
    "sales_credit_notes": Schema(
        "sales_credit_note",
        {**_ARTEFACT, "credit_note_lines": [_LINE]},
        (
            "contact_id",
            "date",
            "credit_note_lines",
            "credit_note_lines.description",
            "credit_note_lines.ledger_account_id",
            "credit_note_lines.unit_price",
        ),
        {"reference": 25, "description": 200},
    ),
    "purchase_invoices": Schema(
        "purchase_invoice",
        {**_ARTEFACT, "vendor_reference": "text", "invoice_lines": [_LINE]},
        (
            "contact_id",
            "date",
            "invoice_lines",
            "invoice_lines.description",
            "invoice_lines.ledger_account_id",
            "invoice_lines.unit_price",
        ),
        {"reference": 25, "vendor_reference": 25, "description": 200},
    ),
    "contact_payments": Schema(
        "contact_payment",
        {
            "transaction_type_id": "id",
            "contact_id": "id",
            "bank_account_id": "id",
            "date": "date",
            "total_amount": "amount",
            "reference": "text",
            "allocated_artefacts": [{"artefact_id": "id", "amount": "amount"}],
        },
        ("transaction_type_id", "contact_id", "bank_account_id", "date", "total_amount"),
        {"reference": 25},
    ),
    "ledger_accounts": Schema(
        "ledger_account",
        {
            "ledger_account_type_id": "id",
            "included_in_chart": "bool",
            "name": "text",
            "display_name": "text",
            "nominal_code": "int",
        },
        ("ledger_account_type_id", "included_in_chart", "name", "display_name", "nominal_code"),
    ),
}
READABLE = {
    "journals",
    "sales_invoices",
    "sales_credit_notes",
    "purchase_invoices",
    "contact_payments",
    "ledger_accounts",
    "tax_rates",
    "contacts",
    "bank_accounts",
    "currencies",
    "businesses",
    "financial_settings",
}
DATED = {
    "journals",
    "sales_invoices",
    "sales_credit_notes",
    "purchase_invoices",
    "contact_payments",
}
QUERY = {"items_per_page", "page", "attributes"}
# Contact payment types -> what they may be allocated to.
PAYMENT_TYPES = {
    "CUSTOMER_RECEIPT": ("sales_invoices",),
    "CUSTOMER_REFUND": ("sales_credit_notes",),
    "VENDOR_PAYMENT": ("purchase_invoices",),
    "VENDOR_REFUND": (),
}


def _kind_problems(kind: Any, value: Any, where: str, lengths: dict[str, int]) -> list[str]:
    if isinstance(kind, list):
        if not isinstance(value, list):
            return [f"{where} must be a list"]
        found = []
        for index, item in enumerate(value):
            found += _object_problems(kind[0], item, f"{where}[{index}]", lengths)
        return found
    if kind == "amount":
        ok = isinstance(value, (int, Decimal)) and not isinstance(value, bool)
        return [] if ok else [f"{where}: {value!r} is not a number"]
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: {value!r} is not an integer"]
    if kind == "bool":
        return [] if isinstance(value, bool) else [f"{where}: {value!r} is not a boolean"]
    if not isinstance(value, str):
        return [f"{where}: {value!r} is not a string"]
    if kind == "date" and not _DATE.match(value):
        return [f"{where}: {value!r} is not a YYYY-MM-DD date"]
    most = lengths.get(where.rsplit(".", 1)[-1])
    if most and len(value) > most:
        return [f"{where} is longer than {most} characters"]
    return []


def _object_problems(
    fields: dict[str, Any], value: Any, where: str, lengths: dict[str, int]
) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where} must be an object"]
    found = []
    for name, item in value.items():
        if name not in fields:
            found.append(f"{where}.{name} is not a field Sage takes")
        elif item is not None:
            found += _kind_problems(fields[name], item, f"{where}.{name}", lengths)
    return found


def check_body(resource: str, body: Any) -> list[str]:
    """What in a write's body the hand-written contract does not allow."""
    schema = SCHEMAS.get(resource)
    if schema is None:
        return [f"{resource} cannot be created"]
    if not isinstance(body, dict) or list(body) != [schema.wrapper]:
        return [f"the body must be {{{schema.wrapper!r}: {{...}}}} and nothing else"]
    inner = body[schema.wrapper]
    found = _object_problems(schema.fields, inner, schema.wrapper, schema.lengths)
    if found:
        return found
    for name in schema.required:
        head, _, tail = name.partition(".")
        values = [inner.get(head)] if not tail else [x.get(tail) for x in inner.get(head) or []]
        if not values or any(v is None or v in ("", []) for v in values):
            found.append(f"{schema.wrapper}.{name} is required")
    if resource == "journals":
        for index, line in enumerate(inner.get("journal_lines") or []):
            debit, credit = Decimal(line.get("debit") or 0), Decimal(line.get("credit") or 0)
            if (debit != 0) == (credit != 0) or debit < 0 or credit < 0:
                found.append(f"journal.journal_lines[{index}] must be a debit or a credit")
    return found


class SageContract(Contract):
    """The hand-written v3.1 contract (see the module docstring)."""

    vendor = "Sage"

    def __init__(self, businesses: set[str]) -> None:
        self.businesses = businesses

    def request_problems(self, request: Request) -> list[str]:
        if not request.path.startswith(f"{BASE}/"):
            return [f"{request.path} is not under {BASE}"]
        resource = request.path.removeprefix(f"{BASE}/")
        found = []
        if resource != "businesses":
            business = request.headers.get("X-Business")
            if business not in self.businesses:
                found.append(f"X-Business {business!r} is not a business of this user")
        if request.method == "GET":
            if resource not in READABLE:
                return [*found, f"GET {resource} is not an endpoint"]
            allowed = QUERY | ({"from_date", "to_date"} if resource in DATED else set())
            allowed |= {"contact_type_id"} if resource == "contacts" else set()
            for name, values in request.query.items():
                if name not in allowed:
                    found.append(f"query parameter {name} is not one {resource} takes")
                elif name in ("from_date", "to_date") and not _DATE.match(values[0]):
                    found.append(f"{name}={values[0]!r} is not a YYYY-MM-DD date")
                elif name == "items_per_page" and not (
                    values[0].isdigit() and 1 <= int(values[0]) <= 200
                ):
                    found.append(f"items_per_page={values[0]} is not between 1 and 200")
            return found
        if request.method != "POST":
            return [*found, f"{request.method} {resource} is not used by this product"]
        try:
            body = request.json()
        except ValueError:
            return [*found, "the body is not JSON"]
        return found + check_body(resource, body)

    def response_problems(self, request: Request, status: int, payload: bytes) -> list[str]:
        return []

    def refusal(self, problems: list[str]) -> tuple[int, bytes, dict[str, str]]:
        return _error(HTTPStatus.UNPROCESSABLE_ENTITY, "; ".join(problems), "RecordInvalid")


def _error(
    status: int, message: str, code: str = "RecordInvalid"
) -> tuple[int, bytes, dict[str, str]]:
    body = [{"$severity": "error", "$dataCode": code, "$message": message, "$source": ""}]
    return status, dumps(body).encode(), {"Content-Type": "application/json"}


def _new_id() -> str:
    return uuid.uuid4().hex


class Business:
    """One business's records. Rows keep internal fields under "_" (never
    answered): a tax rate's `_ledger` (the nominal code its tax is posted
    to), a written record's `_kind`."""

    def __init__(self, business_id: str, debtors: str, creditors: str) -> None:
        self.id = business_id
        self.debtors = debtors
        self.creditors = creditors
        self.lock = threading.RLock()
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.creates: dict[str, int] = defaultdict(int)

    def seed_account(
        self, code: str, name: str = "", kind: str = "CURRENT_ASSETS", *, hidden: bool = False
    ) -> dict[str, Any]:
        row = {
            "id": _new_id(),
            "nominal_code": int(code),
            "name": name or f"Account {code}",
            "displayed_as": f"{name or 'Account'} ({code})",
            "ledger_account_type": {"id": kind, "displayed_as": kind.title()},
            "included_in_chart": not hidden,
        }
        self.rows["ledger_accounts"].append(row)
        return row

    def ledger(self, code: str) -> dict[str, Any]:
        return next(r for r in self.rows["ledger_accounts"] if str(r["nominal_code"]) == code)

    def seed_tax(
        self, ident: str, percent: str, ledger: str = "2200", *, hidden: bool = False
    ) -> None:
        self.rows["tax_rates"].append(
            {
                "id": ident,
                "name": ident.title(),
                "percentage": Decimal(percent),
                "is_visible": not hidden,
                "_ledger": ledger,
            }
        )

    def seed_contact(self, reference: str, name: str, kind: str = "CUSTOMER") -> None:
        self.rows["contacts"].append(
            {"id": _new_id(), "name": name, "reference": reference, "_type": kind}
        )

    def seed_bank(self, code: str) -> None:
        """A bank account whose ledger account has nominal code `code`."""
        ledger = self.ledger(code)
        self.rows["bank_accounts"].append(
            {
                "id": _new_id(),
                "ledger_account": {"id": ledger["id"], "displayed_as": ledger["name"]},
            }
        )

    def _find(self, resource: str, ident: Any) -> dict[str, Any] | None:
        return next((r for r in self.rows[resource] if r["id"] == ident), None)

    def create(self, resource: str, body: dict[str, Any]) -> tuple[int, Any]:
        """Business rules beyond the schema; (201, row) or (422, message)."""
        record = dict(body[SCHEMAS[resource].wrapper])
        problem = self._rules(resource, record)
        if problem:
            return HTTPStatus.UNPROCESSABLE_ENTITY, problem
        record["id"] = _new_id()
        if resource == "ledger_accounts":
            record = {
                "id": record["id"],
                "nominal_code": record["nominal_code"],
                "name": record["name"],
                "ledger_account_type": {"id": record["ledger_account_type_id"]},
                "included_in_chart": record["included_in_chart"],
            }
        self.rows[resource].append(record)
        self.creates[resource] += 1
        return HTTPStatus.CREATED, record

    def _rules(self, resource: str, record: dict[str, Any]) -> str | None:
        accounts = {r["id"]: r for r in self.rows["ledger_accounts"]}
        if resource == "ledger_accounts":
            if not 1 <= record["nominal_code"] <= 99999999:
                return f"Nominal code {record['nominal_code']} is not between 1 and 99999999"
            if any(r["nominal_code"] == record["nominal_code"] for r in accounts.values()):
                return f"Nominal code {record['nominal_code']} is already in use"
            return None
        lines = record.get("journal_lines") or record.get("invoice_lines") or []
        lines = lines or record.get("credit_note_lines") or []
        for line in lines:
            account = accounts.get(line.get("ledger_account_id"))
            if account is None or not account["included_in_chart"]:
                return f"Ledger account {line.get('ledger_account_id')} cannot be used"
            rate = self._find("tax_rates", line.get("tax_rate_id"))
            if line.get("tax_rate_id") and rate is None:
                return f"Tax rate {line['tax_rate_id']} does not exist"
            # v3.1 requires a line's tax_amount unless its tax rate is a
            # zero, exempt or no-tax one (Sage's invoice line schema).
            if (
                resource != "journals"
                and rate is not None
                and rate["percentage"]
                and line.get("tax_amount") is None
            ):
                return "tax_amount is required for a line with a non-zero tax rate"
            if "total_amount" in line and Decimal(line["net_amount"]) + Decimal(
                line.get("tax_amount") or 0
            ) != Decimal(line["total_amount"]):
                return "A line's total is not its net amount plus its tax"
        if resource == "journals":
            debit = sum(Decimal(x.get("debit") or 0) for x in lines)
            credit = sum(Decimal(x.get("credit") or 0) for x in lines)
            if debit != credit:
                return f"The journal does not balance (debits {debit}, credits {credit})"
            return None
        if not self._find("contacts", record.get("contact_id")):
            return f"Contact {record.get('contact_id')} does not exist"
        if resource == "contact_payments":
            if not self._find("bank_accounts", record["bank_account_id"]):
                return f"Bank account {record['bank_account_id']} does not exist"
            kind = record["transaction_type_id"]
            if kind not in PAYMENT_TYPES:
                return f"Transaction type {kind} is not supported here"
            for allocation in record.get("allocated_artefacts") or []:
                artefact = next(
                    (
                        found
                        for resource in PAYMENT_TYPES[kind]
                        if (found := self._find(resource, allocation["artefact_id"]))
                    ),
                    None,
                )
                if artefact is None:
                    return f"Artefact {allocation['artefact_id']} does not exist"
                if Decimal(allocation["amount"]) > self.outstanding(artefact):
                    return "An allocation is more than the artefact's outstanding amount"
                artefact["_paid"] = artefact.get("_paid", Decimal(0)) + Decimal(
                    allocation["amount"]
                )
        return None

    @staticmethod
    def outstanding(artefact: dict[str, Any]) -> Decimal:
        lines = artefact.get("invoice_lines") or artefact.get("credit_note_lines") or []
        total = sum((Decimal(x["total_amount"]) for x in lines), Decimal(0))
        return total - artefact.get("_paid", Decimal(0))

    def select(self, resource: str, params: dict[str, str]) -> list[dict[str, Any]]:
        rows = list(self.rows[resource])
        if "from_date" in params:
            rows = [r for r in rows if r["date"] >= params["from_date"]]
        if "to_date" in params:
            rows = [r for r in rows if r["date"] <= params["to_date"]]
        if "contact_type_id" in params:
            rows = [r for r in rows if r.get("_type") == params["contact_type_id"]]
        shaped = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
        if "attributes" in params:
            names = {"id", *params["attributes"].split(",")}
            shaped = [{k: v for k, v in r.items() if k in names} for r in shaped]
        return shaped

    # -- the books --

    def postings(self) -> list[tuple[str, Decimal, str]]:
        """(nominal code, amount +debit, reference) of every posting the
        records written make: journal lines as sent; an invoice debits the
        debtors control account with its total and credits each line's
        account with its net and its tax rate's ledger with the tax (a credit
        note the reverse); a purchase invoice debits its lines' accounts and
        tax ledgers and credits the creditors control account; a receipt
        debits the bank account's ledger and credits debtors, a vendor
        payment debits creditors and credits the bank (refunds the reverse)."""
        codes = {r["id"]: str(r["nominal_code"]) for r in self.rows["ledger_accounts"]}
        taxes = {r["id"]: r["_ledger"] for r in self.rows["tax_rates"]}
        banks = {r["id"]: codes[r["ledger_account"]["id"]] for r in self.rows["bank_accounts"]}
        found = []
        for journal in self.rows["journals"]:
            for line in journal["journal_lines"]:
                amount = Decimal(line.get("debit") or 0) - Decimal(line.get("credit") or 0)
                found.append((codes[line["ledger_account_id"]], amount, journal["reference"]))
        for resource, sign in (("sales_invoices", 1), ("sales_credit_notes", -1)):
            for record in self.rows[resource]:
                ref = str(record.get("reference"))
                lines = record.get("invoice_lines") or record.get("credit_note_lines") or []
                for line in lines:
                    found.append(
                        (codes[line["ledger_account_id"]], -sign * Decimal(line["net_amount"]), ref)
                    )
                    tax = Decimal(line.get("tax_amount") or 0)
                    if tax:
                        found.append((taxes[line["tax_rate_id"]], -sign * tax, ref))
                    found.append((self.debtors, sign * Decimal(line["total_amount"]), ref))
        for record in self.rows["purchase_invoices"]:
            ref = str(record.get("reference"))
            for line in record["invoice_lines"]:
                found.append((codes[line["ledger_account_id"]], Decimal(line["net_amount"]), ref))
                tax = Decimal(line.get("tax_amount") or 0)
                if tax:
                    found.append((taxes[line["tax_rate_id"]], tax, ref))
                found.append((self.creditors, -Decimal(line["total_amount"]), ref))
        for payment in self.rows["contact_payments"]:
            kind = payment["transaction_type_id"]
            sign = 1 if kind in ("CUSTOMER_RECEIPT", "VENDOR_REFUND") else -1
            control = self.debtors if kind.startswith("CUSTOMER") else self.creditors
            total = Decimal(payment["total_amount"])
            ref = str(payment.get("reference"))
            found.append((banks[payment["bank_account_id"]], sign * total, ref))
            found.append((control, -sign * total, ref))
        return found

    def balances(self, references: set[str] | None = None) -> dict[str, Decimal]:
        """Nominal code -> balance (debit positive) over the records whose
        `reference` is in `references` (all when None)."""
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for code, amount, ref in self.postings():
            if references is None or ref in references:
                totals[code] += amount
        return {code: amount for code, amount in totals.items() if amount}


class SageDouble(LocalServer):
    """`with SageDouble() as sage:` serves one user's businesses at
    `sage.url` (the API root, ending in /v3.1); `sage.books` is the business
    `sage.business_id`. `fail_next(status, body, headers)` queues a scripted
    answer; `lose_next_answer` drops the answer of the next write after it
    happened; `requests` records (method, resource, params, X-Business).
    `rate_limit=(calls, seconds)`: a call beyond `calls` in the last
    `seconds` is answered 429 with Retry-After. `page_size` caps
    items_per_page; `delay` seconds before each answer. The token endpoint (`/token` on the same host) rotates
    the refresh token on every use."""

    def __init__(
        self,
        *,
        token: str = "sage-good-token",  # noqa: S107 - a fake
        business_id: str = "b1a2c3d4e5f6",
        others: tuple[str, ...] = (),
        debtors: str = "1100",
        creditors: str = "2100",
        base_currency: str = "GBP",
        rate_limit: tuple[int, float] | None = None,
        page_size: int = 200,
        delay: float = 0.0,
    ) -> None:
        self.delay = delay  # seconds each answer takes (a slower, more realistic API)
        self.business_id = business_id
        self.base_currency = base_currency
        self.books = Business(business_id, debtors, creditors)
        self.businesses = {business_id: "Café Ltd", **{o: f"Business {o}" for o in others}}
        self.harness = Harness(SageContract(set(self.businesses)))
        self.rate_limit = rate_limit
        self.page_size = page_size
        self.accepted: list[float] = []
        self.refused: list[float] = []
        self._rate_lock = threading.Lock()
        self.token = token
        self.client = ("sage-client", "sage-client-secret")
        self.screen = ConsentScreen("Sage Accounting")
        self.valid_tokens = {token}
        self.refresh_token = "sage-refresh-0001"
        self.refreshes = 0
        secrets_guard.register(token, self.client[1], self.refresh_token)
        self.revoked: list[str] = []  # refresh tokens revoked at /revoke
        self.revoke_failure: int | None = None  # status /revoke answers instead
        self.subscription_ended = False  # every API call: 401 "No active subscription"
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.scripted: list[tuple[int, Any, dict[str, str]]] = []
        self.lose_next_answer = False
        super().__init__(self._handler(), poll_interval=0.02)

    @property
    def url(self) -> str:
        return f"{self.origin}{BASE}"

    @property
    def violations(self) -> list[str]:
        return self.harness.violations

    def __enter__(self) -> Self:
        return super().__enter__()

    def fail_next(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.scripted.append((status, body, headers or {}))

    def most_in_window(self) -> int:
        return most_in_window(self.accepted, self.rate_limit[1] if self.rate_limit else None)

    def _throttle(self) -> tuple[bool, dict[str, str]]:
        with self._rate_lock:
            now = time.monotonic()
            if self.rate_limit is None:
                self.accepted.append(now)
                return True, {}
            calls, seconds = self.rate_limit
            recent = [t for t in self.accepted if t > now - seconds]
            if len(recent) < calls:
                self.accepted.append(now)
                return True, {}
            self.refused.append(now)
            wait = recent[0] + seconds - now
            return False, {"Retry-After": f"{max(wait, 0.01):.2f}"}

    def handle(
        self, method: str, path: str, params: dict[str, str], body: Any, auth: str
    ) -> tuple[int, Any, dict[str, str]]:
        resource = path.removeprefix(f"{BASE}/")
        self.requests.append((method, resource, params))
        if self.delay:
            time.sleep(self.delay)
        if self.scripted:
            return self.scripted.pop(0)
        if auth.removeprefix("Bearer ") not in self.valid_tokens:
            return (
                HTTPStatus.UNAUTHORIZED,
                [
                    {
                        "$severity": "error",
                        "$dataCode": "Unauthorized",
                        "$message": "Unauthorized",
                        "$source": "",
                    }
                ],
                {},
            )
        if self.subscription_ended:
            # Sage's words for a business whose trial or subscription ended
            # (developer.sage.com/accounting/guides/concepts/frequently_raised_errors/).
            return (
                HTTPStatus.UNAUTHORIZED,
                [
                    {
                        "$severity": "error",
                        "$dataCode": "AuthorizationFailure",
                        "$message": "No active subscription. (MSE)",
                        "$source": "",
                    }
                ],
                {},
            )
        allowed, headers = self._throttle()
        if not allowed:
            message = [
                {
                    "$severity": "error",
                    "$dataCode": "TooManyRequests",
                    "$message": "Too many requests",
                    "$source": "",
                }
            ]
            return HTTPStatus.TOO_MANY_REQUESTS, message, headers
        if resource == "businesses":
            rows = [{"id": k, "name": v} for k, v in self.businesses.items()]
            return HTTPStatus.OK, self._page(resource, params, rows), {}
        books = self.books
        with books.lock:
            if method == "POST":
                status, answer = books.create(resource, body or {})
                if status == HTTPStatus.CREATED:
                    shown = {k: v for k, v in answer.items() if not k.startswith("_")}
                    return status, shown, {}
                return (
                    status,
                    [
                        {
                            "$severity": "error",
                            "$dataCode": "RecordInvalid",
                            "$message": answer,
                            "$source": resource,
                        }
                    ],
                    {},
                )
            if resource == "financial_settings":
                currency = {"id": self.base_currency, "displayed_as": self.base_currency}
                return HTTPStatus.OK, {"base_currency": currency}, {}
            if resource == "currencies":
                rows = [{"id": c, "displayed_as": c} for c in ("GBP", "EUR", "USD", "CAD")]
            else:
                rows = books.select(resource, params)
            return HTTPStatus.OK, self._page(resource, params, rows), {}

    def _page(self, resource: str, params: dict[str, str], rows: list[dict[str, Any]]) -> Any:
        size = min(int(params.get("items_per_page") or 20), self.page_size)
        page = int(params.get("page") or 1)
        items = rows[(page - 1) * size : page * size]
        following = None
        if page * size < len(rows):
            query = {**params, "page": str(page + 1)}
            following = f"/{resource}?{urlencode(query)}"
        return {
            "$total": len(rows),
            "$page": page,
            "$next": following,
            "$back": None,
            "$itemsPerPage": size,
            "$items": items,
        }

    def oauth_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The token endpoint: `authorization_code` (the consent's code, with
        its PKCE verifier) or `refresh_token` (the current refresh token
        only: each use replaces it); access tokens last 300 s."""
        if (form.get("client_id"), form.get("client_secret")) != self.client:
            return 401, {"error": "invalid_client"}
        with self._rate_lock:
            if form.get("grant_type") == "authorization_code":
                if not self.screen.redeem(
                    code=form.get("code", ""),
                    verifier=form.get("code_verifier", ""),
                    redirect_uri=form.get("redirect_uri", ""),
                ):
                    return 400, {"error": "invalid_grant"}
                access = self.token
            elif form.get("grant_type") == "refresh_token":
                if not self.refresh_token or form.get("refresh_token") != self.refresh_token:
                    return 400, {"error": "invalid_grant"}
                self.refreshes += 1
                access = f"sage-access-{self.refreshes:04d}"
                self.refresh_token = f"sage-refresh-{self.refreshes + 1:04d}"
            else:
                return 400, {"error": "unsupported_grant_type"}
            secrets_guard.register(access, self.refresh_token)
            self.valid_tokens.add(access)
            return 200, {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": 300,
                "refresh_token": self.refresh_token,
                "refresh_token_expires_in": 2678400,
            }

    def oauth_revoke(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The revoke endpoint (`POST /revoke`, form `client_id`,
        `client_secret`, `token`: the refresh token): the refresh token can
        no longer be used; access tokens live out their five minutes
        (developer.sage.com/accounting/guides/authenticating/authentication/,
        "Revoke a Refresh Token"). 200 `{"success": "ok"}`."""
        if self.revoke_failure is not None:
            return self.revoke_failure, {"error": "server_error"}
        if (form.get("client_id"), form.get("client_secret")) != self.client:
            return 401, {"error": "invalid_client"}
        if not form.get("token") or set(form) - {"client_id", "client_secret", "token"}:
            return 400, {"error": "invalid_request"}
        with self._rate_lock:
            self.revoked.append(form["token"])
            if form["token"] == self.refresh_token:
                self.refresh_token = ""  # nothing refreshes any more
        return 200, {"success": "ok"}

    def _oauth(self, handler: JsonHandler, method: str, path: str, query: Any) -> bool:
        if path == "/oauth2/auth/central" and method == "GET":
            serve_page(handler, *self.screen.page(path, {k: v[0] for k, v in query.items()}))
            return True
        if path == "/token" and method == "POST":
            form = {k: v[0] for k, v in parse_qs(handler.read_body().decode()).items()}
            handler.reply(*self.oauth_token(form))
            return True
        if path == "/revoke" and method == "POST":
            form = {k: v[0] for k, v in parse_qs(handler.read_body().decode()).items()}
            handler.reply(*self.oauth_revoke(form))
            return True
        return False

    def _handler(self) -> type[JsonHandler]:
        return harnessed_handler(
            self,
            lambda answer: dumps(answer).encode(),
            methods=("GET", "POST", "PUT", "DELETE"),
            before=self._oauth,
        )
