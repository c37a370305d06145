"""A local, stateful stand-in for Xero (Accounting API, identity and tenant
list) behind a real HTTP server on loopback.

It keeps a small organisation (accounts, contacts, tax rates) and the
documents written, applies each one to per-account balances the way Xero's
books would move, refuses what Xero refuses (unknown or archived accounts,
unbalanced journals, payments to non-bank accounts or unauthorised invoices),
replays a repeated `Idempotency-Key`, rotates refresh tokens, and can be told
to fail the next calls (429, 401, 403, 5xx).

Every Accounting API request goes through the strict harness
(tests/doubles/strict.py) before the double handles it, and every answer
after: Xero's published OpenAPI description, unknown query parameters and
body fields, and the fields Xero's documentation requires (XERO_REQUIRED).
A violation fails the test (the autouse fixture `strict_doubles`).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

from tests import secrets_guard
from tests.doubles.http import JsonHandler, LocalServer
from tests.doubles.strict import Harness, HarnessedDouble, OpenApiContract, Request, Required

API_PREFIX = "/api.xro/2.0"
SPEC_HOST = "https://api.xero.com"  # the server the description declares
RECEIVABLE, PAYABLE = "RECEIVABLE", "PAYABLE"
# How long Xero answers a repeated Idempotency-Key with the first answer.
# Xero's guide (developer.xero.com/documentation/guides/idempotent-requests)
# describes keys as a retry aid kept for a limited time, not a lasting record;
# we take 24 hours, the usual window of such APIs (not verifiable offline:
# no copy of the guide is kept under ../shared/reference). Tests that prove
# the sync looks a document up before writing pass a window of 0.
IDEMPOTENCY_WINDOW = 24 * 3600.0
CLASSES = {
    "BANK": "ASSET",
    "CURRENT": "ASSET",
    "CURRLIAB": "LIABILITY",
    "EQUITY": "EQUITY",
    "REVENUE": "REVENUE",
    "SALES": "REVENUE",
    "EXPENSE": "EXPENSE",
    "DIRECTCOSTS": "EXPENSE",
}


# What Xero's documentation requires beyond its OpenAPI file (which marks
# almost nothing required). Where a page says a field "defaults to the
# current date" we require it all the same: a sync posts a past business day,
# and a document without its date lands on the day it was sent.
_DOCS = "https://developer.xero.com/documentation/api/accounting"
XERO_REQUIRED = tuple(
    Required(method, "/" + collection.split(".")[0], collection, fields, f"{_DOCS}/{page}")
    for method in ("PUT", "POST")
    for collection, fields, page in (
        # "Type, Contact and LineItems are required"; Date: "if not specified
        # will default to the current date based on the timezone setting of the organisation".
        ("Invoices", ("Type", "Contact", "LineItems", "Date"), "invoices"),
        ("CreditNotes", ("Type", "Contact", "LineItems", "Date"), "creditnotes"),
        # "Narration and JournalLines are required"; Date defaults to today likewise.
        ("ManualJournals", ("Narration", "JournalLines", "Date"), "manualjournals"),
        ("ManualJournals.JournalLines", ("LineAmount", "AccountCode"), "manualjournals"),
        # Invoice (or CreditNote), Account, Date and Amount are required.
        ("Payments", ("Account", "Date", "Amount"), "payments"),
        (
            "BankTransactions",
            ("Type", "Contact", "LineItems", "BankAccount", "Date"),
            "banktransactions",
        ),
        ("BankTransfers", ("FromBankAccount", "ToBankAccount", "Amount", "Date"), "banktransfers"),
    )
)


class XeroContract(OpenApiContract):
    """Xero's Accounting API description (xero/xero_accounting.yaml) and
    XERO_REQUIRED; a refused request gets Xero's ValidationException."""

    def __init__(self) -> None:
        super().__init__("xero", "xero/xero_accounting.yaml", required=XERO_REQUIRED)

    def refusal(self, problems: list[str]) -> tuple[int, bytes, dict[str, str]]:
        status, body = _validation_error(*problems)
        return status, _encode(body), {}


@dataclass
class Fault:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    path: str = ""  # only requests whose path starts with this
    times: int = 1
    # Do the work, then answer with the fault: a response lost on the way back.
    after_write: bool = False
    methods: tuple[str, ...] = ("GET", "PUT", "POST", "DELETE")


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0))


def _validation_error(*messages: str) -> tuple[int, dict[str, Any]]:
    return HTTPStatus.BAD_REQUEST, {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [{"ValidationErrors": [{"Message": m} for m in messages]}],
    }


class XeroBooks:
    """The organisation's state and the effect of each document on it."""

    def __init__(
        self,
        *,
        accounts: list[dict[str, Any]],
        contacts: list[dict[str, Any]],
        tax_rates: list[dict[str, Any]],
        base_currency: str = "GBP",
        tracking_categories: dict[str, list[str]] | None = None,
    ) -> None:
        self.accounts = {}
        for account in accounts:
            self.add_account(account)
        self.contacts = {
            c["ContactID"]: {"ContactStatus": "ACTIVE", "IsCustomer": False, **c} for c in contacts
        }
        self.tax_rates = {t["TaxType"]: {"Status": "ACTIVE", **t} for t in tax_rates}
        self.base_currency = base_currency
        # {category name: [option names]}, each with generated ids.
        self.tracking_categories = [
            {
                "TrackingCategoryID": str(uuid.uuid4()),
                "Name": name,
                "Status": "ACTIVE",
                "Options": [
                    {"TrackingOptionID": str(uuid.uuid4()), "Name": o, "Status": "ACTIVE"}
                    for o in options
                ],
            }
            for name, options in (tracking_categories or {}).items()
        ]
        self.documents: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.balances: dict[str, Decimal] = defaultdict(Decimal)

    def add_account(self, account: dict[str, Any]) -> dict[str, Any]:
        stored = {
            "AccountID": str(uuid.uuid4()),
            "Status": "ACTIVE",
            "Class": CLASSES.get(account.get("Type", ""), "ASSET"),
            **account,
        }
        if stored.get("Type") == "BANK":
            stored.setdefault("BankAccountType", "BANK")
        self.accounts[stored["Code"]] = stored
        return stored

    def nonzero_balances(self) -> dict[str, Decimal]:
        return {k: v for k, v in self.balances.items() if v}

    # -- checks Xero makes ----------------------------------------------------

    def _account_problems(self, codes: list[str]) -> list[str]:
        problems = []
        for code in codes:
            account = self.accounts.get(code)
            if account is None:
                problems.append(f"Account code '{code}' is not a valid code for this document.")
            elif account["Status"] != "ACTIVE":
                problems.append(
                    f"Account code '{code}' has been archived, or has been deleted. Each line item must reference a valid account."
                )
        return problems

    def _tracking_problems(self, lines: list[dict[str, Any]]) -> list[str]:
        problems = []
        for line in lines:
            for tracking in line.get("Tracking") or []:
                category = next(
                    (
                        c
                        for c in self.tracking_categories
                        if c["Name"] == tracking.get("Name")
                        or c["TrackingCategoryID"] == tracking.get("TrackingCategoryID")
                    ),
                    None,
                )
                if category is None or category["Status"] != "ACTIVE":
                    problems.append(f"Tracking category {tracking.get('Name')} does not exist")
                elif not any(
                    o["Name"] == tracking.get("Option") and o["Status"] == "ACTIVE"
                    for o in category["Options"]
                ):
                    problems.append(
                        f"The tracking option {tracking.get('Option')} does not exist in {category['Name']}"
                    )
        return problems

    def _bank(self, ref: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        account = self.accounts.get(ref.get("Code", ""))
        if account is None or account["Status"] != "ACTIVE":
            return None, (self._account_problems([ref.get("Code", "?")]) or ["?"])[0]
        return account, None

    def _contact_problem(self, item: dict[str, Any]) -> str | None:
        contact = self.contacts.get((item.get("Contact") or {}).get("ContactID", ""))
        if contact is None:
            return "A valid contact is required"
        if contact["ContactStatus"] != "ACTIVE":
            return f"The contact {contact['Name']} is archived"
        return None

    # -- writes -------------------------------------------------------------------

    def write(
        self, collection: str, items: list[dict[str, Any]], *, summarize: bool = True
    ) -> tuple[int, dict[str, Any]]:
        """summarize (Xero's default): all or nothing, one 400 naming every
        problem. summarizeErrors=false: each element is written or refused on
        its own, and the answer (200) says which, element by element."""
        handler = getattr(self, f"_write_{collection.lower()}")
        saved = copy.deepcopy((self.documents, self.balances))
        stored = []
        for item in items:
            status, result = handler(dict(item))
            if status == HTTPStatus.OK:
                stored.append(result | {"StatusAttributeString": "OK"})
            elif summarize:
                self.documents, self.balances = saved
                return status, result
            else:
                errors = [e for el in result["Elements"] for e in el["ValidationErrors"]]
                flag = {"Invoices": "HasErrors", "CreditNotes": "HasErrors"}.get(collection)
                flag = flag or ("HasValidationErrors" if collection == "Payments" else None)
                refused = dict(item, StatusAttributeString="ERROR", ValidationErrors=errors)
                stored.append(refused | ({flag: True} if flag else {}))
        return HTTPStatus.OK, {collection: stored}

    def _write_manualjournals(self, item: dict[str, Any]) -> tuple[int, Any]:
        lines = item.get("JournalLines") or []
        problems = self._account_problems([line["AccountCode"] for line in lines])
        if problems := problems + self._tracking_problems(lines):
            return _validation_error(*problems)
        total = sum((_money(line["LineAmount"]) for line in lines), Decimal(0))
        if total:
            return _validation_error("The total debits must equal the total credits")
        item.update(ManualJournalID=str(uuid.uuid4()), Status=item.get("Status", "DRAFT"))
        if item["Status"] == "POSTED":
            for line in lines:
                self.balances[line["AccountCode"]] += _money(line["LineAmount"])
        self.documents["ManualJournals"].append(item)
        return HTTPStatus.OK, item

    def _sales_lines(self, item: dict[str, Any]) -> tuple[list[str], Decimal, Decimal]:
        lines = item.get("LineItems") or []
        problems = self._account_problems([line["AccountCode"] for line in lines])
        problems += [
            f"The TaxType code '{line['TaxType']}' does not exist or cannot be used"
            for line in lines
            if line.get("TaxType") not in self.tax_rates
        ]
        problems += self._tracking_problems(lines)
        if problem := self._contact_problem(item):
            problems.append(problem)
        net = sum((_money(line["LineAmount"]) for line in lines), Decimal(0))
        tax = sum((_money(line.get("TaxAmount")) for line in lines), Decimal(0))
        return problems, net, tax

    def _post_sales(self, item: dict[str, Any], sign: int, control: str) -> None:
        """sign +1: a sale (receivable up, income down); -1: its reverse."""
        for line in item["LineItems"]:
            self.balances[line["AccountCode"]] -= sign * _money(line["LineAmount"])
            if _money(line.get("TaxAmount")):
                self.balances["TAX:" + line["TaxType"]] -= sign * _money(line["TaxAmount"])
        self.balances[control] += sign * _money(item["Total"])

    def _write_invoices(self, item: dict[str, Any]) -> tuple[int, Any]:
        problems, net, tax = self._sales_lines(item)
        if problems:
            return _validation_error(*problems)
        total = net + tax
        item.update(
            InvoiceID=str(uuid.uuid4()),
            Status=item.get("Status", "DRAFT"),
            SubTotal=net,
            TotalTax=tax,
            Total=total,
            AmountDue=total,
            AmountPaid=Decimal(0),
        )
        if item["Status"] == "AUTHORISED":
            if item["Type"] == "ACCREC":
                self._post_sales(item, +1, RECEIVABLE)
            else:  # ACCPAY: a bill is a purchase, the reverse of a sale
                self._post_sales(item, -1, PAYABLE)
        self.documents["Invoices"].append(item)
        return HTTPStatus.OK, item

    def _write_creditnotes(self, item: dict[str, Any]) -> tuple[int, Any]:
        problems, net, tax = self._sales_lines(item)
        if problems:
            return _validation_error(*problems)
        item.update(
            CreditNoteID=str(uuid.uuid4()),
            Status=item.get("Status", "DRAFT"),
            SubTotal=net,
            TotalTax=tax,
            Total=net + tax,
            RemainingCredit=net + tax,
        )
        if item["Status"] == "AUTHORISED":
            self._post_sales(item, -1, RECEIVABLE)
        self.documents["CreditNotes"].append(item)
        return HTTPStatus.OK, item

    def allocate(self, credit_note_id: str, allocations: list[dict[str, Any]]) -> tuple[int, Any]:
        """PUT /CreditNotes/{id}/Allocations: apply part of an authorised
        sales credit note to an authorised sales invoice of the same contact.
        Both sit on the receivable, so no balance moves; the invoice's
        AmountDue and the credit's RemainingCredit fall by the amount."""
        credit = self._find("CreditNotes", "CreditNoteID", credit_note_id)
        if credit is None:
            return _validation_error("The credit note does not exist")
        made = []
        for allocation in allocations:
            invoice = self._find("Invoices", "InvoiceID", allocation["Invoice"]["InvoiceID"])
            amount = _money(allocation.get("Amount"))
            if invoice is None or invoice["Type"] != "ACCREC":
                return _validation_error("The invoice being allocated to does not exist")
            if "AUTHORISED" not in (credit["Status"], invoice["Status"]) or (
                credit["Status"] != invoice["Status"]
            ):
                return _validation_error(
                    "Allocations can only be made between authorised documents"
                )
            if invoice["Contact"]["ContactID"] != credit["Contact"]["ContactID"]:
                return _validation_error("The credit note and invoice must be for the same contact")
            if amount <= 0 or amount > credit["RemainingCredit"] or amount > invoice["AmountDue"]:
                return _validation_error(
                    f"The allocation {amount} exceeds the credit remaining "
                    f"{credit['RemainingCredit']} or the amount due {invoice['AmountDue']}"
                )
            credit["RemainingCredit"] -= amount
            invoice["AmountDue"] -= amount
            row = {
                "AllocationID": str(uuid.uuid4()),
                "Amount": amount,
                "Date": allocation["Date"],
                "Invoice": {"InvoiceID": invoice["InvoiceID"]},
                "CreditNote": {"CreditNoteID": credit["CreditNoteID"]},
            }
            credit.setdefault("Allocations", []).append(row)
            made.append(row)
        return HTTPStatus.OK, {"Allocations": made}

    def _write_payments(self, item: dict[str, Any]) -> tuple[int, Any]:
        account = self.accounts.get((item.get("Account") or {}).get("Code", ""))
        if account is None or account["Status"] != "ACTIVE":
            return _validation_error(*self._account_problems([item["Account"].get("Code", "?")]))
        if account["Type"] != "BANK" and not account.get("EnablePaymentsToAccount"):
            return _validation_error(
                f"Payments cannot be made to account {account['Code']}: it is not a bank account and does not accept payments"
            )
        amount = _money(item.get("Amount"))
        if "CreditNote" in item:
            found = self._find("CreditNotes", "CreditNoteID", item["CreditNote"]["CreditNoteID"])
            due_field, direction, control = "RemainingCredit", -1, RECEIVABLE
        else:
            found = self._find("Invoices", "InvoiceID", item["Invoice"]["InvoiceID"])
            due_field = "AmountDue"
            bill = found is not None and found["Type"] == "ACCPAY"
            direction, control = (-1, PAYABLE) if bill else (+1, RECEIVABLE)
        if found is None:
            return _validation_error("The document being paid does not exist")
        if found["Status"] != "AUTHORISED":
            return _validation_error("Payments can only be made against authorised documents")
        if amount <= 0 or amount > found[due_field]:
            return _validation_error(
                f"The payment amount {amount} exceeds the amount outstanding {found[due_field]}"
            )
        found[due_field] -= amount
        self.balances[account["Code"]] += direction * amount
        self.balances[control] -= direction * amount
        item.update(PaymentID=str(uuid.uuid4()), Status="AUTHORISED")
        self.documents["Payments"].append(item)
        return HTTPStatus.OK, item

    def _write_banktransactions(self, item: dict[str, Any]) -> tuple[int, Any]:
        bank, problem = self._bank(item.get("BankAccount") or {})
        lines = item.get("LineItems") or []
        problems = [problem] if problem else []
        if bank is not None and bank["Type"] != "BANK":
            problems.append(f"Account {bank['Code']} is not a bank account")
        problems += self._account_problems([line["AccountCode"] for line in lines])
        if contact := self._contact_problem(item):
            problems.append(contact)
        if problems:
            return _validation_error(*problems)
        total = sum((_money(line["LineAmount"]) for line in lines), Decimal(0))
        sign = 1 if item["Type"] == "RECEIVE" else -1
        self.balances[bank["Code"]] += sign * total
        for line in lines:
            self.balances[line["AccountCode"]] -= sign * _money(line["LineAmount"])
        item.update(BankTransactionID=str(uuid.uuid4()), Status="AUTHORISED", Total=total)
        self.documents["BankTransactions"].append(item)
        return HTTPStatus.OK, item

    def _write_banktransfers(self, item: dict[str, Any]) -> tuple[int, Any]:
        source, problem = self._bank(item["FromBankAccount"])
        target, other = self._bank(item["ToBankAccount"])
        problems = [p for p in (problem, other) if p]
        for account in (source, target):
            if account is not None and account["Type"] != "BANK":
                problems.append(f"Account {account['Code']} is not a bank account")
        if problems:
            return _validation_error(*problems)
        amount = _money(item["Amount"])
        self.balances[source["Code"]] -= amount
        self.balances[target["Code"]] += amount
        item.update(BankTransferID=str(uuid.uuid4()))
        self.documents["BankTransfers"].append(item)
        return HTTPStatus.OK, item

    def _find(self, collection: str, id_field: str, value: str) -> dict[str, Any] | None:
        return next((d for d in self.documents[collection] if d[id_field] == value), None)


_WHERE = re.compile(r'^(\w+)(?:==|\.(EndsWith)\()(?:"((?:[^"\\]|\\.)*)"|(true|false))\)?$')


def _matches(where: str | None, row: dict[str, Any]) -> bool:
    """The small part of Xero's `where` syntax the connector uses: clauses
    joined with OR."""
    if not where:
        return True
    clauses = re.split(r'\s+OR\s+(?=(?:[^"]*"[^"]*")*[^"]*$)', where.strip())
    return any(_matches_one(clause, row) for clause in clauses)


def _matches_one(where: str, row: dict[str, Any]) -> bool:
    found = _WHERE.match(where.strip())
    if found is None:
        raise ValueError(f"unsupported where clause {where!r}")
    name, ends_with, text, flag = found.groups()
    value = row.get(name)
    if flag is not None:
        return bool(value) == (flag == "true")
    text = re.sub(r"\\(.)", r"\1", text)
    return str(value or "").endswith(text) if ends_with else value == text


class XeroDouble(HarnessedDouble, LocalServer):
    """`with XeroDouble(books) as xero:` serves at `xero.url`; point
    XERO_API_URL at `xero.api_url` and XERO_IDENTITY_URL at `xero.url`."""

    def __init__(
        self,
        books: XeroBooks,
        *,
        tenant_id: str | None = None,
        access_token: str = "xero-access-0",  # noqa: S107 - the double's own fake token
        refresh_token: str = "xero-refresh-0",  # noqa: S107
        delay: float = 0.0,
        token_delay: float = 0.0,
        rate_limit: tuple[int, float] | None = None,
        other_tenants: tuple[str, ...] = (),
        idempotency_window: float = IDEMPOTENCY_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.books = books
        # Organisations the grant reaches besides `tenant_id` (their names; ids derived).
        self.other_tenants = other_tenants
        # The consent screen: code -> (PKCE challenge, redirect URI); each code works once.
        self.codes: dict[str, tuple[str, str]] = {}
        self.consents: list[dict[str, str]] = []  # the authorisation requests received
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.lock = threading.Lock()
        self.access_tokens = {access_token}
        secrets_guard.register(access_token, refresh_token)
        self.refresh_tokens = {refresh_token}
        self.refreshes = 0
        self.delay = delay
        self.token_delay = token_delay  # widens the window of a refresh race
        self.faults: list[Fault] = []
        self.harness = Harness(XeroContract())
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers
        self.spans: list[tuple[float, float]] = []  # start, end of each API call
        # Idempotency-Key -> (first seen, status, answer). A repeated key is
        # answered from here only within `idempotency_window` seconds of the
        # first (0: never, as if every key had expired): a sync that relies on
        # the key alone, without looking the document up, then duplicates.
        self.idempotent: dict[str, tuple[float, int, dict[str, Any]]] = {}
        self.idempotency_window = idempotency_window
        self.clock = clock
        self.replays = 0
        # (calls, seconds): more than `calls` in any rolling `seconds` per
        # tenant is answered 429 with Retry-After, as Xero's minute limit.
        self.rate_limit = rate_limit
        self.accepted: dict[str, list[float]] = defaultdict(list)  # per tenant
        self.throttled = 0  # 429s the rate limit answered
        # A short poll interval keeps shutdown (once per test) quick.
        super().__init__(_handler(self), poll_interval=0.02)

    @property
    def api_url(self) -> str:
        return self.url + API_PREFIX

    @property
    def undescribed(self) -> list[int]:
        return self.harness.undescribed

    def __enter__(self) -> Self:
        self.harness.contract.spec  # noqa: B018 - load before serving, not during the first call
        return super().__enter__()

    def fail_next(self, status: int, *, path: str = "", times: int = 1, **kwargs: Any) -> None:
        self.faults.append(Fault(status, path=path, times=times, **kwargs))

    def revoke_grant(self) -> None:
        with self.lock:
            self.access_tokens.clear()
            self.refresh_tokens.clear()

    def max_calls_within(self, seconds: float) -> int:
        starts = sorted(start for start, _ in self.spans)
        best, first = 0, 0
        for last, start in enumerate(starts):
            while start - starts[first] >= seconds:
                first += 1
            best = max(best, last - first + 1)
        return best

    def max_concurrent(self) -> int:
        events = sorted([(s, 1) for s, _ in self.spans] + [(e, -1) for _, e in self.spans])
        best = current = 0
        for _, step in events:
            current += step
            best = max(best, current)
        return best

    # -- request handling --------------------------------------------------------

    AUTHORIZE_PATH = "/identity/connect/authorize"

    @property
    def authorize_url(self) -> str:
        """Point XERO_AUTHORIZE_URL here: the merchant "consents" at once."""
        return self.url + self.AUTHORIZE_PATH

    def authorize(self, query: dict[str, str]) -> str:
        """Where the consent screen sends the browser back: the redirect URI
        with a new single-use code and the state it was given."""
        with self.lock:
            self.consents.append(dict(query))
            code = f"code-{len(self.consents)}"
            self.codes[code] = (query.get("code_challenge", ""), query.get("redirect_uri", ""))
        answer = {"code": code, "state": query.get("state", "")}
        return f"{query.get('redirect_uri', '')}?{urlencode(answer)}"

    def _code_grant(self, form: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
        """The authorisation-code grant with PKCE (S256), as Xero checks it."""
        import base64
        import hashlib

        challenge, redirect_uri = self.codes.pop(form.get("code", ""), ("", ""))
        verifier = form.get("code_verifier", "").encode()
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if not challenge or form.get("redirect_uri") != redirect_uri:
            return HTTPStatus.BAD_REQUEST, {"error": "invalid_grant"}
        if computed.decode() != challenge:
            return HTTPStatus.BAD_REQUEST, {"error": "invalid_grant"}
        return None

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        time.sleep(self.token_delay)
        with self.lock:
            if form.get("grant_type") == "authorization_code":
                refused = self._code_grant(form)
                if refused is not None:
                    return refused
                self.refreshes += 1
                access, refresh = f"at-{self.refreshes}", f"rt-{self.refreshes}"
                self.access_tokens.add(access)
                self.refresh_tokens.add(refresh)
                return HTTPStatus.OK, {
                    "access_token": access,
                    "refresh_token": refresh,
                    "expires_in": 1800,
                    "token_type": "Bearer",
                }
            if form.get("grant_type") != "refresh_token":
                return HTTPStatus.BAD_REQUEST, {"error": "unsupported_grant_type"}
            if form.get("refresh_token") not in self.refresh_tokens:
                return HTTPStatus.BAD_REQUEST, {"error": "invalid_grant"}
            self.refresh_tokens.discard(form["refresh_token"])  # rotation: single use
            self.refreshes += 1
            access, refresh = f"xero-access-{self.refreshes}", f"xero-refresh-{self.refreshes}"
            self.access_tokens.add(access)
            secrets_guard.register(access, refresh)
            self.refresh_tokens.add(refresh)
        return HTTPStatus.OK, {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": 1800,
            "token_type": "Bearer",
        }

    def api(
        self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        started = time.monotonic()
        time.sleep(self.delay)
        with self.lock:
            self.requests.append((method, path, dict(headers.items())))
            status, payload, extra = self._api(method, path, query, headers, body)
        self.spans.append((started, time.monotonic()))
        return status, payload, extra

    def _api(
        self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        token = (headers.get("Authorization") or "").removeprefix("Bearer ")
        if token not in self.access_tokens:
            return 401, {"Title": "Unauthorized", "Detail": "TokenExpired"}, {}
        lost = None
        for fault in self.faults:
            if fault.times > 0 and path.startswith(fault.path) and method in fault.methods:
                fault.times -= 1
                if not fault.after_write:
                    return fault.status, fault.body, fault.headers
                lost = fault
                break
        if headers.get("xero-tenant-id") != self.tenant_id:
            return 403, {"Title": "Forbidden", "Detail": "AuthenticationUnsuccessful"}, {}
        if self.rate_limit is not None:
            calls, seconds = self.rate_limit
            now = time.monotonic()
            times = self.accepted[self.tenant_id]
            recent = [t for t in times if now - t < seconds]
            if len(recent) >= calls:
                self.throttled += 1
                wait = f"{recent[0] + seconds - now:.3f}"
                return 429, {"Title": "Too many requests"}, {"Retry-After": wait}
            times.append(now)
        key = headers.get("Idempotency-Key")
        if method in ("PUT", "POST") and key and key in self.idempotent:
            first, status, payload = self.idempotent[key]
            if self.clock() - first < self.idempotency_window:
                self.replays += 1
                return status, payload, {}
        status, payload = self._resource(method, path, query, body)
        if method in ("PUT", "POST") and key:
            self.idempotent[key] = (self.clock(), status, payload)
        if lost is not None:
            return lost.status, lost.body, lost.headers
        return status, payload, {}

    def _resource(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        books = self.books
        resource = path.removeprefix(API_PREFIX).strip("/")
        where = (query.get("where") or [None])[0]
        if method == "GET":
            if resource == "Organisation":
                return HTTPStatus.OK, {
                    "Organisations": [{"Name": "Double Ltd", "BaseCurrency": books.base_currency}]
                }
            if resource == "Currencies":
                return HTTPStatus.OK, {"Currencies": [{"Code": books.base_currency}]}
            archived = (query.get("includeArchived") or ["false"])[0] == "true"
            if resource == "TrackingCategories":
                categories = [
                    c
                    | {"Options": [o for o in c["Options"] if archived or o["Status"] == "ACTIVE"]}
                    for c in books.tracking_categories
                    if archived or c["Status"] == "ACTIVE"
                ]
                return HTTPStatus.OK, {"TrackingCategories": categories}
            tables = {
                "Accounts": list(books.accounts.values()),
                "TaxRates": list(books.tax_rates.values()),
                "Contacts": [
                    c
                    for c in books.contacts.values()
                    if archived or c["ContactStatus"] != "ARCHIVED"
                ],
            }
            if resource.startswith("CreditNotes/"):
                found = books._find("CreditNotes", "CreditNoteID", resource.split("/")[1])
                if found is None:
                    return HTTPStatus.NOT_FOUND, {"Title": "Not Found"}
                return HTTPStatus.OK, {"CreditNotes": [found]}
            rows = tables.get(resource, books.documents.get(resource, []))
            if query.get("IDs"):
                ids = {i.strip().lower() for i in query["IDs"][0].split(",")}
                rows = [r for r in rows if str(r.get("ContactID", "")).lower() in ids]
            return HTTPStatus.OK, {resource: [r for r in rows if _matches(where, r)]}
        data = json.loads(body or b"{}", parse_float=Decimal)
        if resource == "Accounts":
            if data.get("Code") in books.accounts:
                return _validation_error("Please enter a unique Code.")
            return HTTPStatus.OK, {"Accounts": [books.add_account(data)]}
        if resource == "Contacts":
            created = []
            for contact in data["Contacts"]:
                if any(c["Name"] == contact.get("Name") for c in books.contacts.values()):
                    return _validation_error(
                        f"The contact name {contact.get('Name')} is already assigned to another contact."
                    )
                contact = {"ContactID": str(uuid.uuid4()), "ContactStatus": "ACTIVE", **contact}
                books.contacts[contact["ContactID"]] = contact
                created.append(contact)
            return HTTPStatus.OK, {"Contacts": created}
        if resource.startswith("CreditNotes/") and resource.endswith("/Allocations"):
            return books.allocate(resource.split("/")[1], data.get("Allocations") or [])
        summarize = (query.get("summarizeErrors") or ["true"])[0] != "false"
        return books.write(resource, data.get(resource) or [], summarize=summarize)


def _encode(payload: Any) -> bytes:
    return json.dumps(
        payload, default=lambda v: float(v) if isinstance(v, Decimal) else str(v)
    ).encode()


def _handler(double: XeroDouble) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            body = self.read_body()
            if parts.path == "/connect/token":
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                status, payload = double.token(form)
                self.reply_raw(status, _encode(payload))
            elif parts.path == double.AUTHORIZE_PATH:
                location = double.authorize({k: v[0] for k, v in query.items()})
                self.reply_raw(HTTPStatus.FOUND, b"", {"Location": location})
            elif parts.path == "/connect/revocation":
                double.revoke_grant()
                self.reply_raw(HTTPStatus.OK, b"{}")
            elif parts.path == "/connections":
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                if token not in double.access_tokens:
                    self.reply_raw(HTTPStatus.UNAUTHORIZED, b"{}")
                    return
                tenants = [
                    {
                        "id": str(uuid.uuid4()),
                        "tenantId": double.tenant_id,
                        "tenantType": "ORGANISATION",
                        "tenantName": "Double Ltd",
                    }
                ]
                tenants += [
                    {
                        "id": str(uuid.uuid4()),
                        "tenantId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                        "tenantType": "ORGANISATION",
                        "tenantName": name,
                    }
                    for name in double.other_tenants
                ]
                self.reply_raw(HTTPStatus.OK, _encode(tenants))
            elif parts.path.startswith(API_PREFIX):
                request = Request(self.command, parts.path, query, self.headers, body)

                def handle() -> tuple[int, bytes, dict[str, str]]:
                    status, payload, extra = double.api(
                        self.command, parts.path, query, self.headers, body
                    )
                    return status, _encode(payload), extra

                self.reply_raw(*double.harness.exchange(request, handle))
            else:
                self.reply_raw(HTTPStatus.NOT_FOUND, b'{"Message": "no such resource"}')

        do_GET = do_PUT = do_POST = do_DELETE = _serve

    return Handler
