"""A local stand-in for the Lightspeed Restaurant K-Series financial API
(business locations, V2 sales, Lightspeed Payments records, OAuth), serving
one day of an Amsterdam restaurant (EUR).

No machine-readable description of the API is published outside the
vendor's docs site, so the contract here is a small strict JSON Schema built
from the facts in ../shared/reference/README.md (K-Series): the paths, the
query parameters each takes (`pageSize` 1..100, a `from`..`to` range of at
most 365 days, `offset`), the fields each answer must carry, and amounts as
decimal strings with at most 6 decimals (never JSON numbers). Every request
goes through the strict harness (tests/doubles/strict.py) against it before
the double reads it, and every answer after.

The day (2026-11-02 in Amsterdam, UTC+1; times below in UTC), prices include
VAT (9 % food and coffee, 21 % wine):

* A0 a 4.00 sale closed at 22:30 the evening before: outside the day;
* A1 11:00: 2 x soup 13.00 (VAT 1.073394) and a wine 6.50 (VAT 1.128099),
  a voided bread line; paid 19.50 by Lightspeed Payments with a 2.00 tip;
* A2 12:30: a menu of the day 30.00 taxed on two rates (9 % 1.486239 on
  its food part, 21 % 2.082645 on its wine), a coffee 3.00 less a 0.50
  happy-hour discount = 2.50 (VAT 0.206422); split: 12.50 cash, 20.00 by
  Lightspeed Payments with a 1.50 tip;
* A3 15:00: the wine of A1 refunded, -6.50 (VAT -1.128099), to the card;
* A4 16:00: a beer 4.00, cancelled before payment (a void);
* Lightspeed Payments: fees 0.39 on A1 and 0.39 on A2, 0.05 given back on
  the refund, a 40.00 payout at 06:00, a 15.00 payout at 07:00 that failed
  at 20:00; a 99.00 payout the next day (never asked for).

Faults can be queued; `revoke()` forgets every token and refresh token.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jsonschema import Draft202012Validator

from tests import secrets_guard
from tests.doubles.consent import ConsentScreen
from tests.doubles.http import (
    ConsentAndApiHandler,
    JsonHandler,
    LocalServer,
    basic_token_grant,
)
from tests.doubles.strict import Contract, Harness, HarnessedDouble, Request

LOCATION = 45454  # the Amsterdam restaurant
OTHER_LOCATION = 45455  # the group's London site, in GBP
SECOND_LOCATION = 45456  # its Haarlem site, in EUR: nothing sold there this day
BUSINESSES = "/f/data/businesses"
SALES = f"/f/v2/business-location/{LOCATION}/sales"
PAYMENTS = f"/f/v2/business-location/{LOCATION}/lightspeed-payments"
TOKEN = "lsk-at-initial-0123"
REFRESH = "lsk-rt-initial-0123"

# -- the contract ------------------------------------------------------------------

# README: "Amounts are decimal strings ... tax lines can carry 6 decimals".
DECIMAL = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,6})?$"}
INSTANT = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$",
}
TEXT = {"type": "string"}


def closed(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


TAX_LINE = closed(
    {"taxCode": TEXT, "taxRate": DECIMAL, "taxAmount": DECIMAL}, ["taxCode", "taxRate", "taxAmount"]
)
SALES_LINE = closed(
    {
        "id": TEXT,
        "sku": TEXT,
        "name": TEXT,
        "quantity": DECIMAL,
        "totalNetAmountWithTax": DECIMAL,
        "totalNetAmountWithoutTax": DECIMAL,
        "taxAmount": DECIMAL,
        "discountAmount": DECIMAL,
        "discountName": TEXT,
        "taxLines": {"type": "array", "items": TAX_LINE},
        "accountingGroup": closed({"id": {"type": "integer"}, "name": TEXT}, ["id", "name"]),
    },
    ["id", "name", "quantity", "totalNetAmountWithTax", "taxAmount", "taxLines"],
)
PAYMENT = closed(
    {
        "uuid": TEXT,
        "paymentMethodId": {"type": "integer"},
        "code": TEXT,
        "description": TEXT,
        "type": TEXT,
        "netAmountWithTax": DECIMAL,
        "tipAmount": DECIMAL,
    },
    ["uuid", "type", "netAmountWithTax", "tipAmount"],
)
SALE = closed(
    {
        "accountFiscId": TEXT,
        "receiptId": TEXT,
        "timeOfOpening": INSTANT,
        "timeClosed": INSTANT,
        "cancelled": {"type": "boolean"},
        "accountLink": closed({"initialAccountId": TEXT, "previousAccountId": TEXT}, []),
        "salesLines": {"type": "array", "items": SALES_LINE},
        "payments": {"type": "array", "items": PAYMENT},
    },
    ["accountFiscId", "receiptId", "timeClosed", "cancelled", "salesLines", "payments"],
)
LOCATION_SCHEMA = closed(
    {
        "blID": {"type": "integer"},
        "blName": TEXT,
        "currencyCode": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "timezone": TEXT,
        "country": TEXT,
    },
    ["blID", "blName", "currencyCode", "timezone"],
)
RESPONSES = {
    BUSINESSES: closed(
        {
            "_embedded": closed(
                {
                    "businessList": {
                        "type": "array",
                        "items": closed(
                            {
                                "businessId": {"type": "integer"},
                                "businessName": TEXT,
                                "currencyCode": TEXT,
                                "businessLocations": {"type": "array", "items": LOCATION_SCHEMA},
                            },
                            ["businessId", "businessName", "businessLocations"],
                        ),
                    }
                },
                ["businessList"],
            ),
            "page": closed(
                {n: {"type": "integer"} for n in ("size", "totalElements", "totalPages", "number")},
                [],
            ),
        },
        ["_embedded"],
    ),
    "sales": closed({"sales": {"type": "array", "items": SALE}, "nextPageToken": TEXT}, ["sales"]),
    "payments": closed(
        {
            "transactions": {
                "type": "array",
                "items": closed(
                    {
                        "id": TEXT,
                        "type": {"enum": ["PAYMENT", "REFUND", "PAYOUT", "PAYOUT_FAILED"]},
                        "createdAt": INSTANT,
                        "amount": DECIMAL,
                        "fee": DECIMAL,
                        "currency": TEXT,
                        "accountFiscId": TEXT,
                        "paymentUuid": TEXT,
                    },
                    ["id", "type", "createdAt", "amount", "fee", "currency"],
                ),
            },
            "nextOffset": {"type": ["integer", "null"]},
        },
        ["transactions"],
    ),
}
UNSIGNED = {"type": "string", "pattern": "^[0-9]+$"}
QUERIES = {
    BUSINESSES: closed({"page": UNSIGNED, "size": UNSIGNED}, []),
    "sales": closed(
        {
            "from": INSTANT,
            "to": INSTANT,
            # README: pageSize at most 100 (default 50).
            "pageSize": {"type": "string", "pattern": "^([1-9]|[1-9][0-9]|100)$"},
            "nextPageToken": TEXT,
        },
        ["from", "to"],
    ),
    "payments": closed(
        {
            "from": INSTANT,
            "to": INSTANT,
            "offset": UNSIGNED,
            "limit": {"type": "string", "pattern": "^([1-9]|[1-9][0-9]|100)$"},
        },
        ["from", "to"],
    ),
}
ROUTES = [
    (re.compile(r"^/f/data/businesses$"), BUSINESSES),
    (re.compile(r"^/f/v2/business-location/[0-9]+/sales$"), "sales"),
    (re.compile(r"^/f/v2/business-location/[0-9]+/lightspeed-payments$"), "payments"),
]
MAX_RANGE = timedelta(days=365)  # README: a sales range spans at most 365 days


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class LightspeedKContract(Contract):
    """The K-Series facts as JSON Schemas: known paths, the query each takes
    (nothing else), the answer's required fields and decimal-string amounts."""

    vendor = "lightspeed-k"

    @staticmethod
    def route(path: str) -> str | None:
        return next((name for pattern, name in ROUTES if pattern.match(path)), None)

    @staticmethod
    def _errors(schema: dict[str, Any], value: Any, where: str) -> list[str]:
        return [
            f"{where}/{'/'.join(map(str, e.absolute_path)) or '-'}: {e.message[:200]}"
            for e in Draft202012Validator(schema).iter_errors(value)
        ]

    def request_problems(self, request: Request) -> list[str]:
        name = self.route(request.path)
        if request.method != "GET" or name is None:
            return [f"no operation {request.method} {request.path} in the K-Series facts"]
        query: dict[str, Any] = {}
        problems = []
        for key, values in request.query.items():
            if len(values) != 1:
                problems.append(f"query parameter {key!r} sent {len(values)} times")
            query[key] = values[0]
        problems += self._errors(QUERIES[name], query, "query")
        if (
            not problems
            and "from" in query
            and _when(query["to"]) - _when(query["from"]) > MAX_RANGE
        ):
            problems.append("query: from..to spans more than 365 days")
        if not problems and "from" in query and _when(query["to"]) <= _when(query["from"]):
            problems.append("query: to is not after from")
        return problems

    def describes(self, request: Request, status: int) -> bool:
        return status == 200

    def response_problems(self, request: Request, status: int, payload: bytes) -> list[str]:
        try:
            body = json.loads(payload)
        except ValueError as error:
            return [f"answer is not JSON: {error}"]
        return self._errors(RESPONSES[self.route(request.path) or ""], body, "answer")

    def refusal(self, problems: list[str]) -> tuple[int, bytes, dict[str, str]]:
        body = {"status": 400, "error": "Bad Request", "message": "; ".join(problems)}
        return 400, json.dumps(body).encode(), {"Content-Type": "application/json"}


# -- the day -------------------------------------------------------------------------


def tax(code: str, rate: str, amount: str) -> dict[str, str]:
    return {"taxCode": code, "taxRate": rate, "taxAmount": amount}


FOOD = {"id": 1, "name": "Food"}
DRINKS = {"id": 2, "name": "Drinks"}


def line(
    ident: str,
    sku: str,
    name: str,
    quantity: str,
    gross: str,
    taxes: list[dict[str, str]],
    group: dict[str, Any],
    **extra: str,
) -> dict[str, Any]:
    from decimal import Decimal

    total_tax = sum((Decimal(t["taxAmount"]) for t in taxes), Decimal(0))
    return {
        "id": ident,
        "sku": sku,
        "name": name,
        "quantity": quantity,
        "totalNetAmountWithTax": gross,
        "totalNetAmountWithoutTax": str(Decimal(gross) - total_tax),
        "taxAmount": str(total_tax),
        "taxLines": taxes,
        "accountingGroup": group,
        **extra,
    }


def payment(uuid: str, kind: str, amount: str, tip: str = "0.00") -> dict[str, Any]:
    return {"uuid": uuid, "type": kind, "netAmountWithTax": amount, "tipAmount": tip}


def sale(
    ident: str,
    closed_at: str,
    lines: list[dict[str, Any]],
    payments: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "accountFiscId": ident,
        "receiptId": f"R-{ident}",
        "timeOfOpening": closed_at,
        "timeClosed": closed_at,
        "cancelled": False,
        "salesLines": lines,
        "payments": payments,
        **extra,
    }


def record(
    ident: str, kind: str, at: str, amount: str, fee: str, sale_id: str = "", paid_by: str = ""
) -> dict[str, Any]:
    found = {"id": ident, "type": kind, "createdAt": at, "amount": amount, "fee": fee}
    found["currency"] = "EUR"
    if sale_id:
        found |= {"accountFiscId": sale_id, "paymentUuid": paid_by}
    return found


def realistic_day() -> dict[str, list[dict[str, Any]]]:
    vat9, vat21 = "VAT9", "VAT21"
    return {
        "sales": [
            sale(
                "A0",
                "2026-11-01T22:30:00.000Z",
                [line("A0-1", "BEER", "Beer", "1", "4.00", [tax(vat21, "21", "0.694215")], DRINKS)],
                [payment("p-A0", "LIGHTSPEED_PAYMENTS", "4.00")],
            ),
            sale(
                "A1",
                "2026-11-02T11:00:00.000Z",
                [
                    line("A1-1", "SOUP", "Soup", "2", "13.00", [tax(vat9, "9", "1.073394")], FOOD),
                    line(
                        "A1-2", "WINE", "Wine", "1", "6.50", [tax(vat21, "21", "1.128099")], DRINKS
                    ),
                    line("A1-3", "BREAD", "Bread", "0", "0.00", [], FOOD),
                ],
                [payment("p-A1", "LIGHTSPEED_PAYMENTS", "19.50", "2.00")],
            ),
            sale(
                "A2",
                "2026-11-02T12:30:00.000Z",
                [
                    line(
                        "A2-1",
                        "MENU",
                        "Menu of the day",
                        "1",
                        "30.00",
                        [tax(vat9, "9", "1.486239"), tax(vat21, "21", "2.082645")],
                        FOOD,
                    ),
                    line(
                        "A2-2",
                        "COFFEE",
                        "Coffee",
                        "1",
                        "2.50",
                        [tax(vat9, "9", "0.206422")],
                        DRINKS,
                        discountAmount="0.50",
                        discountName="Happy hour",
                    ),
                ],
                [
                    payment("p-A2-cash", "CASH", "12.50"),
                    payment("p-A2-card", "LIGHTSPEED_PAYMENTS", "20.00", "1.50"),
                ],
            ),
            sale(
                "A3",
                "2026-11-02T15:00:00.000Z",
                [
                    line(
                        "A3-1",
                        "WINE",
                        "Wine",
                        "-1",
                        "-6.50",
                        [tax(vat21, "21", "-1.128099")],
                        DRINKS,
                    )
                ],
                [payment("p-A3", "LIGHTSPEED_PAYMENTS", "-6.50")],
                accountLink={"initialAccountId": "A1", "previousAccountId": "A1"},
            ),
            {
                **sale(
                    "A4",
                    "2026-11-02T16:00:00.000Z",
                    [
                        line(
                            "A4-1",
                            "BEER",
                            "Beer",
                            "1",
                            "4.00",
                            [tax(vat21, "21", "0.694215")],
                            DRINKS,
                        )
                    ],
                    [],
                ),
                "cancelled": True,
            },
        ],
        "payments": [
            record("lp-0", "PAYMENT", "2026-11-01T22:30:05.000Z", "4.00", "0.06", "A0", "p-A0"),
            record("lp-4", "PAYOUT", "2026-11-02T06:00:00.000Z", "40.00", "0.00"),
            record("lp-5", "PAYOUT", "2026-11-02T07:00:00.000Z", "15.00", "0.00"),
            record("lp-1", "PAYMENT", "2026-11-02T11:00:05.000Z", "21.50", "0.39", "A1", "p-A1"),
            record(
                "lp-2", "PAYMENT", "2026-11-02T12:30:05.000Z", "21.50", "0.39", "A2", "p-A2-card"
            ),
            record("lp-3", "REFUND", "2026-11-02T15:00:05.000Z", "-6.50", "-0.05", "A3", "p-A3"),
            record("lp-6", "PAYOUT_FAILED", "2026-11-02T20:00:00.000Z", "15.00", "0.00"),
            record("lp-7", "PAYOUT", "2026-11-03T06:00:00.000Z", "99.00", "0.00"),
        ],
    }


def businesses() -> dict[str, Any]:
    return {
        "_embedded": {
            "businessList": [
                {
                    "businessId": 777,
                    "businessName": "De Kas Group",
                    "currencyCode": "EUR",
                    "businessLocations": [
                        {
                            "blID": LOCATION,
                            "blName": "De Kas Amsterdam",
                            "currencyCode": "EUR",
                            "timezone": "Europe/Amsterdam",
                            "country": "NL",
                        },
                        {
                            "blID": OTHER_LOCATION,
                            "blName": "De Kas London",
                            "currencyCode": "GBP",
                            "timezone": "Europe/London",
                            "country": "GB",
                        },
                        {
                            "blID": SECOND_LOCATION,
                            "blName": "De Kas Haarlem",
                            "currencyCode": "EUR",
                            "timezone": "Europe/Amsterdam",
                            "country": "NL",
                        },
                    ],
                }
            ]
        },
        "page": {"size": 1000, "totalElements": 1, "totalPages": 1, "number": 0},
    }


# -- the server --------------------------------------------------------------------------


class LightspeedKDouble(HarnessedDouble, LocalServer):
    """`with LightspeedKDouble() as lsk:` then point `LIGHTSPEED_K_API_URL`
    (or the trial URL) at `lsk.url`. Holds `TOKEN` as a valid access token."""

    def __init__(self, day: dict[str, list[dict[str, Any]]] | None = None) -> None:
        day = day or realistic_day()
        self.sales = day["sales"]
        self.records = day["payments"]
        self.tokens = {TOKEN}
        self.refresh_tokens = {REFRESH}
        self.faults: list[tuple[int, dict[str, str]]] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.client_id, self.client_secret = "lsk-app", "lsk-secret-0123"
        self.lock = threading.Lock()
        self.screen = ConsentScreen("Lightspeed")  # GET /oauth/authorize
        self.token_forms: list[dict[str, str]] = []
        self.issued = 0
        self.payments_page = 2  # records per page when the client asks for more
        secrets_guard.register(TOKEN, REFRESH, self.client_secret)
        self.harness = Harness(LightspeedKContract())
        super().__init__(self._handler(), poll_interval=0.05)

    def revoke(self) -> None:
        """The merchant revoked the grant: every call is a 401, no refresh works."""
        self.tokens.clear()
        self.refresh_tokens.clear()

    # -- OAuth (not part of the financial API's paths: outside the harness) --

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        """Codes (from the consent screen, with their PKCE verifier) and
        refresh tokens are single-use; access tokens last 60 minutes and
        refresh tokens 14 days (README), both stated in the answer."""
        return basic_token_grant(
            self,
            form,
            authorization,
            code_is_good=lambda form: self.screen.redeem(
                code=form.get("code", ""),
                verifier=form.get("code_verifier", ""),
                redirect_uri=form.get("redirect_uri", ""),
            ),
            access_tokens=self.tokens,
            prefix="lsk",
            answer=lambda access, refresh: {
                "access_token": access,
                "refresh_token": refresh,
                "token_type": "bearer",
                "expires_in": 3600,
                "refresh_expires_in": 1209600,
                "scope": "financial-api",
            },
        )

    # -- the financial API --

    def _sales(self, q: dict[str, str]) -> dict[str, Any]:
        start, end = _when(q["from"]), _when(q["to"])
        found = sorted(
            (s for s in self.sales if start <= _when(s["timeClosed"]) < end),
            key=lambda s: s["timeClosed"],
        )
        at = int(q.get("nextPageToken", "pt-0").removeprefix("pt-"))
        size = int(q.get("pageSize", "50"))
        body: dict[str, Any] = {"sales": copy.deepcopy(found[at : at + size])}
        if at + size < len(found):
            body["nextPageToken"] = f"pt-{at + size}"
        return body

    def _payments(self, q: dict[str, str]) -> dict[str, Any]:
        start, end = _when(q["from"]), _when(q["to"])
        found = [r for r in self.records if start <= _when(r["createdAt"]) < end]
        at = int(q.get("offset", "0"))
        size = min(int(q.get("limit", "100")), self.payments_page)
        following = at + size if at + size < len(found) else None
        return {"transactions": copy.deepcopy(found[at : at + size]), "nextOffset": following}

    def _handler(self) -> type[JsonHandler]:
        double = self

        class Handler(ConsentAndApiHandler):
            api_double = double

            def do_POST(self) -> None:
                if urlsplit(self.path).path != "/oauth/token":
                    self.reply(404, {"status": 404, "error": "Not Found"})
                    return
                form = {k: v[0] for k, v in parse_qs(self.read_body().decode()).items()}
                status, body = double.token(form, self.headers.get("Authorization") or "")
                self.reply(status, body)

            def _answer(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
                if double.faults:
                    status, headers = double.faults.pop(0)
                    return status, self.encode({"status": status, "error": "busy"}), headers
                bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                if bearer not in double.tokens:
                    return 401, self.encode({"error": "invalid_token"}), {}
                q = {k: v[0] for k, v in request.query.items()}
                if request.path == BUSINESSES:
                    return 200, self.encode(businesses()), {}
                if request.path == SALES:
                    return 200, self.encode(double._sales(q)), {}
                if request.path == PAYMENTS:
                    return 200, self.encode(double._payments(q)), {}
                if re.match(r"^/f/v2/business-location/[0-9]+/", request.path):
                    # Another location of the grant: nothing sold there this day.
                    kind = LightspeedKContract.route(request.path)
                    empty = (
                        {"sales": []}
                        if kind == "sales"
                        else {"transactions": [], "nextOffset": None}
                    )
                    return 200, self.encode(empty), {}
                return 404, self.encode({"status": 404, "error": "Not Found"}), {}

        return Handler
