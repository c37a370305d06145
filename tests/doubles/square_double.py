"""A local stand-in for the Square Connect API v2, serving one realistic
day of a Vancouver shop (CAD, GST 5% + PST 7%) as recorded-style pages.

The day: ORD-1 split card+cash with a tip, a discount and two-tax lines;
ORD-2 a gift card sold; ORD-3 a gift card redeemed plus card, with a
delivery charge; RET-1 returns one mug of ORD-1 to the card; processing
fees on the card payments and the fee given back on the refund; a paid
payout, whose entries add a deposit fee and an older one given back, and a
failed payout. Small pages force several cursors per list.

Faults can be queued (status, headers) and are served before normal
answers. Binds to loopback only.

Every request goes through the strict harness (tests/doubles/strict.py)
against Square's published OpenAPI description (square/api.json) before the
double reads it, and every answer after; an unknown query parameter or body
field (`start_time` for `begin_time`, `states_filter` for `state_filter`) is
refused with Square's 400 and fails the test.
"""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests import secrets_guard
from tests.doubles.consent import ConsentScreen, serve_page
from tests.doubles.http import JsonHandler, LocalServer
from tests.doubles.strict import Harness, OpenApiContract, Request

LOC = "LOC-1"


def m(amount: int, currency: str = "CAD") -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


GST = {
    "uid": "t-gst",
    "catalog_object_id": "TAX-GST",
    "name": "GST",
    "percentage": "5",
    "type": "ADDITIVE",
    "scope": "LINE_ITEM",
}
PST = {
    "uid": "t-pst",
    "catalog_object_id": "TAX-PST",
    "name": "PST",
    "percentage": "7",
    "type": "ADDITIVE",
    "scope": "LINE_ITEM",
}


def _applied(uid: str, amount: int) -> dict[str, Any]:
    return {"uid": f"a-{uid}-{amount}", "tax_uid": uid, "applied_money": m(amount)}


