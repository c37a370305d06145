"""A local, stateful stand-in for FreeAgent's API v2 (and its token
endpoint) behind a real HTTP server on loopback.

It keeps a small company (categories, bank accounts, contacts, sales tax
rates) and what is written to it (journal sets, invoices, credit notes and
their reconciliations, bills, bank transaction explanations), applies each
to per-account balances as FreeAgent's books would move, refuses what
FreeAgent refuses (unknown categories, bank accounts, contacts or linked
documents; unbalanced journal sets; payments of draft invoices; rates the
company does not have), rotates refresh tokens, and can be told to fail the
next calls (status codes, or a response lost after the write).

Every request first goes through the strict harness (tests/doubles/strict.py)
with `PostmanContract`: FreeAgent's own Postman collection, read from
../shared/reference/freeagent at test time. A request must be one the
collection makes (method and path), name only query parameters that request
declares, wrap its body in that request's resource name, and use only field
names the collection's example bodies use for that resource. FreeAgent
attributes the collection's examples leave out are listed in `DOCUMENTED`,
each with the page of dev.freeagent.com that defines it. On top: the
User-Agent FreeAgent requires, money as decimal strings, dates as
YYYY-MM-DD, references as URLs, and the attributes its documentation marks
required (`REQUIRED`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.doubles.http import JsonHandler, LocalServer
from tests.doubles.strict import REFERENCE, Contract, Harness, HarnessedDouble, Request

COLLECTION = REFERENCE / "freeagent" / "FreeAgent.postman_collection.json"
DEBTORS, CREDITORS = "681", "796"
CENT = Decimal("0.01")
_DOCS = "https://dev.freeagent.com/docs"

# Attributes FreeAgent documents that the collection's example bodies do not
# show (resource -> field -> the page defining it). Nested item lists are
# "<resource>.<list>[]".
DOCUMENTED: dict[str, dict[str, str]] = {
    "invoice": {
        "comments": f"{_DOCS}/invoices",
        "reference": f"{_DOCS}/invoices",
        "invoice_items": f"{_DOCS}/invoices",
    },
    "invoice.invoice_items[]": {
        "category": f"{_DOCS}/invoices",
        "sales_tax_rate": f"{_DOCS}/invoices",
        "sales_tax_status": f"{_DOCS}/invoices",
    },
    "credit_note": {"reference": f"{_DOCS}/credit_notes"},
    "credit_note.credit_note_items[]": {
        "item_type": f"{_DOCS}/credit_notes",
        "category": f"{_DOCS}/credit_notes",
        "sales_tax_rate": f"{_DOCS}/credit_notes",
        "sales_tax_status": f"{_DOCS}/credit_notes",
    },
    "bill": {
        "sales_tax_rate": f"{_DOCS}/bills",
        "sales_tax_status": f"{_DOCS}/bills",
        "manual_sales_tax_amount": f"{_DOCS}/sales_tax",
        "bill_items": f"{_DOCS}/bills",
    },
    "bill.bill_items[]": {
        "category": f"{_DOCS}/bills",
        "total_value": f"{_DOCS}/bills",
        "description": f"{_DOCS}/bills",
        "sales_tax_rate": f"{_DOCS}/bills",
        "sales_tax_status": f"{_DOCS}/bills",
        "manual_sales_tax_amount": f"{_DOCS}/sales_tax",
    },
    "bank_transaction_explanation": {
        "paid_invoice": f"{_DOCS}/bank_transaction_explanations",
        "paid_bill": f"{_DOCS}/bank_transaction_explanations",
        "transfer_bank_account": f"{_DOCS}/bank_transaction_explanations",
        "sales_tax_rate": f"{_DOCS}/bank_transaction_explanations",
        "sales_tax_status": f"{_DOCS}/bank_transaction_explanations",
    },
    "contact": {"organisation_name": f"{_DOCS}/contacts"},
}
# Pagination every list takes (README: at most 100 records a page).
PAGING = {"page", "per_page"}
MONEY = {
    "gross_value",
    "debit_value",
    "total_value",
    "price",
    "opening_balance",
    "exchange_rate",
    "manual_sales_tax_amount",
}
DATES = {"dated_on", "due_on"}
URLS = {
    "contact",
    "category",
    "bank_account",
    "paid_invoice",
    "paid_bill",
    "transfer_bank_account",
    "invoice",
    "credit_note",
    "project",
    "user",
    "bank_transaction",
}
# What FreeAgent's pages mark required (✔) for the writes we make.
REQUIRED: dict[str, tuple[str, ...]] = {
    "journal_set": ("dated_on", "journal_entries"),
    "journal_set.journal_entries[]": ("category", "debit_value"),
    "invoice": ("contact", "dated_on", "payment_terms_in_days"),
    "credit_note": ("contact", "dated_on", "payment_terms_in_days"),
    "bank_transaction_explanation": ("dated_on", "gross_value"),
    "bill": ("contact", "reference", "dated_on"),
    "category": ("description", "nominal_code"),
    "credit_note_reconciliation": ("gross_value", "dated_on", "invoice", "credit_note"),
    "bank_account": ("type", "name"),
}


@dataclass(frozen=True)
class Operation:
    method: str
    pattern: re.Pattern[str]
    query: frozenset[str]
    wrappers: frozenset[str]  # the resource names its example body wraps


@cache
def collection_model() -> tuple[tuple[Operation, ...], dict[str, frozenset[str]]]:
    """The collection's requests and, per resource (and nested list), the
    field names its example bodies use."""
    data = json.loads(COLLECTION.read_text())
    operations: list[Operation] = []
    fields: dict[str, set[str]] = defaultdict(set)

    def collect(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for name, inner in value.items():
                fields[prefix].add(name)
                if isinstance(inner, dict):
                    collect(f"{prefix}.{name}", inner)
                elif isinstance(inner, list):
                    for item in inner:
                        if isinstance(item, dict):
                            collect(f"{prefix}.{name}[]", item)

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if "item" in item:
                walk(item["item"])
                continue
            request = item["request"]
            url = request["url"]
            segments = [s for s in url.get("path", []) if s]
            pattern = "/" + "/".join(
                "[^/]+" if s.startswith(":") else re.escape(s) for s in segments
            )
            wrappers: set[str] = set()
            raw = (request.get("body") or {}).get("raw") or ""
            if raw.strip():
                body = json.loads(raw.replace("{{url}}", "https://api.freeagent.com"))
                wrappers = set(body)
                for name, value in body.items():
                    if isinstance(value, dict):
                        collect(name, value)
                    elif isinstance(value, list):
                        for entry in value:
                            collect(f"{name}[]", entry)
            query = frozenset(q["key"] for q in url.get("query") or [])
            operations.append(
                Operation(request["method"], re.compile(pattern), query, frozenset(wrappers))
            )

    walk(data["item"])
    return tuple(operations), {k: frozenset(v) for k, v in fields.items()}


class PostmanContract(Contract):
    """FreeAgent's requests as its Postman collection makes them."""

    vendor = "FreeAgent"

    def __init__(self, api_root: str) -> None:
        self.api_root = api_root  # URLs in bodies must point under it

    def operation(self, request: Request) -> Operation | None:
        operations, _ = collection_model()
        path = urlsplit(request.path).path
        for operation in operations:
            if operation.method == request.method and operation.pattern.fullmatch(path):
                return operation
        return None

    def request_problems(self, request: Request) -> list[str]:
        operation = self.operation(request)
        if operation is None:
            return ["no such request in FreeAgent's collection"]
        problems = [
            f"query parameter {name!r} is not one this request takes"
            for name in sorted(set(request.query) - operation.query - PAGING)
        ]
        if not request.headers.get("User-Agent"):
            problems.append("no User-Agent header (FreeAgent requires one)")
        if request.path.endswith("/token_endpoint"):
            return problems
        if request.method in ("POST", "PUT") and request.body:
            try:
                body = request.json()
            except ValueError:
                return [*problems, "the body is not JSON"]
            problems += self.body_problems(operation, body)
        return problems

    def body_problems(self, operation: Operation, body: Any) -> list[str]:
        if not isinstance(body, dict):
            return ["the body is not a JSON object"]
        problems = [
            f"body wraps {name!r}, but this request takes {sorted(operation.wrappers)}"
            for name in body
            if name not in operation.wrappers
        ]
        for name, value in body.items():
            if name in operation.wrappers:
                problems += self.fields_problems(name, value)
        return problems

    def fields_problems(self, resource: str, value: Any) -> list[str]:
        _, known = collection_model()
        if not isinstance(value, dict):
            return [] if isinstance(value, str) else [f"{resource} is not an object"]
        allowed = set(known.get(resource, ())) | set(DOCUMENTED.get(resource, {}))
        if resource.endswith("_items[]"):  # an item nested in its document takes the
            # fields of the item resource itself ("invoice_items[]" -> "invoice_item")
            allowed |= set(known.get(resource.rsplit(".", 1)[-1][:-3], ()))
        problems = []
        for name, inner in value.items():
            where = f"{resource}.{name}"
            if name not in allowed:
                problems.append(f"{where} is not a field FreeAgent takes")
                continue
            if name in MONEY and not _decimal_string(inner):
                shown = repr(inner) if isinstance(inner, str) else f"the {type(inner).__name__}"
                problems.append(f"{where} must be money as a decimal string, not {shown}")
            if name in DATES and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(inner)):
                problems.append(f"{where} must be a YYYY-MM-DD date")
            if name in URLS and not str(inner).startswith(self.api_root + "/"):
                problems.append(f"{where} must be a FreeAgent URL, not {inner!r}")
            if isinstance(inner, list):
                for entry in inner:
                    problems += self.fields_problems(f"{resource}.{name}[]", entry)
        for name in REQUIRED.get(resource, ()):
            if value.get(name) in (None, "", []):
                problems.append(f"{resource}.{name} is required ({_DOCS})")
        if resource == "bank_transaction_explanation" and not (
            value.get("bank_account") or value.get("bank_transaction")
        ):
            problems.append(f"{resource} needs a bank_account or a bank_transaction")
        return problems

    def describes(self, request: Request, status: int) -> bool:
        return False  # the collection saves no responses to check answers against

    def response_problems(self, request: Request, status: int, payload: bytes) -> list[str]:
        return []

    def refusal(self, problems: list[str]) -> tuple[int, bytes, dict[str, str]]:
        body = {"errors": [{"message": p} for p in problems]}
        return 400, json.dumps(body).encode(), {"Content-Type": "application/json"}


