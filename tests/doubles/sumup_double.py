"""A local stand-in for SumUp's REST API (transaction history and payouts),
serving one day of a Berlin café taking payments through SumUp (EUR).

The day (2026-11-02 in Berlin, UTC+1; times below in UTC):

* T0 a 3.00 sale at 22:30 the evening before (23:30 Berlin, 1 November):
  outside the day, never read;
* T1 12.50 card (POS), T2 40.10 online (ECOM, later refunded in part:
  status REFUNDED), T3 7.40 cash, T4 9.99 card that FAILED;
* T5 a 10.10 REFUND of T2, T6 a 5.00 CHARGE_BACK;
* payout records dated 2026-11-02: a 30.00 PAYOUT with a 0.80 fee, a 10.10
  REFUND_DEDUCTION, a 5.00 PAYOUT that FAILED; one dated 2026-11-03 (the
  next day's, never asked for).

Amounts are JSON numbers in major units, as SumUp sends them. The history is
paged with `links[rel=next]` (a query string carrying `oldest_ref`). Faults
can be queued; `revoke()` makes the key unknown (401 Problem).

Every request goes through the strict harness (tests/doubles/strict.py)
against SumUp's OpenAPI description (`sumup/openapi.json`) before the
double reads it, and every answer after.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import threading
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests import secrets_guard
from tests.doubles.http import JsonHandler, LocalServer, basic_token_grant
from tests.doubles.strict import Harness, HarnessedDouble, OpenApiContract, Request

KEY = "sup_sk_double_0123456789abcdef"
MERCHANT = "MH4H92C7"
HISTORY = f"/v2.1/merchants/{MERCHANT}/transactions/history"
PAYOUTS = f"/v1.0/merchants/{MERCHANT}/payouts"


def item(
    ident: str,
    when: str,
    amount: float,
    *,
    kind: str = "PAYMENT",
    payment_type: str = "POS",
    status: str = "SUCCESSFUL",
    summary: str = "",
) -> dict[str, Any]:
    return {
        "id": ident,
        "transaction_id": f"tx-{ident}",
        "transaction_code": f"TC{ident}",
        "amount": amount,
        "currency": "EUR",
        "timestamp": when,
        "status": status,
        "payment_type": payment_type,
        "installments_count": 1,
        "type": kind,
        "user": "cafe@example.com",
        "product_summary": summary,
        "refunded_amount": 0,
    }


def realistic_day() -> dict[str, list[dict[str, Any]]]:
    return {
        "history": [
            item("T0", "2026-11-01T22:30:00.000Z", 3.0, summary="Late espresso"),
            item("T1", "2026-11-02T08:30:00.000Z", 12.5, summary="2 x Cappuccino"),
            item(
                "T2",
                "2026-11-02T10:00:00.000Z",
                40.1,
                payment_type="ECOM",
                status="REFUNDED",
                summary="Coffee beans 1 kg",
            ),
            item("T3", "2026-11-02T11:00:00.000Z", 7.4, payment_type="CASH", summary="Cake"),
            item("T4", "2026-11-02T12:00:00.000Z", 9.99, status="FAILED", summary="Declined"),
            item("T5", "2026-11-02T14:00:00.000Z", 10.1, kind="REFUND"),
            item("T6", "2026-11-02T15:00:00.000Z", 5.0, kind="CHARGE_BACK"),
        ],
        "payouts": [
            _payout(1, "PAYOUT", 30.0, "2026-11-02", fee=0.8),
            _payout(2, "REFUND_DEDUCTION", 10.1, "2026-11-02"),
            _payout(3, "PAYOUT", 5.0, "2026-11-02", status="FAILED"),
            _payout(4, "PAYOUT", 99.0, "2026-11-03", fee=1.0),
        ],
    }


def _payout(
    ident: int, kind: str, amount: float, day: str, *, fee: float = 0.0, status: str = "SUCCESSFUL"
) -> dict[str, Any]:
    return {
        "id": ident,
        "type": kind,
        "amount": amount,
        "date": day,
        "currency": "EUR",
        "fee": fee,
        "status": status,
        "reference": f"payout-{day}-{ident}",
        "transaction_code": f"TCP{ident}",
    }


class SumUpContract(OpenApiContract):
    """SumUp's description; a refused request gets SumUp's `Error`."""

    def __init__(self) -> None:
        super().__init__("sumup", "sumup/openapi.json")

    def refusal(self, problems: list[str]) -> tuple[int, bytes, dict[str, str]]:
        body = {"message": "; ".join(problems), "error_code": "INVALID"}
        return 400, json.dumps(body).encode(), {"Content-Type": "application/json"}


class SumUpDouble(HarnessedDouble, LocalServer):
    """`with SumUpDouble() as sumup:` then point `SUMUP_API_URL` at `sumup.url`."""

    def __init__(self, day: dict[str, list[dict[str, Any]]] | None = None) -> None:
        day = day or realistic_day()
        self.history = day["history"]
        self.payout_records = day["payouts"]
        self.keys = {KEY}
        self.faults: list[tuple[int, dict[str, str]]] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        # OAuth (authorisation code with PKCE; `/authorize` and `/token` are
        # not in the description's paths, so they bypass the harness).
        self.client_id, self.client_secret = "sumup-app", "sumup-secret-0123"
        self.lock = threading.Lock()
        self.consents: list[dict[str, str]] = []
        self.codes: dict[str, tuple[str, str]] = {}
        self.refresh_tokens: set[str] = set()
        self.token_forms: list[dict[str, str]] = []
        self.issued = 0
        secrets_guard.register(KEY, self.client_secret)
        self.harness = Harness(SumUpContract())
        super().__init__(self._handler(), poll_interval=0.05)

    def revoke(self) -> None:
        """The key or grant was revoked: every call is a 401, no refresh works."""
        self.keys.clear()
        self.refresh_tokens.clear()

    # -- OAuth ---------------------------------------------------------------

    def authorize(self, query: dict[str, str]) -> str:
        """The consent screen, consenting at once: back to the redirect URI
        with a single-use code and the state given."""
        with self.lock:
            self.consents.append(dict(query))
            code = f"sumup-code-{len(self.consents)}"
            self.codes[code] = (query.get("code_challenge", ""), query.get("redirect_uri", ""))
        return f"{query.get('redirect_uri', '')}?{urlencode({'code': code, 'state': query.get('state', '')})}"

    def grant_refresh_token(self, value: str) -> None:
        """A refresh token the connection holds already."""
        self.refresh_tokens.add(value)
        secrets_guard.register(value)

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        return basic_token_grant(
            self,
            form,
            authorization,
            code_is_good=self._code_is_good,
            access_tokens=self.keys,
            prefix="sumup",
            answer=lambda access, refresh: {
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": 3599,
                "token_type": "Bearer",
                "scope": form.get("scope", "transactions.history payouts.read"),
            },
        )

    def _code_is_good(self, form: dict[str, str]) -> bool:
        """A code this double issued (spent now), with the PKCE verifier of
        its challenge and the same redirect URI."""
        challenge, redirect = self.codes.pop(form.get("code", ""), ("", ""))
        verifier = form.get("code_verifier", "").encode()
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        return (
            bool(challenge)
            and computed.decode() == challenge
            and form.get("redirect_uri") == redirect
        )

    def _history(self, q: dict[str, str]) -> dict[str, Any]:
        found = sorted(self.history, key=lambda x: x["timestamp"])
        if "oldest_ref" in q:  # supersedes oldest_time
            ids = [x["id"] for x in found]
            found = found[ids.index(q["oldest_ref"]) + 1 :]
        elif "oldest_time" in q:
            found = [x for x in found if x["timestamp"] >= q["oldest_time"].replace("Z", ".000Z")]
        if "newest_time" in q:
            found = [x for x in found if x["timestamp"] < q["newest_time"].replace("Z", ".000Z")]
        limit = int(q.get("limit", 10))
        page = found[:limit]
        links = []
        if len(found) > limit:
            links.append(
                {
                    "rel": "next",
                    "href": f"limit={limit}&oldest_ref={page[-1]['id']}&order=ascending",
                }
            )
        return {"items": copy.deepcopy(page), "links": links}

    def _payouts(self, q: dict[str, str]) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(p)
            for p in self.payout_records
            if q.get("start_date", "0000") <= p["date"] <= q.get("end_date", "9999")
        ]

    def _handler(self) -> type[JsonHandler]:
        double = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/token":
                    self.reply(404, {"message": "not found", "error_code": "NOT_FOUND"})
                    return
                form = {k: v[0] for k, v in parse_qs(self.read_body().decode()).items()}
                status, body = double.token(form, self.headers.get("Authorization") or "")
                self.reply(status, body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if parts.path == "/authorize":
                    location = double.authorize({k: v[0] for k, v in query.items()})
                    self.reply_raw(302, b"", {"Location": location})
                    return
                request = Request("GET", parts.path, query, self.headers, b"")
                double.requests.append((parts.path, {k: v[0] for k, v in query.items()}))
                self.reply_raw(*double.harness.exchange(request, lambda: self._answer(request)))

            def _answer(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
                if double.faults:
                    status, headers = double.faults.pop(0)
                    return status, self.encode({"message": "busy", "error_code": "BUSY"}), headers
                key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                if key not in double.keys:
                    problem = {
                        "type": "https://developer.sumup.com/problem/unauthorized",
                        "title": "Unauthorized",
                        "status": 401,
                        "detail": "Unauthorized.",
                    }
                    return 401, self.encode(problem), {}
                q = {k: v[0] for k, v in request.query.items()}
                if request.path == HISTORY:
                    return 200, self.encode(double._history(q)), {}
                if request.path == PAYOUTS:
                    return 200, self.encode(double._payouts(q)), {}
                return 404, self.encode({"message": "not found", "error_code": "NOT_FOUND"}), {}

        return Handler
