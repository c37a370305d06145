"""A local stand-in for a partner's Codat-shaped commerce API.

Serves `<base>/commerce-*` list endpoints with page/pageSize paging and the
`query` filters the connector sends (`field>=x&&field<y` on createdDate or
modifiedDate), behind an API key header or an OAuth client-credentials
token. Faults can be queued (429 with Retry-After, 503, a redirect) to test
the client's handling. Binds to loopback only; every request goes through the
strict harness (tests/doubles/strict.py) against Codat's Commerce
description before the double reads it, and every page after; every body
served is also kept in `responses`.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests import secrets_guard
from tests.doubles.http import JsonHandler, LocalServer
from tests.doubles.strict import Harness, OpenApiContract, Request

BASE = (  # Codat names companies and connections by UUID
    "/companies/8a210b68-6988-11ed-a1eb-0242ac120002"
    "/connections/2e9d2c44-f675-40ba-8049-353bfcb5e171/data"
)
DATA_TYPES = {
    "commerce-orders": "Orders",
    "commerce-transactions": "Transactions",
    "commerce-locations": "Locations",
    "commerce-paymentMethods": "PaymentMethods",
    "commerce-taxComponents": "TaxComponents",
    "commerce-productCategories": "ProductCategories",
    "commerce-products": "Products",
}
OPERATORS = (">=", "<=", ">", "<", "=")


def _instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _matches(record: dict[str, Any], query: str) -> bool:
    """The subset of Codat's query language the connector uses: `&&` of comparisons on dates."""
    for clause in query.split("&&"):
        for op in OPERATORS:
            if op in clause:
                field, value = clause.split(op, 1)
                break
        else:
            raise ValueError(f"malformed query clause {clause!r}")
        if record.get(field) is None:
            return False
        left, right = _instant(record[field]), _instant(value)
        ok = {
            ">=": left >= right,
            "<=": left <= right,
            ">": left > right,
            "<": left < right,
            "=": left == right,
        }[op]
        if not ok:
            return False
    return True


def _dumps(body: Any) -> bytes:
    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            return float(value)  # reaches the wire as a JSON number, like a real API
        raise TypeError(type(value).__name__)

    # Decimals as numbers with their exact digits: dump floats, then the client parses Decimal.
    return json.dumps(body, default=default).encode()


class PartnerContract(OpenApiContract):
    """Codat's Commerce data API (codat/Codat-Commerce.yaml), whose shapes
    partners serve: list endpoints, their query parameters and page shapes.
    A partner authenticates its own way (an API key header or an OAuth
    client-credentials token), not with Codat's `Authorization` key, so the
    description's security requirement is not held against it."""

    def __init__(self) -> None:
        super().__init__("partner", "codat/Codat-Commerce.yaml")

    def query_names(self, item: dict[str, Any], operation: dict[str, Any]) -> set[str]:
        names = super().query_names(item, operation)
        if operation.get("operationId") == "list-locations" or not names:
            # Codat's description answers commerce-locations with a paged
            # `Locations` (results, pageNumber, pageSize, totalResults) yet
            # declares no paging parameters there; partners page it like
            # every other list, so page and pageSize are taken as defined.
            names |= {"page", "pageSize"}
        return names

    def _mock(self, request: Request) -> Any:
        mock = super()._mock(request)
        mock.parameters.header = {"Authorization": "partner's own", **dict(mock.parameters.header)}
        return mock


class PartnerDouble(LocalServer):
    """`with PartnerDouble(data, api_key="k") as double:`; the API base is `double.base_url`."""

    def __init__(
        self,
        data: dict[str, list[dict[str, Any]]],
        *,
        api_key: str = "partner-key",
        key_header: str = "X-Api-Key",
        client_id: str = "client",
        client_secret: str = "secret",  # noqa: S107 - a test double's fixed secret
        host: str = "127.0.0.1",
    ) -> None:
        self.data = data  # data type ("commerce-orders") -> records
        self.api_key, self.key_header = api_key, key_header
        secrets_guard.register(api_key, client_secret)
        self.client_id, self.client_secret = client_id, client_secret
        self.tokens: set[str] = set()
        self.faults: deque[tuple[int, dict[str, str]]] = deque()
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.responses: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        self.harness = Harness(PartnerContract())
        super().__init__(self._handler(), host=host)

    @property
    def base_url(self) -> str:
        return self.origin + BASE

    def fail_next(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.faults.append((status, headers or {}))

    def page(self, data_type: str, params: dict[str, list[str]]) -> dict[str, Any]:
        records = self.data.get(data_type, [])
        query = params.get("query", [""])[0]
        if query:
            records = [r for r in records if _matches(r, query)]
        number = int(params.get("page", ["1"])[0])
        size = int(params.get("pageSize", ["100"])[0])
        chunk = records[(number - 1) * size : number * size]
        path = f"{BASE}/{data_type}"
        return {
            "results": chunk,
            "pageNumber": number,
            "pageSize": size,
            "totalResults": len(records),
            "_links": {
                "self": {"href": path},
                "current": {"href": f"{path}?page={number}&pageSize={size}"},
            },
        }

    def _handler(self) -> type[JsonHandler]:
        double = self

        class Handler(JsonHandler):
            def encode(self, body: Any) -> bytes:
                return _dumps(body)

            def do_POST(self) -> None:
                form = parse_qs(self.read_body().decode())
                expected = base64.b64encode(
                    f"{double.client_id}:{double.client_secret}".encode()
                ).decode()
                if urlsplit(self.path).path != "/oauth/token":
                    self.reply(HTTPStatus.NOT_FOUND, {"message": "no such resource"})
                elif self.headers.get("Authorization") != f"Basic {expected}" or form.get(
                    "grant_type"
                ) != ["client_credentials"]:
                    self.reply(HTTPStatus.UNAUTHORIZED, {"error": "invalid_client"})
                else:
                    token = f"token-{len(double.tokens) + 1}"
                    double.tokens.add(token)
                    self.reply(
                        HTTPStatus.OK,
                        {"access_token": token, "token_type": "Bearer", "expires_in": 3600},
                    )

            def _authorised(self) -> bool:
                bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if self.headers.get(double.key_header) == double.api_key or bearer in double.tokens:
                    return True
                self.reply(HTTPStatus.UNAUTHORIZED, {"message": "invalid credentials"})
                return False

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                request = Request("GET", parts.path, parse_qs(parts.query), self.headers)
                self.reply_raw(*double.harness.exchange(request, lambda: self._answer(request)))

            def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> bytes:
                if not self.capturing:
                    return super().reply(status, body, headers)
                self.answer = (status, self.encode(body), headers or {})
                return self.answer[1]

            capturing = False

            def _answer(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
                """The double's own handling; its reply is held for the harness."""
                self.capturing = True
                try:
                    self._get(urlsplit(self.path), dict(request.query))
                finally:
                    self.capturing = False
                return self.answer

            def _get(self, parts: Any, params: dict[str, list[str]]) -> None:
                with double.lock:
                    double.requests.append((parts.path, params))
                    fault = double.faults.popleft() if double.faults else None
                if fault is not None:
                    self.reply(fault[0], {"message": "injected fault"}, fault[1])
                    return
                if not self._authorised():
                    return
                data_type = parts.path.removeprefix(BASE + "/")
                if not parts.path.startswith(BASE + "/") or data_type not in DATA_TYPES:
                    self.reply(HTTPStatus.NOT_FOUND, {"message": "no such resource"})
                    return
                body = double.page(data_type, params)
                with double.lock:
                    double.responses.append((data_type, json.loads(_dumps(body))))
                self.reply(HTTPStatus.OK, body)

        return Handler