def _decimal_string(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        Decimal(value)
    except ArithmeticError:
        return False
    return True


class Refused(Exception):
    """FreeAgent's 422 with its message."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class FreeAgentBooks:
    """The company: categories by nominal code, bank accounts by id,
    contacts by id; the documents written; balances by our account ids
    (nominal code, "bank:<id>", "TAX:<rate>")."""

    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    bank_accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    tax_rates: tuple[str, ...] = ("20", "5", "0")
    currency: str = "GBP"
    documents: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    balances: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def nonzero_balances(self) -> dict[str, Decimal]:
        return {k: v for k, v in self.balances.items() if v}

    def post(self, account: str, amount: Decimal) -> None:
        self.balances[account] += amount


class FreeAgentDouble(HarnessedDouble, LocalServer):
    def __init__(
        self,
        books: FreeAgentBooks,
        *,
        delay: float = 0.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.books = books
        self.delay = delay
        # FreeAgent's time: each invoice or credit note is stamped `updated_at`
        # when made or changed, and lists filter on it (`updated_since`).
        self.clock = clock
        self.lock = threading.RLock()
        self.next_id = 100
        self.access_token = "fa-access-0"
        self.refresh_token = "fa-refresh-0"
        self.refreshes = 0
        self.challenge = ""
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.lose_write = 0  # the write that makes self.writes this number loses its answer
        self.fail_request = 0  # the request that makes len(self.requests) this number fails (500)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.arrivals: list[float] = []
        self.writes = 0
        super().__init__(_handler(self), poll_interval=0.05)
        self.harness = Harness(PostmanContract(self.api_url))
        if DEBTORS not in books.categories:
            books.categories[DEBTORS] = {"description": "Trade Debtors"}
        if CREDITORS not in books.categories:
            books.categories[CREDITORS] = {"description": "Trade Creditors"}

    @property
    def api_url(self) -> str:
        return f"{self.origin}/v2"

    def url(self, collection: str, resource_id: str) -> str:
        return f"{self.api_url}/{collection}/{resource_id}"

    def fail_next(self, status: int, count: int = 1, headers: dict[str, str] | None = None) -> None:
        self.failures += [(status, headers or {})] * count

    def max_calls_within(self, seconds: float) -> int:
        times = sorted(self.arrivals)
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] > seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    def written(self, kind: str) -> list[dict[str, Any]]:
        return self.books.documents[kind]

    # -- handling --

    def handle(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        with self.lock:
            self.arrivals.append(time.monotonic())
            self.requests.append((request.method, request.path, dict(request.headers)))
            failed = len(self.requests) == self.fail_request
            if failed or self.failures:
                status, headers = (500, {}) if failed else self.failures.pop(0)
                return status, json.dumps({"errors": [{"message": "fault"}]}).encode(), headers
        if self.delay:
            time.sleep(self.delay)
        path = urlsplit(request.path).path
        if path == "/v2/token_endpoint":
            return self.token(request)
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return 401, json.dumps({"errors": {"error": {"message": "Unauthorised"}}}).encode(), {}
        with self.lock:
            try:
                status, body, headers = self.route(request, path[len("/v2") :])
            except Refused as refused:
                body = {"errors": [{"message": refused.message}]}
                return refused.status, json.dumps(body).encode(), {}
        return status, json.dumps(body).encode(), headers

    def approve(self, query: dict[str, list[str]]) -> str:
        """The consent screen (the collection's auth block: /v2/approve_app),
        answered at once: where the browser goes back to, with a code."""
        self.challenge = query["code_challenge"][0]
        back = {"code": "fa-code", "state": query["state"][0]}
        return f"{query['redirect_uri'][0]}?{urlencode(back)}"

    def token(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        """Code exchange (PKCE checked) or refresh (rotating both tokens)."""
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") == "authorization_code":
            verifier = form.get("code_verifier", "").encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if form.get("code") != "fa-code" or digest.decode() != self.challenge:
                return 400, json.dumps({"error": "invalid_grant"}).encode(), {}
            body = {"access_token": self.access_token, "refresh_token": self.refresh_token}
            return 200, json.dumps(body | {"expires_in": 3600}).encode(), {}
        if (
            form.get("grant_type") != "refresh_token"
            or form.get("refresh_token") != self.refresh_token
        ):
            return 400, json.dumps({"error": "invalid_grant"}).encode(), {}
        with self.lock:
            self.refreshes += 1
            self.access_token = f"fa-access-{self.refreshes}"
            self.refresh_token = f"fa-refresh-{self.refreshes}"
        body = {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "bearer",
            "expires_in": 3600,
        }
        return 200, json.dumps(body).encode(), {}

    def route(self, request: Request, path: str) -> tuple[int, Any, dict[str, str]]:
        query = {k: v[0] for k, v in request.query.items()}
        if request.method == "GET":
            return self.get(path, query)
        body = request.json() if request.body else {}
        if request.method == "PUT" and path.endswith("/transitions/mark_as_sent"):
            kind, resource_id = path.strip("/").split("/")[:2]
            document = self.find(kind, resource_id)
            if document is None:
                raise Refused("Resource not found", 404)
            document["status"] = "Open"
            document["updated_at"] = self.stamp()
            return 200, {}, {}
        if request.method != "POST":
            raise Refused("Not supported by this double", 405)
        creators = {
            "/journal_sets": self.create_journal_set,
            "/invoices": lambda b: self.create_sales(b, "invoice"),
            "/credit_notes": lambda b: self.create_sales(b, "credit_note"),
            "/bills": self.create_bill,
            "/bank_transaction_explanations": self.create_explanation,
            "/credit_note_reconciliations": self.create_reconciliation,
            "/categories": self.create_category,
            "/bank_accounts": self.create_bank_account,
            "/contacts": self.create_contact,
        }
        creator = creators.get(path)
        if creator is None:
            raise Refused("Not supported by this double", 405)
        resource, row = creator(body)
        self.writes += 1
        if self.writes == self.lose_write:
            return -1, {}, {}  # written; the handler drops the connection
        return 201, {resource: row}, {}

    # -- reads --

    def get(self, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if path == "/categories":
            groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for code, row in sorted(self.books.categories.items()):
                groups[_group(code)].append(
                    {"url": self.url("categories", code), "nominal_code": code, **row}
                )
            return 200, dict(groups), {}
        if path == "/company":
            return (
                200,
                {"company": {"currency": self.books.currency, "type": "UkLimitedCompany"}},
                {},
            )
        if path == "/sales_tax_periods":
            return 200, {"sales_tax_periods": []}, {}
        simple = {
            "/bank_accounts": ("bank_accounts", self.books.bank_accounts),
            "/contacts": ("contacts", self.books.contacts),
            "/projects": ("projects", {}),
        }
        if path in simple:
            name, rows = simple[path]
            listed = [{"url": self.url(name, i), **row} for i, row in rows.items()]
            return self.page(path, name, listed, query)
        kinds = {
            "/journal_sets": "journal_sets",
            "/invoices": "invoices",
            "/credit_notes": "credit_notes",
            "/bills": "bills",
            "/bank_transaction_explanations": "bank_transaction_explanations",
            "/credit_note_reconciliations": "credit_note_reconciliations",
        }
        if path in kinds:
            name = kinds[path]
            rows = [r for r in self.books.documents[name] if _matches(r, query)]
            return self.page(path, name, rows, query)
        raise Refused("Resource not found", 404)

    def page(
        self, path: str, name: str, rows: list[dict[str, Any]], query: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        size = min(int(query.get("per_page", 25)), 100)
        number = int(query.get("page", 1))
        shown = rows[(number - 1) * size : number * size]
        headers = {}
        if number * size < len(rows):
            following = urlencode({**query, "page": str(number + 1)})
            headers["Link"] = f'<{self.api_url}{path}?{following}>; rel="next"'
        return 200, {name: [_public(r) for r in shown]}, headers

    def find(self, kind: str, resource_id: str) -> dict[str, Any] | None:
        for row in self.books.documents[kind]:
            if row["url"].rsplit("/", 1)[-1] == resource_id:
                return row
        return None

    def by_url(self, kind: str, url: str) -> dict[str, Any]:
        prefix = f"{self.api_url}/{kind}/"
        found = self.find(kind, url[len(prefix) :]) if url.startswith(prefix) else None
        if found is None:
            raise Refused(f"{kind.rstrip('s').replace('_', ' ').title()} {url} not found")
        return found

    # -- references --

    def _known(self, url: str, collection: str, rows: dict[str, Any], label: str) -> str:
        """The id at the end of `url` when it names one of `rows`, else FreeAgent's 422."""
        prefix = f"{self.api_url}/{collection}/"
        found = url[len(prefix) :] if url.startswith(prefix) else ""
        if found not in rows:
            raise Refused(f"{label} {url} not found")
        return found

    def category(self, url: str) -> str:
        return self._known(url, "categories", self.books.categories, "Category")

    def bank(self, url: str) -> str:
        return self._known(url, "bank_accounts", self.books.bank_accounts, "Bank account")

    def contact(self, url: str) -> None:
        contact = self.books.contacts[self._known(url, "contacts", self.books.contacts, "Contact")]
        if contact.get("status", "Active") != "Active":
            raise Refused("Contact is hidden")

    def rate(self, item: dict[str, Any]) -> Decimal:
        if "sales_tax_rate" not in item:
            return Decimal(0)
        rate = str(item["sales_tax_rate"])
        if rate not in self.books.tax_rates:
            raise Refused(f"Sales tax rate {rate} is not one of the company's rates")
        return Decimal(rate)

    def stamp(self) -> str:
        return self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def auto_rate(self, part: dict[str, Any], code: str) -> Decimal:
        """The rate a bill (item) or a categorised explanation is taxed at:
        its own `sales_tax_rate`; none when it states a status or a manual
        amount; else its category's default (`auto_sales_tax_rate` here, a
        percentage): FreeAgent applies the category's rate to what names
        none (dev.freeagent.com/docs/sales_tax for bills; Codat's FreeAgent
        integration reference for explanations)."""
        if "sales_tax_rate" in part:
            return self.rate(part)
        if part.get("sales_tax_status") or part.get("manual_sales_tax_amount") not in (None, ""):
            return Decimal(0)
        return Decimal(str(self.books.categories[code].get("auto_sales_tax_rate") or 0))

    def new_url(self, kind: str) -> str:
        self.next_id += 1
        return self.url(kind, str(self.next_id))

    # -- writes --

    def create_journal_set(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        journal = body["journal_set"]
        entries = journal["journal_entries"]
        moves = [(self.category(e["category"]), Decimal(e["debit_value"])) for e in entries]
        if sum(value for _, value in moves) != 0:
            raise Refused("Journal entries must balance")
        for code, value in moves:
            self.books.post(code, value)
        row = {**journal, "url": self.new_url("journal_sets"), "updated_at": self.stamp()}
        self.books.documents["journal_sets"].append(row)
        return "journal_set", row

    def create_sales(self, body: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
        """An invoice or credit note, its tax worked out as FreeAgent does:
        item by item, net = price x quantity to the penny, tax = net x rate
        to the penny (half away from zero); an item takes a rate or a
        status, never a tax amount (a `sales_tax_value` sent is refused by
        the contract: no such item field). The answer carries FreeAgent's
        net_value, sales_tax_value and total_value."""
        document = body[kind]
        self.contact(document["contact"])
        items = document.get(f"{kind}_items") or []
        if not items:
            raise Refused(f"A {kind.replace('_', ' ')} needs items")
        moves, net_total, tax_total = [], Decimal(0), Decimal(0)
        for item in items:
            net = (Decimal(item["price"]) * Decimal(item.get("quantity", "1"))).quantize(
                CENT, rounding=ROUND_HALF_UP
            )
            rate = self.rate(item)
            tax = (net * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
            moves.append((self.category(item["category"]), -net))
            if tax:
                moves.append((f"TAX:{item['sales_tax_rate']}", -tax))
            net_total += net
            tax_total += tax
        # One item alone may be negative (a discount line: FreeAgent's API
        # forum posts one); the document keeps to its side.
        if net_total and (kind == "credit_note") != (net_total < 0):
            raise Refused("A credit note's total is negative; an invoice's positive")
        gross = net_total + tax_total
        for account, amount in moves:
            self.books.post(account, amount)
        self.books.post(DEBTORS, gross)
        row = {
            **document,
            "url": self.new_url(f"{kind}s"),
            "status": "Draft",
            "net_value": str(net_total),
            "sales_tax_value": str(tax_total),
            "total_value": str(gross),
            "paid_value": "0.00",
            "updated_at": self.stamp(),
        }
        self.books.documents[f"{kind}s"].append(row)
        return kind, row

    def create_bill(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        bill = body["bill"]
        self.contact(bill["contact"])
        parts = bill.get("bill_items") or [bill]
        total = Decimal(0)
        for part in parts:
            if not part.get("category") or part.get("total_value") in (None, ""):
                raise Refused("A bill needs a category and a total value")
            value = Decimal(part["total_value"])
            rate = self.auto_rate(part, self.category(part["category"]))
            # A manual amount wins over a rate (dev.freeagent.com/docs/sales_tax);
            # else the tax is worked out from the gross.
            manual = part.get("manual_sales_tax_amount")
            tax = (
                Decimal(manual)
                if manual not in (None, "")
                else (value * rate / (100 + rate)).quantize(CENT, rounding=ROUND_HALF_UP)
            )
            self.books.post(self.category(part["category"]), value - tax)
            if tax:
                where = "manual" if manual else format(rate.normalize(), "f")
                self.books.post(f"TAX:{where}", tax)
            total += value
        self.books.post(CREDITORS, -total)
        row = {
            **bill,
            "url": self.new_url("bills"),
            "status": "Open",
            "total_value": str(total),
            "updated_at": self.stamp(),
        }
        self.books.documents["bills"].append(row)
        return "bill", row

    def create_explanation(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        explanation = body["bank_transaction_explanation"]
        bank = self.bank(explanation["bank_account"])
        gross = Decimal(explanation["gross_value"])
        if explanation.get("paid_invoice"):
            url = explanation["paid_invoice"]
            kind = "credit_notes" if "/credit_notes/" in url else "invoices"
            document = self.by_url(kind, url)
            if document["status"] == "Draft":
                raise Refused("A draft invoice cannot be paid; mark it as sent first")
            if (kind == "credit_notes") != (gross < 0):
                raise Refused(
                    "An invoice is paid with money in; a credit note refunded with money out"
                )
            document["paid_value"] = str(Decimal(document["paid_value"]) + gross)
            document["updated_at"] = self.stamp()
            self.books.post(DEBTORS, -gross)
        elif explanation.get("paid_bill"):
            self.by_url("bills", explanation["paid_bill"])
            if gross > 0:
                raise Refused("A bill is paid with money out")
            self.books.post(CREDITORS, -gross)
        elif explanation.get("transfer_bank_account"):
            other = self.bank(explanation["transfer_bank_account"])
            if other == bank:
                raise Refused("A transfer needs two different bank accounts")
            self.books.post(f"bank:{other}", -gross)
        elif explanation.get("category"):
            code = self.category(explanation["category"])
            rate = self.auto_rate(explanation, code)
            tax = (gross * rate / (100 + rate)).quantize(CENT, rounding=ROUND_HALF_UP)
            self.books.post(code, -(gross - tax))
            if tax:
                self.books.post(f"TAX:{format(rate.normalize(), 'f')}", -tax)
        else:
            raise Refused("An explanation needs a category, an invoice, a bill or a transfer")
        self.books.post(f"bank:{bank}", gross)
        row = {
            **explanation,
            "url": self.new_url("bank_transaction_explanations"),
            "updated_at": self.stamp(),
        }
        self.books.documents["bank_transaction_explanations"].append(row)
        return "bank_transaction_explanation", row

    def create_reconciliation(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        pair = body["credit_note_reconciliation"]
        invoice = self.by_url("invoices", pair["invoice"])
        note = self.by_url("credit_notes", pair["credit_note"])
        if "Draft" in (invoice["status"], note["status"]):
            raise Refused("Only sent invoices and credit notes can be reconciled")
        invoice["updated_at"] = note["updated_at"] = self.stamp()
        row = {
            **pair,
            "url": self.new_url("credit_note_reconciliations"),
            "updated_at": self.stamp(),
        }
        self.books.documents["credit_note_reconciliations"].append(row)
        return "credit_note_reconciliation", row

    def create_category(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        category = body["category"]
        code = category["nominal_code"]
        if code in self.books.categories:
            raise Refused(f"Nominal code {code} has already been taken")
        self.books.categories[code] = {"description": category["description"]}
        return "category", {"url": self.url("categories", code), **category}

    def create_bank_account(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        account = body["bank_account"]
        self.next_id += 1
        self.books.bank_accounts[str(self.next_id)] = {"name": account["name"], "status": "active"}
        return "bank_account", {"url": self.url("bank_accounts", str(self.next_id)), **account}

    def create_contact(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        contact = body["contact"]
        if not contact.get("organisation_name") and not (
            contact.get("first_name") and contact.get("last_name")
        ):
            raise Refused("A contact needs an organisation name or a first and last name")
        self.next_id += 1
        self.books.contacts[str(self.next_id)] = {**contact, "status": "Active"}
        return "contact", {"url": self.url("contacts", str(self.next_id)), **contact}


def _group(code: str) -> str:
    number = int(re.sub(r"\D", "", code) or 0)
    if number < 100:
        return "income_categories"
    if number < 200:
        return "cost_of_sales_categories"
    if number < 600:
        return "admin_expenses_categories"
    return "general_categories"


def _matches(row: dict[str, Any], query: dict[str, str]) -> bool:
    if "tag" in query and row.get("tag") != query["tag"]:
        return False
    if "bank_account" in query and row.get("bank_account") != query["bank_account"]:
        return False
    if "updated_since" in query:
        since = _instant(query["updated_since"])
        if "updated_at" not in row or _instant(row["updated_at"]) < since:
            return False
    dated = row.get("dated_on", "")
    if "from_date" in query and dated < query["from_date"]:
        return False
    return not ("to_date" in query and dated > query["to_date"])


def _instant(text: str) -> datetime:
    """A date (midnight UTC) or an ISO 8601 timestamp, as FreeAgent takes
    `updated_since` (the collection's example: "2018-01-01"); else its 400."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Refused(f"updated_since {text!r} is not a date or time", 400) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def _handler(double: FreeAgentDouble) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/v2/approve_app":  # the browser's consent page
                self.send_response(302)
                self.send_header("Location", double.approve(parse_qs(parts.query)))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k: v for k, v in self.headers.items()},
                body=self.read_body(),
            )
            status, payload, headers = double.harness.exchange(
                request, lambda: double.handle(request)
            )
            if status == -1:  # written, then the answer is lost
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.reply_raw(status, payload, headers)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler
