"""A local stand-in for the Shopify GraphQL Admin API (2025-01).

Every request is checked against the published schema (the introspection JSON
in ../shared/reference, read at test time): the document must validate and the
variables must fit its declared types. Answers are recorded-style pages with
`extensions.cost`, and the double can be told to throttle or refuse tokens.
Each shop's `POST /admin/oauth/access_token` answers a refresh of an expiring
offline token: a new access token, its expiry and a new refresh token, after
which the old pair no longer works.
"""

from __future__ import annotations

import gzip
import json
import threading
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from graphql import (
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    build_client_schema,
    execute,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values

from tests import secrets_guard
from tests.doubles.consent import ConsentScreen, serve_page
from tests.doubles.http import JsonHandler, LocalServer
from tests.doubles.strict import Contract, Harness, Request

SCHEMA_PATH = (
    Path(__file__).resolve().parents[3] / "shared/reference/shopify/admin_schema_2025-01.json.gz"
)
SHOP = "demo-cafe.myshopify.com"
TOKEN = "shpat_test_token"
REFRESH_TOKEN = "shprt_test_refresh"
CLIENT_ID = "shopify-client"
CLIENT_SECRET = "shopify-secret"


@cache
def admin_schema() -> GraphQLSchema:
    with gzip.open(SCHEMA_PATH, "rt", encoding="utf-8") as handle:
        introspection = json.load(handle)
    # The published schema trips graphql-core's strict schema checks (deprecated
    # interface implementations); documents are still validated in full.
    return build_client_schema(introspection.get("data", introspection), assume_valid=True)


def check_request(document: str, variables: dict[str, Any]) -> list[str]:
    """Schema errors of one request: the document, then its variables."""
    schema = admin_schema()
    try:
        ast = parse(document)
    except GraphQLError as exc:  # a syntax error is a finding here
        return [str(exc)]
    errors = [e.message for e in validate(schema, ast)]
    if errors:
        return errors
    operation = next(d for d in ast.definitions if isinstance(d, OperationDefinitionNode))
    coerced = get_variable_values(schema, operation.variable_definitions or [], variables)
    return [e.message for e in coerced] if isinstance(coerced, list) else []


# The schema's custom scalars carry no serialisation rules in an introspection
# result; what Shopify documents for the ones our queries select (Admin API
# 2025-01 reference, "Scalars"): Money and Decimal are decimal strings,
# DateTime an ISO 8601 string with its offset, UnsignedInt64 a decimal string
# of digits, URL an RFC 3986 string.
def _decimal_string(value: Any) -> bool:
    try:
        return isinstance(value, str) and Decimal(value).is_finite()
    except ArithmeticError:
        return False


def _date_time(value: Any) -> bool:
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


CUSTOM_SCALARS = {
    "Money": _decimal_string,
    "Decimal": _decimal_string,
    "DateTime": _date_time,
    "UnsignedInt64": lambda v: isinstance(v, str) and v.isdigit(),
    "URL": lambda v: isinstance(v, str) and "://" in v,
}


def _resolve(source: Any, info: GraphQLResolveInfo, **_arguments: Any) -> Any:
    """A field of the answer, by its response key (the alias if any); a
    custom scalar is checked against what Shopify documents for it."""
    value = source.get(info.path.key) if isinstance(source, dict) else None
    kind = info.return_type
    while hasattr(kind, "of_type"):
        kind = kind.of_type
    if value is not None and isinstance(kind, GraphQLScalarType):
        check = CUSTOM_SCALARS.get(kind.name)
        if check is not None and not check(value):
            raise GraphQLError(f"{value!r} is not a Shopify {kind.name}")
    return value


def _type_of(value: Any, *_: Any) -> str | None:
    """The concrete type of an interface or union value, from its __typename."""
    return value.get("__typename") if isinstance(value, dict) else None


def check_answer(document: str, variables: dict[str, Any], data: Any) -> list[str]:
    """Where `data` is not what Shopify could answer to the document: it is
    run through the schema's executor with `data` as the values, which refuses
    a null in a non-null field, a wrong scalar or enum value and a list where
    there should be none (and the reverse); comparing what comes out with
    `data` then shows the fields the document did not select and the ones
    missing from it."""
    result = execute(
        admin_schema(),
        parse(document),
        root_value=data,
        variable_values=variables,
        field_resolver=_resolve,
        type_resolver=_type_of,
    )
    problems = [f"{'.'.join(map(str, e.path or []))}: {e.message}" for e in result.errors or []]
    if not problems and result.data != data:
        problems.append(
            f"data differs from its document's selection: {_difference(data, result.data)}"
        )
    return problems


def _difference(sent: Any, shaped: Any, where: str = "data") -> str:
    """The first place where the answer `sent` and its schema-shaped copy differ."""
    if isinstance(sent, dict) and isinstance(shaped, dict):
        for key in sorted(set(sent) | set(shaped)):
            if key not in shaped:
                return f"{where}.{key} was not selected"
            if key not in sent:
                return f"{where}.{key} is missing"
            if sent[key] != shaped[key]:
                return _difference(sent[key], shaped[key], f"{where}.{key}")
    if isinstance(sent, list) and isinstance(shaped, list) and len(sent) == len(shaped):
        for n, (a, b) in enumerate(zip(sent, shaped, strict=True)):
            if a != b:
                return _difference(a, b, f"{where}[{n}]")
    return f"{where}: {sent!r} is answered as {shaped!r}"


class ShopifyContract(Contract):
    """The Admin GraphQL API 2025-01 as its published schema describes it:
    a JSON body of `query`, `variables` and `operationName` only, no query
    string, a document valid against the schema, variables that coerce to
    the operation's declared types and none it does not declare. An answer's
    `data` must be what the schema lets that document return: the selected
    fields and no others, every value of its field's type (check_answer)."""

    vendor = "shopify"
    BODY = frozenset({"query", "variables", "operationName"})
    ANSWER = frozenset({"data", "errors", "extensions"})

    def request_problems(self, request: Request) -> list[str]:
        problems = [f"query parameter {name!r} is not taken here" for name in request.query]
        try:
            body = request.json()
        except ValueError as error:
            return [*problems, f"body is not JSON: {error}"]
        if not isinstance(body, dict):
            return [*problems, "body is not a JSON object"]
        problems += [f"body.{k}: not a field of a GraphQL request" for k in set(body) - self.BODY]
        document, variables = body.get("query") or "", body.get("variables") or {}
        errors = check_request(document, variables)
        if errors:
            return problems + errors
        operation = next(
            d for d in parse(document).definitions if isinstance(d, OperationDefinitionNode)
        )
        declared = {v.variable.name.value for v in operation.variable_definitions or []}
        return problems + [
            f"variables.{name}: not declared by the operation" for name in set(variables) - declared
        ]

    def describes(self, request: Request, status: int) -> bool:
        return status == 200

    def response_problems(self, request: Request, status: int, payload: bytes) -> list[str]:
        answer = json.loads(payload)
        if not isinstance(answer, dict) or not ({"data", "errors"} & set(answer)):
            return ["a GraphQL answer carries data or errors"]
        problems = [f"answer.{k}: not part of a GraphQL answer" for k in set(answer) - self.ANSWER]
        if answer.get("data") is not None:
            body = request.json()
            problems += check_answer(body["query"], body.get("variables") or {}, answer["data"])
        return problems

    def refusal(self, problems: list[str]) -> tuple[int, bytes, dict[str, str]]:
        # GraphQL validation errors come back as 200 with `errors`, as Shopify answers them.
        return 200, json.dumps({"errors": [{"message": p} for p in problems]}).encode(), {}


# -- the recorded-style day ------------------------------------------------


def _bag(amount: str, currency: str = "CAD") -> dict[str, Any]:
    return {"shopMoney": {"amount": amount, "currencyCode": currency}}


def _tax(title: str, rate: float, amount: str) -> dict[str, Any]:
    return {"title": title, "ratePercentage": rate, "priceSet": _bag(amount)}


def _gst_qst(gst: str, qst: str) -> list[dict[str, Any]]:
    return [_tax("GST", 5.0, gst), _tax("QST", 9.975, qst)]


def _txn(
    number: int, kind: str, gateway: str, amount: str, at: str, status: str = "SUCCESS"
) -> dict[str, Any]:
    return {
        "id": f"gid://shopify/OrderTransaction/{number}",
        "kind": kind,
        "status": status,
        "gateway": gateway,
        "createdAt": at,
        "processedAt": at,
        "amountSet": _bag(amount),
    }


def _item(
    number: int,
    title: str,
    product: int,
    quantity: int,
    unit: str,
    taxes: list[dict[str, Any]],
    *,
    gift: bool = False,
    discounts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "id": f"gid://shopify/LineItem/{number}",
        "title": title,
        "sku": None,
        "quantity": quantity,
        "isGiftCard": gift,
        "product": {"id": f"gid://shopify/Product/{product}", "title": title},
        "originalUnitPriceSet": _bag(unit),
        "taxLines": taxes,
        "discountAllocations": discounts or [],
    }


def _order(number: int, created: str, source: str, **fields: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "id": f"gid://shopify/Order/{number}",
        "name": f"#{number}",
        "createdAt": created,
        "updatedAt": created,
        "currencyCode": "CAD",
        "taxesIncluded": False,
        "sourceName": source,
        "test": False,
        "retailLocation": None,
        "totalTipReceivedSet": _bag("0.00"),
        "shippingLines": {"pageInfo": {"hasNextPage": False}, "nodes": []},
        "refunds": [],
    }
    order |= fields
    items = order.pop("items")
    order["lineItems"] = {"pageInfo": {"hasNextPage": False}, "nodes": items}
    # The order's totals as Shopify computes them (before returns): line
    # prices less their discounts, shipping, every tax line, and tips.
    shipping = order["shippingLines"]["nodes"]

    def amount(bag: dict[str, Any]) -> Decimal:
        return Decimal(bag["shopMoney"]["amount"])

    discounts = sum(
        (amount(d["allocatedAmountSet"]) for i in items for d in i["discountAllocations"]),
        Decimal(0),
    )
    taxes = sum(
        (amount(t["priceSet"]) for x in [*items, *shipping] for t in x["taxLines"]), Decimal(0)
    )
    goods = sum((i["quantity"] * amount(i["originalUnitPriceSet"]) for i in items), Decimal(0))
    shipped = sum((amount(x["discountedPriceSet"]) for x in shipping), Decimal(0))
    total = goods - discounts + shipped + taxes + amount(order["totalTipReceivedSet"])
    currency = order["currencyCode"]
    order["totalPriceSet"] = _bag(str(total), currency)
    order["totalTaxSet"] = _bag(str(taxes), currency)
    order["totalDiscountsSet"] = _bag(str(discounts), currency)
    return order


SHOP_FLOOR = {"id": "gid://shopify/Location/11", "name": "Rue Saint-Denis"}
MUG_TAXES = _gst_qst("0.75", "1.50")


def realistic_day() -> dict[str, list[dict[str, Any]]]:
    """A Quebec shop (CAD, prices before tax, GST 5% + QST 9.975%) on
    2026-11-02 in Toronto time: an online order with a discount code, taxed
    shipping and a split card/gift card payment; a till sale with a tip and a
    gift card sold; a cash sale with change; an older order refunded today;
    fees, a fee returned on the refund, a paid and a failed payout."""
    online = _order(
        1001,
        "2026-11-02T15:00:00Z",
        "web",
        items=[
            _item(
                1,
                "Coffee beans 1kg",
                501,
                2,
                "20.00",
                _gst_qst("1.80", "3.59"),
                discounts=[
                    {
                        "allocatedAmountSet": _bag("4.00"),
                        "discountApplication": {
                            "__typename": "DiscountCodeApplication",
                            "code": "WELCOME10",
                        },
                    }
                ],
            ),
            _item(2, "Mug", 502, 1, "15.00", MUG_TAXES),
        ],
        shippingLines={
            "pageInfo": {"hasNextPage": False},
            "nodes": [
                {
                    "id": "gid://shopify/ShippingLine/1",
                    "title": "Standard",
                    "originalPriceSet": _bag("10.00"),
                    "discountedPriceSet": _bag("10.00"),
                    "taxLines": _gst_qst("0.50", "1.00"),
                }
            ],
        },
        transactions=[
            _txn(1000, "AUTHORIZATION", "shopify_payments", "50.14", "2026-11-02T15:00:00Z"),
            _txn(1001, "CAPTURE", "shopify_payments", "50.14", "2026-11-02T15:00:30Z"),
            _txn(1002, "SALE", "gift_card", "20.00", "2026-11-02T15:00:00Z"),
        ],
    )
    till = _order(
        1002,
        "2026-11-02T18:30:00Z",
        "pos",
        retailLocation=SHOP_FLOOR,
        totalTipReceivedSet=_bag("2.00"),
        items=[
            _item(3, "Latte", 503, 2, "5.00", _gst_qst("0.50", "1.00")),
            _item(4, "Gift card $25", 504, 1, "25.00", [], gift=True),
        ],
        transactions=[_txn(1003, "SALE", "shopify_payments", "38.50", "2026-11-02T18:30:00Z")],
    )
    cash = _order(
        1003,
        "2026-11-02T20:00:00Z",
        "pos",
        retailLocation=SHOP_FLOOR,
        items=[_item(5, "Croissant", 505, 1, "3.00", _gst_qst("0.15", "0.30"))],
        transactions=[
            _txn(1004, "SALE", "cash", "5.00", "2026-11-02T20:00:00Z"),
            _txn(1005, "CHANGE", "cash", "1.55", "2026-11-02T20:00:00Z"),
        ],
    )
    refunded = _order(
        990,
        "2026-10-30T14:00:00Z",
        "web",
        updatedAt="2026-11-02T21:00:00Z",
        items=[_item(6, "Mug", 502, 1, "15.00", MUG_TAXES)],
        transactions=[_txn(990, "SALE", "shopify_payments", "17.25", "2026-10-30T14:00:00Z")],
        refunds=[
            {
                "id": "gid://shopify/Refund/77",
                "createdAt": "2026-11-02T21:00:00Z",
                "note": "Arrived broken",
                "totalRefundedSet": _bag("17.25"),
                "refundLineItems": {
                    "pageInfo": {"hasNextPage": False},
                    "nodes": [
                        {
                            "quantity": 1,
                            "subtotalSet": _bag("15.00"),
                            "totalTaxSet": _bag("2.25"),
                            "lineItem": {
                                "id": "gid://shopify/LineItem/6",
                                "title": "Mug",
                                "isGiftCard": False,
                                "product": {"id": "gid://shopify/Product/502", "title": "Mug"},
                                "taxLines": MUG_TAXES,
                            },
                        }
                    ],
                },
                "refundShippingLines": {"pageInfo": {"hasNextPage": False}, "nodes": []},
                "transactions": {
                    "pageInfo": {"hasNextPage": False},
                    "nodes": [
                        _txn(1006, "REFUND", "shopify_payments", "17.25", "2026-11-02T21:00:00Z")
                    ],
                },
            }
        ],
    )
    return {
        "orders": [online, till, cash, refunded],
        "balanceTransactions": [
            _balance(1, "CHARGE", 1001, "50.14", "1.75", "2026-11-02T15:01:00Z"),
            _balance(2, "CHARGE", 1003, "38.50", "1.10", "2026-11-02T18:31:00Z"),
            _balance(3, "REFUND", 1006, "-17.25", "-0.50", "2026-11-02T21:01:00Z"),
            _balance(4, "TRANSFER", None, "-120.00", "0.00", "2026-11-02T12:00:00Z"),
        ],
        "payouts": [
            _payout(31, "PAID", "120.00", "2026-11-02T12:00:00Z"),
            _payout(32, "FAILED", "30.00", "2026-11-02T13:00:00Z"),
        ],
    }


def _balance(
    number: int, kind: str, source: int | None, amount: str, fee: str, at: str
) -> dict[str, Any]:
    net = str(Decimal(amount) - Decimal(fee))
    return {
        "id": f"gid://shopify/ShopifyPaymentsBalanceTransaction/{number}",
        "type": kind,
        "test": False,
        "transactionDate": at,
        "sourceType": kind if kind != "TRANSFER" else "TRANSFER",
        "sourceOrderTransactionId": None if source is None else str(source),
        "amount": {"amount": amount, "currencyCode": "CAD"},
        "fee": {"amount": fee, "currencyCode": "CAD"},
        "net": {"amount": net, "currencyCode": "CAD"},
        "associatedOrder": None,
    }


def _payout(number: int, status: str, net: str, at: str) -> dict[str, Any]:
    return {
        "id": f"gid://shopify/ShopifyPaymentsPayout/{number}",
        "issuedAt": at,
        "status": status,
        "transactionType": "DEPOSIT",
        "net": {"amount": net, "currencyCode": "CAD"},
    }


# -- the server ----------------------------------------------------------------

# Which list each operation pages through, and where it sits in `data`.
_OPERATIONS = {
    "ShopifyOrders": ("orders", ("orders",)),
    "ShopifyBalanceTransactions": (
        "balanceTransactions",
        ("shopifyPaymentsAccount", "balanceTransactions"),
    ),
    "ShopifyPayouts": ("payouts", ("shopifyPaymentsAccount", "payouts")),
}


class ShopifyDouble(LocalServer):
    """`with ShopifyDouble(realistic_day()) as double:`; GraphQL at `double.url`."""

    def __init__(self, data: dict[str, list[dict[str, Any]]], *, page_size: int = 2) -> None:
        self.data = data
        self.page_size = page_size
        self.tokens = {TOKEN}
        # The token endpoint's state: each refresh replaces both tokens.
        self.refresh_token = REFRESH_TOKEN
        self.client_id, self.client_secret = CLIENT_ID, CLIENT_SECRET
        secrets_guard.register(TOKEN, REFRESH_TOKEN, CLIENT_SECRET)
        self.token_requests: list[dict[str, list[str]]] = []
        self.throttle_next = 0  # answer this many requests with THROTTLED
        self.available = 1000.0
        self.requested_cost = 100.0
        self.restore_rate = 50.0
        self.requests: list[dict[str, Any]] = []
        self.harness = Harness(ShopifyContract())
        self.schema_errors = self.harness.violations  # the same list
        self.lock = threading.Lock()
        # The shop's consent screen: no PKCE; the callback names the shop and is signed.
        self.screen = ConsentScreen("Shopify", pkce=False, extra={"shop": SHOP}, sign=self._sign)
        super().__init__(self._handler())

    @property
    def url(self) -> str:
        return f"{self.origin}/{SHOP}/admin/api/2025-01/graphql.json"

    @property
    def url_template(self) -> str:
        return f"{self.origin}/{{shop}}/admin/api/2025-01/graphql.json"

    @property
    def token_url_template(self) -> str:
        return f"{self.origin}/{{shop}}/admin/oauth/access_token"

    def _sign(self, params: dict[str, str]) -> str:
        """Shopify's callback signature: HMAC-SHA256 with the app secret over
        the sorted `key=value` pairs joined by `&` (hmac itself left out)."""
        import hashlib
        import hmac

        message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "hmac")
        return hmac.new(self.client_secret.encode(), message.encode(), hashlib.sha256).hexdigest()

    @property
    def authorize_url_template(self) -> str:
        return f"{self.origin}/{{shop}}/admin/oauth/authorize"

    def refresh(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """A refresh of an expiring offline token: the app's credentials and
        the current refresh token buy a new access token and refresh token.
        Without a grant type, the exchange of a code from the consent screen
        (`client_id`, `client_secret`, `code`; `expiring=1` asks for a
        refresh token too)."""
        with self.lock:
            self.token_requests.append(form)
            if form.get("client_id") != [self.client_id] or form.get("client_secret") != [
                self.client_secret
            ]:
                return 401, {"error": "invalid_client"}
            if "grant_type" not in form and "code" in form:
                if not self.screen.redeem(code=form["code"][0], verifier="", redirect_uri=None):
                    return 400, {"error": "invalid_grant"}
            elif form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != [
                self.refresh_token
            ]:
                return 400, {"error": "invalid_grant"}
            number = len(self.token_requests)
            access = f"shpat_rotated_{number}"
            self.tokens = {access}
            self.refresh_token = f"shprt_rotated_{number}"
            secrets_guard.register(access, self.refresh_token)
            return 200, {
                "access_token": access,
                "expires_in": 3600,
                "refresh_token": self.refresh_token,
                "refresh_token_expires_in": 7776000,
                "scope": "read_orders,read_all_orders",
            }

    def answer(self, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if token not in self.tokens:
                return 401, {"errors": "[API] Invalid API key or access token"}
            document, variables = body.get("query", ""), body.get("variables") or {}
            self.requests.append({"query": document, "variables": variables})
            if self.throttle_next:
                self.throttle_next -= 1
                return 200, {
                    "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                    "extensions": self._cost(),
                }
            self.available -= self.requested_cost
            operation = parse(document).definitions[0].name.value  # type: ignore[attr-defined]
            key, path = _OPERATIONS[operation]
            start = int(variables.get("after") or 0)
            size = min(int(variables["first"]), self.page_size)
            nodes = self.data.get(key, [])[start : start + size]
            more = start + size < len(self.data.get(key, []))
            connection = {
                "pageInfo": {"hasNextPage": more, "endCursor": str(start + size) if more else None},
                "nodes": nodes,
            }
            data: dict[str, Any] = connection
            for step in reversed(path):
                data = {step: data}
            return 200, {"data": data, "extensions": self._cost()}

    def _cost(self) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": self.requested_cost,
                "actualQueryCost": self.requested_cost,
                "throttleStatus": {
                    "maximumAvailable": 1000.0,
                    "currentlyAvailable": self.available,
                    "restoreRate": self.restore_rate,
                },
            }
        }

    def _handler(self) -> type[JsonHandler]:
        double = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != f"/{SHOP}/admin/oauth/authorize":
                    self.reply(404, {"errors": "Not Found"})
                    return
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                serve_page(self, *double.screen.page(parts.path, query))

            def do_POST(self) -> None:
                if urlsplit(self.path).path == f"/{SHOP}/admin/oauth/access_token":
                    form = parse_qs(self.read_body().decode())
                    self.reply(*double.refresh(form))
                    return
                parts = urlsplit(self.path)
                request = Request(
                    "POST", parts.path, parse_qs(parts.query), self.headers, self.read_body()
                )

                def handle() -> tuple[int, bytes, dict[str, str]]:
                    token = self.headers.get("X-Shopify-Access-Token", "")
                    status, payload = double.answer(token, request.json())
                    return status, self.encode(payload), {}

                self.reply_raw(*double.harness.exchange(request, handle))

        return Handler