def day_orders() -> list[dict[str, Any]]:
    ord1 = {
        "id": "ORD-1",
        "location_id": LOC,
        "state": "COMPLETED",
        "version": 4,
        "created_at": "2026-11-02T17:05:00Z",
        "updated_at": "2026-11-02T17:06:00Z",
        "closed_at": "2026-11-02T17:06:00Z",
        "taxes": [GST, PST],
        "discounts": [
            {
                "uid": "d-loyal",
                "name": "Loyalty 10%",
                "type": "FIXED_PERCENTAGE",
                "percentage": "10",
                "applied_money": m(400),
                "scope": "LINE_ITEM",
            }
        ],
        "line_items": [
            {
                "uid": "L1",
                "name": "Mug",
                "variation_name": "Large",
                "quantity": "2",
                "catalog_object_id": "VAR-MUG-L",
                "item_type": "ITEM",
                "base_price_money": m(2000),
                "variation_total_price_money": m(4000),
                "gross_sales_money": m(4000),
                "total_discount_money": m(400),
                "applied_discounts": [
                    {"uid": "ad-1", "discount_uid": "d-loyal", "applied_money": m(400)}
                ],
                "applied_taxes": [_applied("t-gst", 180), _applied("t-pst", 252)],
                "total_tax_money": m(432),
                "total_money": m(4032),
            },
            {
                "uid": "L2",
                "name": "Coffee beans",
                "variation_name": "Regular",
                "quantity": "1",
                "catalog_object_id": "VAR-BEANS",
                "item_type": "ITEM",
                "base_price_money": m(1800),
                "gross_sales_money": m(1800),
                "applied_taxes": [_applied("t-gst", 90)],
                "total_tax_money": m(90),
                "total_discount_money": m(0),
                "total_money": m(1890),
            },
        ],
        "tenders": [
            {
                "id": "PAY-1A",
                "payment_id": "PAY-1A",
                "location_id": LOC,
                "type": "CARD",
                "amount_money": m(4000),
                "tip_money": m(500),
                "created_at": "2026-11-02T17:06:00Z",
            },
            {
                "id": "PAY-1B",
                "payment_id": "PAY-1B",
                "location_id": LOC,
                "type": "CASH",
                "amount_money": m(2422),
                "created_at": "2026-11-02T17:06:00Z",
            },
        ],
        "total_money": m(6422),
        "total_tax_money": m(522),
        "total_discount_money": m(400),
        "total_tip_money": m(500),
        "total_service_charge_money": m(0),
    }
    ord2 = {
        "id": "ORD-2",
        "location_id": LOC,
        "state": "COMPLETED",
        "created_at": "2026-11-02T18:10:00Z",
        "updated_at": "2026-11-02T18:10:30Z",
        "line_items": [
            {
                "uid": "L1",
                "name": "Gift card",
                "quantity": "1",
                "item_type": "GIFT_CARD",
                "base_price_money": m(5000),
                "total_tax_money": m(0),
                "total_money": m(5000),
            },
        ],
        "tenders": [
            {"id": "PAY-2", "payment_id": "PAY-2", "type": "CARD", "amount_money": m(5000)}
        ],
        "total_money": m(5000),
        "total_tax_money": m(0),
    }
    ord3 = {
        "id": "ORD-3",
        "location_id": LOC,
        "state": "COMPLETED",
        "created_at": "2026-11-02T19:20:00Z",
        "updated_at": "2026-11-02T19:21:00Z",
        "taxes": [GST],
        "line_items": [
            {
                "uid": "L1",
                "name": "Sandwich",
                "variation_name": "Regular",
                "quantity": "1",
                "catalog_object_id": "VAR-SAND",
                "item_type": "ITEM",
                "base_price_money": m(1200),
                "applied_taxes": [_applied("t-gst", 60)],
                "total_tax_money": m(60),
                "total_money": m(1260),
            },
        ],
        "service_charges": [
            {
                "uid": "sc-1",
                "name": "Delivery",
                "amount_money": m(500),
                "applied_money": m(500),
                "calculation_phase": "SUBTOTAL_PHASE",
                "taxable": True,
                "type": "CUSTOM",
                "applied_taxes": [_applied("t-gst", 25)],
                "total_tax_money": m(25),
                "total_money": m(525),
            },
        ],
        "tenders": [
            {
                "id": "PAY-3A",
                "payment_id": "PAY-3A",
                "type": "SQUARE_GIFT_CARD",
                "amount_money": m(1000),
            },
            {"id": "PAY-3B", "payment_id": "PAY-3B", "type": "CARD", "amount_money": m(785)},
        ],
        "total_money": m(1785),
        "total_tax_money": m(85),
    }
    ret1 = {
        "id": "RET-1",
        "location_id": LOC,
        "state": "COMPLETED",
        "created_at": "2026-11-02T21:30:00Z",
        "updated_at": "2026-11-02T21:30:00Z",
        "returns": [
            {
                "uid": "r-1",
                "source_order_id": "ORD-1",
                "return_taxes": [
                    {
                        "uid": "rt-gst",
                        "source_tax_uid": "t-gst",
                        "catalog_object_id": "TAX-GST",
                        "name": "GST",
                        "percentage": "5",
                    },
                    {
                        "uid": "rt-pst",
                        "source_tax_uid": "t-pst",
                        "catalog_object_id": "TAX-PST",
                        "name": "PST",
                        "percentage": "7",
                    },
                ],
                "return_discounts": [
                    {"uid": "rd-1", "source_discount_uid": "d-loyal", "name": "Loyalty 10%"}
                ],
                "return_line_items": [
                    {
                        "uid": "RL1",
                        "source_line_item_uid": "L1",
                        "name": "Mug",
                        "variation_name": "Large",
                        "quantity": "1",
                        "catalog_object_id": "VAR-MUG-L",
                        "item_type": "ITEM",
                        "base_price_money": m(2000),
                        "gross_return_money": m(2000),
                        "applied_discounts": [
                            {"uid": "rad", "discount_uid": "rd-1", "applied_money": m(200)}
                        ],
                        "applied_taxes": [_applied("rt-gst", 90), _applied("rt-pst", 126)],
                        "total_discount_money": m(200),
                        "total_tax_money": m(216),
                        "total_money": m(2016),
                    },
                ],
            }
        ],
        "refunds": [
            {
                "id": "RF-1",
                "location_id": LOC,
                "tender_id": "PAY-1A",
                "reason": "Chipped",
                "amount_money": m(2016),
                "status": "APPROVED",
            }
        ],
        "return_amounts": {"total_money": m(2016), "tax_money": m(216), "discount_money": m(200)},
        "total_money": m(0),
    }
    return [ord1, ord2, ord3, ret1]


def _payment(
    pid: str,
    total: int,
    *,
    tip: int = 0,
    fee: int = 0,
    source: str = "CARD",
    brand: str = "VISA",
    at: str = "2026-11-02T17:06:00Z",
) -> dict[str, Any]:
    payment: dict[str, Any] = {
        "id": pid,
        "created_at": at,
        "updated_at": at,
        "status": "COMPLETED",
        "amount_money": m(total - tip),
        "tip_money": m(tip),
        "total_money": m(total),
        "source_type": source,
        "location_id": LOC,
    }
    if source == "CARD":
        payment["card_details"] = {
            "status": "CAPTURED",
            "card": {"card_brand": brand, "last_4": "1111"},
        }
    if fee:
        payment["processing_fee"] = [
            {"effective_at": at, "type": "INITIAL", "amount_money": m(fee)}
        ]
    return payment


def day_payments() -> list[dict[str, Any]]:
    return [
        _payment("PAY-1A", 4000, tip=500, fee=116),
        _payment("PAY-1B", 2422, source="CASH"),
        _payment("PAY-2", 5000, fee=145, at="2026-11-02T18:10:00Z"),
        _payment("PAY-3A", 1000, brand="SQUARE_GIFT_CARD", at="2026-11-02T19:21:00Z"),
        _payment("PAY-3B", 785, fee=23, at="2026-11-02T19:21:00Z"),
    ]


def day_refunds() -> list[dict[str, Any]]:
    return [
        {
            "id": "RF-1",
            "status": "COMPLETED",
            "location_id": LOC,
            "amount_money": m(2016),
            "payment_id": "PAY-1A",
            "order_id": "RET-1",
            "reason": "Chipped",
            "created_at": "2026-11-02T21:30:00Z",
            "updated_at": "2026-11-02T21:31:00Z",
            "destination_type": "CARD",
            "processing_fee": [
                {"effective_at": "2026-11-02T21:31:00Z", "type": "INITIAL", "amount_money": m(-58)}
            ],
        }
    ]


def day_payouts() -> list[dict[str, Any]]:
    return [
        {
            "id": "PO-1",
            "status": "PAID",
            "location_id": LOC,
            "created_at": "2026-11-02T23:00:00Z",
            "updated_at": "2026-11-03T01:00:00Z",
            "amount_money": m(7438),  # the sum of its entries' nets
            "type": "BATCH",
            "arrival_date": "2026-11-03",
        },
        {
            "id": "PO-2",
            "status": "FAILED",
            "location_id": LOC,
            "created_at": "2026-11-02T23:30:00Z",
            "updated_at": "2026-11-03T02:00:00Z",
            "amount_money": m(3000),
            "type": "BATCH",
        },
    ]


def day_payout_entries() -> list[dict[str, Any]]:
    """PO-1's entries; their nets sum to its amount (7438). The CHARGE and
    REFUND entries are the card payments and RF-1 with their processing fees;
    PE-5 is an earlier instant deposit's fee taken from today's balance, PE-6
    an older deposit fee Square gave back."""

    def entry(n: int, kind: str, gross: int, fee: int, **details: Any) -> dict[str, Any]:
        return {
            "id": f"PE-{n}",
            "payout_id": "PO-1",
            "effective_at": "2026-11-02T22:00:00Z",
            "type": kind,
            "gross_amount_money": m(gross),
            "fee_amount_money": m(fee),
            "net_amount_money": m(gross + fee),
            **details,
        }

    return [
        entry(1, "CHARGE", 4000, -116, type_charge_details={"payment_id": "PAY-1A"}),
        entry(2, "CHARGE", 5000, -145, type_charge_details={"payment_id": "PAY-2"}),
        entry(3, "CHARGE", 785, -23, type_charge_details={"payment_id": "PAY-3B"}),
        entry(
            4,
            "REFUND",
            -2016,
            58,
            type_refund_details={"payment_id": "PAY-1A", "refund_id": "RF-1"},
        ),
        entry(5, "DEPOSIT_FEE", -150, 0, type_deposit_fee_details={"payout_id": "PO-0"}),
        entry(
            6,
            "DEPOSIT_FEE_REVERSED",
            45,
            0,
            type_deposit_fee_reversed_details={"payout_id": "PO-0"},
        ),
    ]


def day_locations() -> list[dict[str, Any]]:
    return [
        {
            "id": LOC,
            "name": "Granville Street",
            "status": "ACTIVE",
            "currency": "CAD",
            "timezone": "America/Vancouver",
            "country": "CA",
        },
        {"id": "LOC-OLD", "name": "Closed kiosk", "status": "INACTIVE", "currency": "CAD"},
    ]


def day_catalog() -> list[dict[str, Any]]:
    def item(iid: str, name: str, cat: str, var: str, price: int) -> dict[str, Any]:
        return {
            "type": "ITEM",
            "id": iid,
            "item_data": {
                "name": name,
                "categories": [{"id": cat}],
                "reporting_category": {"id": cat},
                "variations": [
                    {
                        "type": "ITEM_VARIATION",
                        "id": var,
                        "item_variation_data": {
                            "item_id": iid,
                            "name": "Large" if "MUG" in var else "Regular",
                            "pricing_type": "FIXED_PRICING",
                            "price_money": m(price),
                        },
                    }
                ],
            },
        }

    return [
        {"type": "CATEGORY", "id": "CAT-MERCH", "category_data": {"name": "Merchandise"}},
        {"type": "CATEGORY", "id": "CAT-FOOD", "category_data": {"name": "Food"}},
        item("ITEM-MUG", "Mug", "CAT-MERCH", "VAR-MUG-L", 2000),
        item("ITEM-BEANS", "Coffee beans", "CAT-FOOD", "VAR-BEANS", 1800),
        item("ITEM-SAND", "Sandwich", "CAT-FOOD", "VAR-SAND", 1200),
    ]


class SquareContract(OpenApiContract):
    """Square Connect's description; a refused request gets Square's error list."""

    def __init__(self) -> None:
        super().__init__("square", "square/api.json")

    def refusal(self, problems: list[str]) -> tuple[int, bytes, dict[str, str]]:
        errors = [
            {"category": "INVALID_REQUEST_ERROR", "code": "BAD_REQUEST", "detail": p}
            for p in problems
        ]
        return 400, json.dumps({"errors": errors}).encode(), {}


def _in_range(value: str | None, start: str | None, end: str | None) -> bool:
    if value is None:
        return False
    # RFC 3339 UTC with a Z: text order is time order.
    return (start is None or value >= start) and (end is None or value < end)


class SquareDouble(LocalServer):
    """`with SquareDouble() as sq:` then point the client at `sq.url`."""

    def __init__(self, *, page_size: int = 2, tokens: tuple[str, ...] = ("good-token",)) -> None:
        self.page_size = page_size
        self.tokens = set(tokens)
        self.orders = day_orders()
        self.payments = day_payments()
        self.refunds = day_refunds()
        self.payouts = day_payouts()
        self.payout_entries = day_payout_entries()
        self.locations = day_locations()
        self.catalog = day_catalog()
        self.faults: list[tuple[int, dict[str, str]]] = []
        self.requests: list[tuple[str, str]] = []
        # ObtainToken (`POST /oauth2/token`, a JSON body with the app's
        # credentials): a refresh grant issues a new access token.
        self.client_id, self.client_secret = "square-app", "square-secret"
        self.refresh_token = "square-refresh"
        self.token_requests: list[dict[str, Any]] = []
        secrets_guard.register(*tokens, self.client_secret, self.refresh_token)
        self.harness = Harness(SquareContract())
        self.screen = ConsentScreen("Square")  # GET /oauth2/authorize
        super().__init__(self._handler(), poll_interval=0.05)

    # -- pages --

    def _page(self, items: list[dict], key: str, cursor: str | None, limit: int | None) -> dict:
        start = int(cursor[1:]) if cursor else 0
        size = min(self.page_size, limit or self.page_size)
        body: dict[str, Any] = {key: copy.deepcopy(items[start : start + size])}
        if start + size < len(items):
            body["cursor"] = f"c{start + size}"
        return body

    def _search_orders(self, req: dict) -> dict:
        flt = (req.get("query") or {}).get("filter") or {}
        states = (flt.get("state_filter") or {}).get("states")
        ((field, rng),) = (flt.get("date_time_filter") or {"created_at": {}}).items()
        found = [
            o
            for o in self.orders
            if o["location_id"] in req.get("location_ids", [])
            and (not states or o["state"] in states)
            and _in_range(o.get(field), rng.get("start_at"), rng.get("end_at"))
        ]
        return self._page(found, "orders", req.get("cursor"), req.get("limit"))

    def _list(self, items: list[dict], key: str, q: dict[str, str], at: str = "created_at") -> dict:
        found = [
            x
            for x in items
            if x.get("location_id", q.get("location_id")) == q.get("location_id")
            and _in_range(x.get(at), q.get("begin_time"), q.get("end_time"))
        ]
        return self._page(found, key, q.get("cursor"), int(q["limit"]) if "limit" in q else None)

    def answer(self, method: str, path: str, q: dict[str, str], req: dict) -> tuple[int, dict]:
        if method == "POST" and path == "/v2/orders/search":
            return 200, self._search_orders(req)
        if method == "POST" and path == "/v2/catalog/search":
            return 200, self._page(self.catalog, "objects", req.get("cursor"), req.get("limit"))
        if path == "/v2/payments":
            return 200, self._list(self.payments, "payments", q)
        if path.startswith("/v2/payments/"):
            found = [p for p in self.payments if p["id"] == path.rsplit("/", 1)[1]]
            if not found:
                return 404, {"errors": [{"category": "INVALID_REQUEST_ERROR", "code": "NOT_FOUND"}]}
            return 200, {"payment": found[0]}
        if path == "/v2/refunds":
            return 200, self._list(self.refunds, "refunds", q)
        if path == "/v2/payouts":
            return 200, self._list(self.payouts, "payouts", q)
        if path.startswith("/v2/payouts/") and path.endswith("/payout-entries"):
            pid = path.split("/")[3]
            found = [e for e in self.payout_entries if e["payout_id"] == pid]
            return 200, self._page(found, "payout_entries", q.get("cursor"), None)
        if path == "/v2/locations":
            return 200, {"locations": copy.deepcopy(self.locations)}
        return 404, {"errors": [{"category": "INVALID_REQUEST_ERROR", "code": "NOT_FOUND"}]}

    def obtain_token(self, content_type: str, req: dict) -> tuple[int, dict]:
        self.token_requests.append(req)
        if req.get("grant_type") == "authorization_code":
            return self._code_grant(content_type, req)
        expected = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "grant_type": "refresh_token",
            "refresh_token": self.refresh_token,
        }
        if not content_type.startswith("application/json") or req != expected:
            return 401, {"errors": [{"category": "AUTHENTICATION_ERROR", "code": "UNAUTHORIZED"}]}
        token = f"square-access-{len(self.token_requests)}"
        self.tokens.add(token)
        secrets_guard.register(token)
        return 200, {
            "access_token": token,
            "token_type": "bearer",
            "expires_at": "2099-01-01T00:00:00Z",
            "merchant_id": "MERCHANT-1",
            "refresh_token": self.refresh_token,  # code-flow refresh tokens do not rotate
        }

    def _code_grant(self, content_type: str, req: dict) -> tuple[int, dict]:
        """ObtainToken with an authorisation code from the consent screen
        (and its PKCE verifier): the app's credentials in the JSON body."""
        good = (
            content_type.startswith("application/json")
            and req.get("client_id") == self.client_id
            and req.get("client_secret") == self.client_secret
            and self.screen.redeem(
                code=str(req.get("code", "")),
                verifier=str(req.get("code_verifier", "")),
                redirect_uri=str(req.get("redirect_uri", "")),
            )
        )
        if not good:
            return 401, {"errors": [{"category": "AUTHENTICATION_ERROR", "code": "UNAUTHORIZED"}]}
        token = f"square-access-{len(self.token_requests)}"
        self.tokens.add(token)
        secrets_guard.register(token)
        return 200, {
            "access_token": token,
            "token_type": "bearer",
            "expires_at": "2099-01-01T00:00:00Z",
            "merchant_id": "MERCHANT-1",
            "refresh_token": self.refresh_token,
        }

    def _handler(self) -> type[JsonHandler]:
        double = self

        class Handler(JsonHandler):
            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                raw = self.read_body()
                query = parse_qs(parts.query)
                if method == "GET" and parts.path == "/favicon.ico":  # a browser's, not the API's
                    self.reply_raw(404, b"{}")
                    return
                if method == "GET" and parts.path == "/oauth2/authorize":  # a browser page
                    flat = {k: v[0] for k, v in query.items()}
                    serve_page(self, *double.screen.page(parts.path, flat))
                    return
                request = Request(method, parts.path, query, self.headers, raw)
                double.requests.append((method, parts.path))
                self.reply_raw(*double.harness.exchange(request, lambda: self._answer(request)))

            def _answer(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
                method, path = request.method, request.path
                req = json.loads(request.body or b"{}")
                if method == "POST" and path == "/oauth2/token":
                    status, body = double.obtain_token(request.content_type, req)
                    return status, self.encode(body), {}
                if double.faults:
                    status, headers = double.faults.pop(0)
                    code = "RATE_LIMITED" if status == 429 else "INTERNAL_SERVER_ERROR"
                    category = "RATE_LIMIT_ERROR" if status == 429 else "API_ERROR"
                    error = {"errors": [{"category": category, "code": code}]}
                    return status, self.encode(error), headers
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                if token not in double.tokens:
                    error = {
                        "errors": [{"category": "AUTHENTICATION_ERROR", "code": "UNAUTHORIZED"}]
                    }
                    return 401, self.encode(error), {}
                q = {k: v[0] for k, v in request.query.items()}
                status, body = double.answer(method, path, q, req)
                return status, self.encode(body), {}

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler
