"""A local stand-in for Clover's REST API v3 and its v2 OAuth endpoints,
serving one day of a New York diner on Clover (USD).

The day (2026-11-02 in New York, UTC-5; all `createdTime`s epoch ms). Tax
rates: STATE 6.25 % (`rate` 625000) and CITY 2 % (200000).

* O1 Burger 12.00 + "Extra cheese" 1.00, Fries 4.00 with a 10 % line
  discount, a 1.00 order discount; both taxes; credit card 16.89 + 3.00 tip;
* O2 Salad 10.00 (both taxes), Coffee 3.00 (STATE only); split: cash 5.00,
  debit card 9.01 + 1.00 tip;
* O3 a 25.00 gift card (not revenue, untaxed) and Cake 5.00 (both taxes),
  a 10 % service charge (0.50); cash 30.91;
* O4 Pasta 15.00 (both taxes); gift card 10.00 and the merchant's own
  "House account" tender 6.24;
* O5 Wine 20.00 (both taxes), credit card 21.65, refunded in full (R1,
  with its tax by rate);
* O6 an order of 1 November (card 8.00 + 1.00 tip, untaxed), refunded
  today with its tip (R2): read by id for the refunded payment's tender;
* O7 a test-mode order (never processed by Clover: skipped);
* C1 a 3.00 manual refund in cash ("Spilled coffee").

Every request goes through the strict harness (tests/doubles/strict.py)
with `CloverContract`: paths, query parameters (`filter` fields and
operators, `expand` paths, `limit` 1..1000, `offset`) and the bearer token
are checked before the double reads the request; every answer is checked
field by field against Clover's SDK data classes (tests/doubles/clover_sdk.py).
A request Clover would refuse is answered 400 and recorded as a violation.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests import secrets_guard
from tests.doubles import clover_sdk
from tests.doubles.http import JsonHandler, LocalServer
from tests.doubles.strict import Contract, Harness, HarnessedDouble, Request

MERCHANT = "DINER7NYC0001"
CLIENT_ID, CLIENT_SECRET = "CLOVERAPP0001", "clover-app-secret-0123"
ROOT = f"/v3/merchants/{MERCHANT}"
STATE = {"id": "STATE", "name": "State tax", "rate": 625000, "isDefault": True}
CITY = {"id": "CITY", "name": "City tax", "rate": 200000, "isDefault": True}
OPERATORS = ("<=", ">=", "!=", "=", "<", ">")
# What each list takes beyond `filter`/`expand`: paging (docs "Paginating elements").
PAGED = {"limit", "offset"}


def ms(text: str) -> int:
    """'2026-11-02T13:30' (UTC) as epoch milliseconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def tender(kind: str) -> dict[str, Any]:
    keys = {
        "cash": ("CASHTENDER001", "com.clover.tender.cash", "Cash"),
        "credit": ("CREDITTENDER1", "com.clover.tender.credit", "Credit Card"),
        "debit": ("DEBITTENDER01", "com.clover.tender.debit_card", "Debit Card"),
        "gift": ("GIFTTENDER001", "com.clover.tender.gift_card", "Gift Card"),
        "house": ("HOUSETENDER01", None, "House account"),
    }
    ident, key, label = keys[kind]
    found = {
        "id": ident,
        "label": label,
        "enabled": True,
        "visible": True,
        "opensCashDrawer": False,
    }
    if key:
        found["labelKey"] = key
    return found


def line(
    ident: str,
    name: str,
    price: int,
    *,
    rates: tuple[dict, ...] = (STATE, CITY),
    modifications: tuple[tuple[str, int], ...] = (),
    discounts: tuple[dict, ...] = (),
    revenue: bool = True,
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": ident,
        "item": {"id": f"ITEM{ident}"},
        "name": name,
        "price": price,
        "printed": False,
        "exchanged": False,
        "refunded": False,
        "isRevenue": revenue,
        "taxRates": {"elements": [dict(r) for r in rates]},
    }
    if modifications:
        found["modifications"] = {
            "elements": [
                {"id": f"{ident}M{i}", "name": n, "amount": a}
                for i, (n, a) in enumerate(modifications)
            ]
        }
    if discounts:
        found["discounts"] = {"elements": list(discounts)}
    return found


def payment(
    ident: str, kind: str, amount: int, *, tip: int = 0, result: str = "SUCCESS", at: int = 0
) -> dict[str, Any]:
    return {
        "id": ident,
        "tender": tender(kind),
        "amount": amount,
        "tipAmount": tip,
        "taxAmount": 0,
        "result": result,
        "createdTime": at,
        "offline": False,
    }


def order(
    ident: str,
    at: str,
    total: int,
    lines: list[dict],
    payments: list[dict],
    **more: Any,
) -> dict[str, Any]:
    created = ms(at)
    for each in payments:
        each["createdTime"] = created
        each["order"] = {"id": ident}
    return {
        "id": ident,
        "currency": "USD",
        "total": total,
        "title": ident,
        "state": "locked",
        "isVat": False,
        "taxRemoved": False,
        "testMode": False,
        "manualTransaction": False,
        "groupLineItems": False,
        "createdTime": created,
        "clientCreatedTime": created,
        "modifiedTime": created,
        "lineItems": {"elements": lines},
        "payments": {"elements": payments},
        **more,
    }


def realistic_day() -> dict[str, list[dict[str, Any]]]:
    orders = [
        order(
            "O1",
            "2026-11-02T13:30:00",
            1689,
            [
                line("L11", "Burger", 1200, modifications=(("Extra cheese", 100),)),
                line(
                    "L12",
                    "Fries",
                    400,
                    discounts=({"id": "D12", "name": "10% off", "percentage": 10},),
                ),
            ],
            [payment("P1", "credit", 1689, tip=300)],
            discounts={"elements": [{"id": "D1", "name": "Happy hour", "amount": -100}]},
        ),
        order(
            "O2",
            "2026-11-02T14:00:00",
            1401,
            [line("L21", "Salad", 1000), line("L22", "Coffee", 300, rates=(STATE,))],
            [payment("P21", "cash", 500), payment("P22", "debit", 901, tip=100)],
            payType="SPLIT_CUSTOM",
        ),
        order(
            "O3",
            "2026-11-02T15:00:00",
            3091,
            [line("L31", "Gift card", 2500, rates=(), revenue=False), line("L32", "Cake", 500)],
            [payment("P3", "cash", 3091)],
            serviceCharge={"id": "SC1", "name": "Service 10%", "percentageDecimal": 100000},
        ),
        order(
            "O4",
            "2026-11-02T16:00:00",
            1624,
            [line("L41", "Pasta", 1500)],
            [payment("P41", "gift", 1000), payment("P42", "house", 624)],
        ),
        order(
            "O5",
            "2026-11-02T17:00:00",
            2165,
            [line("L51", "Wine", 2000)],
            [payment("P5", "credit", 2165)],
        ),
        order(
            "O6",
            "2026-11-01T20:00:00",
            800,
            [line("L61", "Brunch", 800, rates=())],
            [payment("P6", "credit", 800, tip=100)],
        ),
        order(
            "O7",
            "2026-11-02T18:00:00",
            100,
            [line("L71", "Training", 100, rates=())],
            [payment("P7", "cash", 100)],
            testMode=True,
        ),
    ]
    refunds = [
        {
            "id": "R1",
            "orderRef": {"id": "O5"},
            "payment": {"id": "P5"},
            "amount": 2165,
            "taxAmount": 165,
            "tipAmount": 0,
            "createdTime": ms("2026-11-02T19:00:00"),
            "voided": False,
            "status": "SUCCESS",
            "taxableAmountRates": {
                "elements": [
                    {
                        "id": "STATE",
                        "name": "State tax",
                        "taxableAmount": 2000,
                        "rate": 625000,
                        "taxAmount": 125,
                    },
                    {
                        "id": "CITY",
                        "name": "City tax",
                        "taxableAmount": 2000,
                        "rate": 200000,
                        "taxAmount": 40,
                    },
                ]
            },
        },
        {
            "id": "R2",
            "orderRef": {"id": "O6"},
            "payment": {"id": "P6"},
            "amount": 900,
            "taxAmount": 0,
            "tipAmount": 100,
            "createdTime": ms("2026-11-02T20:00:00"),
            "voided": False,
            "status": "SUCCESS",
        },
    ]
    credits = [
        {
            "id": "C1",
            "orderRef": {"id": "O2"},
            "tender": tender("cash"),
            "amount": 300,
            "taxAmount": 0,
            "createdTime": ms("2026-11-02T21:00:00"),
            "voided": False,
            "result": "SUCCESS",
            "reason": "Spilled coffee",
        }
    ]
    return {"orders": orders, "refunds": refunds, "credits": credits}


# -- the contract -------------------------------------------------------------------

# path pattern -> (class of what it lists or returns, is a list, extra query names)
OPERATIONS: list[tuple[re.Pattern[str], str, bool]] = [
    (re.compile(r"^/v3/merchants/[0-9A-Z]+/orders$"), "Order", True),
    (re.compile(r"^/v3/merchants/[0-9A-Z]+/orders/[0-9A-Za-z]+$"), "Order", False),
    (re.compile(r"^/v3/merchants/[0-9A-Z]+/orders/[0-9A-Za-z]+/line_items$"), "LineItem", True),
    (re.compile(r"^/v3/merchants/[0-9A-Z]+/refunds$"), "Refund", True),
    (re.compile(r"^/v3/merchants/[0-9A-Z]+/credits$"), "Credit", True),
]
FILTER = re.compile(r"^([A-Za-z]+)(<=|>=|!=|=|<|>)(.+)$")


class CloverContract(Contract):
    """Requests and answers held against Clover's SDK data classes."""

    vendor = "clover"

    def operation(self, request: Request) -> tuple[str, bool] | None:
        for pattern, class_name, listing in OPERATIONS:
            if request.method == "GET" and pattern.match(request.path):
                return class_name, listing
        return None

    def request_problems(self, request: Request) -> list[str]:
        found = self.operation(request)
        if found is None:
            return [f"no operation {request.method} {request.path} in Clover's REST API v3"]
        class_name, listing = found
        problems: list[str] = []
        if not (request.headers.get("Authorization") or "").startswith("Bearer "):
            problems.append("no bearer access token")
        known = {"expand"} | ({"filter"} | PAGED if listing else set())
        for name in request.query:
            if name not in known:
                problems.append(
                    f"query parameter {name!r} is not one Clover takes here ({sorted(known)})"
                )
        fields = clover_sdk.model(class_name) or {}
        for text in request.query.get("filter", []):
            match = FILTER.match(text)
            if match is None:
                problems.append(f"filter {text!r} is not <field><operator><value>")
                continue
            name, _, value = match.groups()
            spec = fields.get(name)
            if spec is None or spec.kind != "basic":
                problems.append(f"filter field {name!r} is not a field of Clover's {class_name}")
            elif (
                spec.target in ("java.lang.Long.class", "java.lang.Integer.class")
                and not value.isdigit()
            ):
                problems.append(f"filter {text!r}: {name} takes an integer")
        for text in request.query.get("expand", []):
            for path in filter(None, text.split(",")):
                if not clover_sdk.expandable(class_name, path):
                    problems.append(
                        f"expand {path!r} names no related objects of Clover's {class_name}"
                    )
        for name, low, high in (("limit", 1, 1000), ("offset", 0, 10**9)):
            for value in request.query.get(name, []):
                if not value.isdigit() or not low <= int(value) <= high:
                    problems.append(f"{name}={value!r} is outside {low}..{high}")
        return problems

    def response_problems(self, request: Request, status: int, payload: bytes) -> list[str]:
        try:
            body = json.loads(payload or b"{}")
        except ValueError:
            return ["the answer is not JSON"]
        if status >= 400:
            return [] if isinstance(body, dict) else ["an error body must be an object"]
        found = self.operation(request)
        assert found is not None
        class_name, listing = found
        if not listing:
            return clover_sdk.problems(class_name, body, "body")
        if not isinstance(body, dict) or set(body) - {"elements", "href"}:
            return ["a list answer must be {elements, href}"]
        if not isinstance(body.get("elements", []), list):
            return ["a list answer's elements must be a list"]
        return [
            p
            for index, each in enumerate(body.get("elements") or [])
            for p in clover_sdk.problems(class_name, each, f"elements[{index}]")
        ]

    def refusal(self, problems: list[str]) -> tuple[int, bytes, dict[str, str]]:
        return 400, json.dumps({"message": "; ".join(problems)}).encode(), {}


def _expanded(value: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """`value` with only the collections `paths` expand (Clover leaves the
    others out; a nested expansion `payments.tender` keeps `payments`)."""
    wanted: dict[str, list[str]] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        wanted.setdefault(head, [])
        if rest:
            wanted[head].append(rest)
    out = {}
    for key, each in value.items():
        if isinstance(each, dict) and "elements" in each:
            if key not in wanted:
                continue
            # Clover cuts an expanded collection at 100 elements.
            each = {"elements": [_expanded(x, wanted[key]) for x in each["elements"][:100]]}
        elif isinstance(each, dict) and key in ("tender", "serviceCharge") and key not in wanted:
            each = {"id": each.get("id")} if key == "tender" else each
        out[key] = each
    return out


class CloverDouble(HarnessedDouble, LocalServer):
    """`with CloverDouble() as clover:` then point a region's hosts at
    `clover.url` (settings.CLOVER_API_URLS / CLOVER_WEB_URLS)."""

    def __init__(self, day: dict[str, list[dict[str, Any]]] | None = None) -> None:
        day = day or realistic_day()
        self.orders = day["orders"]
        self.refunds = day["refunds"]
        self.credits = day["credits"]
        self.lock = threading.Lock()
        self.access: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.spent: set[str] = set()
        self.codes: dict[str, str] = {}
        self.token_calls: list[str] = []  # "token" / "refresh", in order
        self.issued = 0
        self.access_lifetime = 1800  # seconds; tests change it: never assumed by the client
        self.faults: list[tuple[int, dict[str, str]]] = []
        self.malformed: list[bytes] = []  # 200 answers to send as they are, first
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.harness = Harness(CloverContract())
        secrets_guard.register(CLIENT_SECRET)
        super().__init__(self._handler(), poll_interval=0.05)

    def grant(self, access: str, refresh: str) -> None:
        """Tokens a connection holds already."""
        with self.lock:
            self.access.add(access)
            self.refresh_tokens.add(refresh)
        secrets_guard.register(access, refresh)

    def revoke(self) -> None:
        """The merchant uninstalled the app: every token is refused."""
        with self.lock:
            self.access.clear()
            self.refresh_tokens.clear()

    # -- OAuth --------------------------------------------------------------

    def authorize(self, query: dict[str, str]) -> str:
        with self.lock:
            code = f"clover-code-{len(self.codes) + 1}"
            self.codes[code] = query.get("client_id", "")
        back = {"merchant_id": MERCHANT, "client_id": query.get("client_id", ""), "code": code}
        back["state"] = query.get("state", "")
        return f"{query.get('redirect_uri', '')}?{urlencode(back)}"

    def _issue(self) -> dict[str, Any]:
        self.issued += 1
        access, refresh = f"clover-at-{self.issued}-0123", f"clover-rt-{self.issued}-0123"
        self.access.add(access)
        self.refresh_tokens.add(refresh)
        secrets_guard.register(access, refresh)
        now = int(datetime.now(UTC).timestamp())
        return {
            "access_token": access,
            "access_token_expiration": now + self.access_lifetime,
            "refresh_token": refresh,
            "refresh_token_expiration": now + 31_536_000,
        }

    def token(self, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if path == "/oauth/v2/token":
                self.token_calls.append("token")
                if not isinstance(body, dict) or set(body) != {
                    "client_id",
                    "client_secret",
                    "code",
                }:
                    return 400, {"message": "client_id, client_secret and code are required"}
                if (
                    body["client_secret"] != CLIENT_SECRET
                    or self.codes.pop(body["code"], None) != body["client_id"]
                ):
                    return 401, {"message": "Unauthorized"}
                return 200, self._issue()
            self.token_calls.append("refresh")
            if not isinstance(body, dict) or set(body) != {"client_id", "refresh_token"}:
                return 400, {"message": "client_id and refresh_token are required"}
            given = body["refresh_token"]
            if body["client_id"] != CLIENT_ID or given not in self.refresh_tokens:
                return 401, {"message": "Unauthorized"}
            self.refresh_tokens.discard(given)  # single use
            self.spent.add(given)
            return 200, self._issue()

    # -- the API ------------------------------------------------------------

    @staticmethod
    def _filtered(records: list[dict], filters: list[str]) -> list[dict]:
        found = records
        for text in filters:
            match = FILTER.match(text)
            assert match is not None
            name, operator, value = match.groups()
            compare = {
                ">=": lambda a, b: a >= b,
                "<": lambda a, b: a < b,
                "<=": lambda a, b: a <= b,
                ">": lambda a, b: a > b,
                "=": lambda a, b: a == b,
                "!=": lambda a, b: a != b,
            }[operator]
            found = [r for r in found if r.get(name) is not None and compare(r[name], int(value))]
        return found

    def answer(self, request: Request) -> tuple[int, Any]:
        if self.faults:
            status, headers = self.faults.pop(0)
            return status, ({"message": "Too many requests"}, headers)
        bearer = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        if bearer not in self.access:
            return 401, ({"message": "401 Unauthorized"}, {})
        query = request.query
        expand = [p for text in query.get("expand", []) for p in text.split(",") if p]
        path = request.path
        if path == f"{ROOT}/orders":
            chosen = self._filtered(self.orders, query.get("filter", []))
        elif path == f"{ROOT}/refunds":
            chosen = self._filtered(self.refunds, query.get("filter", []))
        elif path == f"{ROOT}/credits":
            chosen = self._filtered(self.credits, query.get("filter", []))
        elif path.startswith(f"{ROOT}/orders/"):
            parts = path.removeprefix(f"{ROOT}/orders/").split("/")
            found = next((o for o in self.orders if o["id"] == parts[0]), None)
            if found is None:
                return 404, ({"message": "Not Found"}, {})
            if len(parts) == 1:
                return 200, (_expanded(copy.deepcopy(found), expand), {})
            chosen = found["lineItems"]["elements"]
        else:
            return 404, ({"message": "Not Found"}, {})
        chosen = sorted(chosen, key=lambda r: (r.get("createdTime", 0), r["id"]))
        offset = int(query.get("offset", ["0"])[0])
        limit = int(query.get("limit", ["100"])[0])
        page = [_expanded(copy.deepcopy(r), expand) for r in chosen[offset : offset + limit]]
        return 200, ({"elements": page, "href": f"https://api.clover.com{path}"}, {})

    def _handler(self) -> type[JsonHandler]:
        double = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                if parts.path not in ("/oauth/v2/token", "/oauth/v2/refresh"):
                    self.reply(404, {"message": "Not Found"})
                    return
                try:
                    body = json.loads(self.read_body() or b"null")
                except ValueError:
                    body = None
                if (self.headers.get("Content-Type") or "").split(";")[0] != "application/json":
                    self.reply(415, {"message": "send JSON"})
                    return
                status, answer = double.token(parts.path, body)
                self.reply(status, answer)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query, keep_blank_values=True)
                if parts.path == "/oauth/v2/authorize":
                    location = double.authorize({k: v[0] for k, v in query.items()})
                    self.reply_raw(302, b"", {"Location": location})
                    return
                request = Request("GET", parts.path, query, self.headers, b"")
                double.requests.append((parts.path, query))

                def handle() -> tuple[int, bytes, dict[str, str]]:
                    if double.malformed:
                        return 200, double.malformed.pop(0), {}
                    status, (body, headers) = double.answer(request)
                    return status, self.encode(body), headers

                self.reply_raw(*double.harness.exchange(request, handle))

        return Handler
