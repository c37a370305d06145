"""A local stand-in for the Stripe API v1 (read-only lists), serving one
realistic day of a London shop taking payments through Stripe (GBP).

The day (2026-11-02, all times UTC, which is London time in November):

* ch_A 25.00 succeeded (fees 0.48 Stripe + 0.10 tax on the fee);
* ch_B authorised 40.00, captured 30.00 (fee 0.65);
* ch_C 12.00 failed (no money, no balance transaction);
* ch_D 18.00 (fee 0.52), refunded 8.00 by re_D;
* ch_E 50.00 (fee 1.45), disputed: a dispute adjustment of -50.00 with a
  15.00 dispute fee;
* a 2.00 Stripe fee (Radar), a +1.50 balance adjustment;
* po_1, automatic, 46.30: settles every balance transaction of the day
  (their nets sum to 46.30);
* po_2, manual, 10.00, failed the same evening (a payout_failure of +10.00).

Small pages force `starting_after` paging. Faults can be queued (status,
headers) and are served before normal answers; `revoke()` makes the key
unknown (401). Binds to loopback only.

Every request goes through the strict harness (tests/doubles/strict.py)
against Stripe's OpenAPI description (`stripe/stripe-subset.spec3.json`)
before the double reads it, and every answer after; an unknown query
parameter (`created_after` for `created[gte]`) is refused with Stripe's
400 error shape and fails the test.

Stripe Connect (standard accounts): the platform `PLATFORM_KEY` with
client id `CONNECT_CLIENT` has the consent screen at `/oauth/authorize`
(no PKCE), exchanges a code at `POST /oauth/token` (HTTP Basic, the
platform key as user name) for the account `ACCOUNT`, and forgets it at
`POST /oauth/deauthorize`. The day is then served to the platform key
sent with `Stripe-Account: <connected account>`; a disconnected account
is refused (403 `account_invalid`). These OAuth paths are not in the
API's description: they bypass the harness.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

from openapi_core import Config, OpenAPI

from tests import secrets_guard
from tests.doubles.consent import ConsentScreen
from tests.doubles.http import ConsentAndApiHandler, JsonHandler, LocalServer
from tests.doubles.strict import (
    Harness,
    HarnessedDouble,
    OpenApiContract,
    Request,
    load_description,
)

DESCRIPTION = "stripe/stripe-subset.spec3.json"
KEY = "rk_test_stripe_double_0123456789"
PLATFORM_KEY = "sk_test_platform_double_0123456789"
CONNECT_CLIENT = "ca_double_platform_0123"
ACCOUNT = "acct_1DoubleShop0001"
T0 = 1793577600  # 2026-11-02T00:00:00Z


def at(hour: int, minute: int = 0) -> int:
    return T0 + hour * 3600 + minute * 60


def charge(
    cid: str,
    when: int,
    amount: int,
    *,
    captured: int | None = None,
    status: str = "succeeded",
    description: str = "",
    refunded: int = 0,
    disputed: bool = False,
    currency: str = "gbp",
) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if captured is None else captured,
        "amount_refunded": refunded,
        # Nullable references sit beside `anyOf` in the description, which
        # openapi-core does not combine (see the reference README): absent
        # rather than null.
        "billing_details": {"email": None, "name": None, "phone": None},
        "captured": status != "failed",
        "created": when,
        "currency": currency,
        "description": description or None,
        "disputed": disputed,
        "livemode": False,
        "metadata": {},
        "paid": status == "succeeded",
        "payment_intent": f"pi_{cid[3:]}",
        "refunded": refunded == amount,
        "status": status,
        **({} if status == "failed" else {"balance_transaction": f"txn_{cid[3:]}"}),
    }


def bt(
    tid: str,
    when: int,
    kind: str,
    amount: int,
    *,
    fees: tuple[tuple[str, int], ...] = (),
    source: str | None = None,
    category: str | None = None,
    currency: str = "gbp",
) -> dict[str, Any]:
    fee = sum(value for _, value in fees)
    return {
        "id": tid,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": when + 2 * 86400,
        "created": when,
        "currency": currency,
        "description": None,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": [
            {
                "amount": value,
                "application": None,
                "currency": currency,
                "description": f"{name} fee",
                "type": name,
            }
            for name, value in fees
        ],
        "net": amount - fee,
        "reporting_category": category or kind,
        **({"source": source} if source else {}),
        "status": "available",
        "type": kind,
    }


def payout(
    pid: str, when: int, amount: int, *, automatic: bool, status: str = "paid"
) -> dict[str, Any]:
    return {
        "id": pid,
        "object": "payout",
        "amount": amount,
        "arrival_date": when + 86400,
        "automatic": automatic,
        "balance_transaction": f"txn_{pid}",
        "created": when,
        "currency": "gbp",
        "description": "STRIPE PAYOUT",
        "livemode": False,
        "metadata": {},
        "method": "standard",
        "reconciliation_status": "completed" if automatic else "not_applicable",
        "source_type": "card",
        "status": status,
        "type": "bank_account",
    }


def refund(rid: str, when: int, amount: int, charge_id: str) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "refund",
        "amount": amount,
        "balance_transaction": f"txn_{rid}",
        "charge": charge_id,
        "created": when,
        "currency": "gbp",
        "metadata": {},
        "payment_intent": f"pi_{charge_id[3:]}",
        "reason": "requested_by_customer",
        "status": "succeeded",
    }


def realistic_day() -> dict[str, list[dict[str, Any]]]:
    """The day of the module docstring."""
    charges = [
        charge("ch_A", at(9, 15), 2500, description="Coffee subscription"),
        charge("ch_B", at(11, 40), 4000, captured=3000, description="Hamper (part shipped)"),
        charge("ch_C", at(13), 1200, status="failed", description="Declined card"),
        charge("ch_D", at(14, 30), 1800, refunded=800, description="Tea set"),
        charge("ch_E", at(15), 5000, disputed=True, description="Gift box"),
    ]
    balance = [
        bt(
            "txn_A",
            at(9, 15),
            "charge",
            2500,
            fees=(("stripe_fee", 48), ("tax", 10)),
            source="ch_A",
        ),
        bt("txn_B", at(11, 40), "charge", 3000, fees=(("stripe_fee", 65),), source="ch_B"),
        bt("txn_D", at(14, 30), "charge", 1800, fees=(("stripe_fee", 52),), source="ch_D"),
        bt("txn_E", at(15), "charge", 5000, fees=(("stripe_fee", 145),), source="ch_E"),
        bt("txn_re_D", at(16), "refund", -800, source="re_D"),
        bt(
            "txn_dp_E",
            at(17),
            "adjustment",
            -5000,
            fees=(("stripe_fee", 1500),),
            source="dp_E",
            category="dispute",
        ),
        bt("txn_radar", at(18), "stripe_fee", -200),
        bt("txn_adj", at(19), "adjustment", 150, category="other_adjustment"),
        bt("txn_po_1", at(20), "payout", -4630, source="po_1"),
        bt("txn_po_2", at(21), "payout", -1000, source="po_2"),
        bt("txn_po_2_failed", at(22), "payout_failure", 1000, source="po_2"),
    ]
    settled = {"po_1": [b["id"] for b in balance if b["id"] not in ("txn_po_2", "txn_po_2_failed")]}
    return {
        "charges": charges,
        "refunds": [refund("re_D", at(16), 800, "ch_D")],
        "balance_transactions": balance,
        "payouts": [
            payout("po_1", at(20), 4630, automatic=True),
            payout("po_2", at(21), 1000, automatic=False, status="failed"),
        ],
        "settled": [{"payout": k, "ids": v} for k, v in settled.items()],
    }


@cache
def _stripe_spec() -> OpenAPI:
    """Stripe's description as openapi-core can apply it. Two of its
    parameter shapes defeat openapi-core 0.23 even when absent: a deepObject
    whose schema is `anyOf` [range object, integer] (`created`), and a
    deepObject array (`expand`). deepObject serialises objects only, so the
    first is read as its object branch (`created[gte]=...`); the second as a
    form array. Nothing else is changed; the file is read, never copied."""
    document = copy.deepcopy(load_description(DESCRIPTION))
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter.get("schema") or {}
                if parameter.get("style") != "deepObject":
                    continue
                objects = [s for s in schema.get("anyOf", []) if s.get("type") == "object"]
                if objects:
                    parameter["schema"] = objects[0]
                elif schema.get("type") == "array":
                    parameter["style"] = "form"
    return OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))


class StripeContract(OpenApiContract):
    """Stripe's description. Its range parameters are deepObject
    (`created[gte]`): the unknown-parameter check reads the name before the
    bracket and takes only gt/gte/lt/lte inside it. A refused request gets
    Stripe's `error` object."""

    def __init__(self) -> None:
        super().__init__("stripe", DESCRIPTION)

    @property
    def spec(self) -> OpenAPI:
        return _stripe_spec()

    def request_problems(self, request: Request) -> list[str]:
        problems = []
        found = self.operation(request.method, request.path)
        if found is not None:
            known = self.query_names(found[1], found[2])
            for name in request.query:
                base = name.split("[", 1)[0]
                if base not in known:
                    problems.append(
                        f"query parameter {name!r} is not one the vendor defines "
                        f"(known: {sorted(known)})"
                    )
                elif "[" in name and not re.fullmatch(r"[a-z_]+\[(gt|gte|lt|lte)\]", name):
                    problems.append(f"query parameter {name!r} is not a range the vendor defines")
        # The base check would take `created[gte]` for an unknown name:
        # bracketed names are checked above, and by openapi-core (below).
        problems += [
            p
            for p in super().request_problems(request)
            if not re.match(r"query parameter '[a-z_]+\[", p)
        ]
        return problems

    def refusal(self, problems: list[str]) -> tuple[int, bytes, dict[str, str]]:
        body = {"error": {"type": "invalid_request_error", "message": "; ".join(problems)}}
        return 400, json.dumps(body).encode(), {"Content-Type": "application/json"}


def _error(status: int, kind: str, code: str | None = None) -> tuple[int, dict[str, Any]]:
    error: dict[str, Any] = {"type": kind, "message": f"{kind} (double)"}
    if code:
        error["code"] = code
    return status, {"error": error}


class StripeDouble(HarnessedDouble, LocalServer):
    """`with StripeDouble() as stripe:` then point `STRIPE_API_URL` at `stripe.url`."""

    def __init__(self, day: dict[str, list[dict[str, Any]]] | None = None, *, page_size: int = 2):
        day = day or realistic_day()
        self.page_size = page_size
        self.keys = {KEY}
        self.charges = day["charges"]
        self.refunds = day["refunds"]
        self.balance = day["balance_transactions"]
        self.payouts = day["payouts"]
        self.settled = {s["payout"]: s["ids"] for s in day.get("settled", [])}
        self.faults: list[tuple[int, dict[str, str]]] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        # Stripe Connect: the accounts connected to the platform, and what
        # the OAuth endpoints were asked (form fields, no secrets).
        self.screen = ConsentScreen("Stripe", pkce=False)
        self.accounts: set[str] = set()
        self.connect_requests: list[tuple[str, dict[str, str]]] = []
        self.accounts_asked: list[str] = []  # the Stripe-Account header of each API call
        secrets_guard.register(KEY, PLATFORM_KEY)
        self.harness = Harness(StripeContract())
        super().__init__(self._handler(), poll_interval=0.05)

    def revoke(self) -> None:
        """The merchant rolled or deleted the key: every call is a 401."""
        self.keys.clear()

    # -- Stripe Connect OAuth --

    def connect(self, path: str, form: dict[str, str], authorization: str) -> tuple[int, dict]:
        """`/oauth/token` and `/oauth/deauthorize`, platform key as Basic user."""
        expected = "Basic " + base64.b64encode(f"{PLATFORM_KEY}:".encode()).decode()
        self.connect_requests.append((path, {k: v for k, v in form.items() if k != "code"}))
        if authorization != expected:
            return 401, {"error": "invalid_client", "error_description": "No such API key"}
        if path == "/oauth/token":
            if form.get("grant_type") != "authorization_code":
                return 400, {"error": "unsupported_grant_type"}
            if not self.screen.redeem(code=form.get("code", ""), verifier="", redirect_uri=None):
                return 400, {"error": "invalid_grant", "error_description": "code not valid"}
            scope = (self.screen.consents[-1] if self.screen.consents else {}).get("scope")
            self.accounts.add(ACCOUNT)
            access, refresh = "sk_test_connected_0123456789", "rt_connected_0123456789"
            secrets_guard.register(access, refresh)
            return 200, {
                "access_token": access,
                "refresh_token": refresh,
                "token_type": "bearer",
                "livemode": False,
                "stripe_publishable_key": "pk_test_connected_0123",
                "stripe_user_id": ACCOUNT,
                "scope": scope or "read_only",
            }
        if path == "/oauth/deauthorize":
            account = form.get("stripe_user_id", "")
            if form.get("client_id") != CONNECT_CLIENT or account not in self.accounts:
                return 401, {"error": "invalid_client", "error_description": "not connected"}
            self.accounts.discard(account)
            return 200, {"stripe_user_id": account}
        return 404, {"error": "not_found"}

    # -- lists --

    def _list(self, items: list[dict], url: str, q: dict[str, str]) -> dict[str, Any]:
        def inside(item: dict) -> bool:
            created = item["created"]
            for op, test in (
                ("gte", created.__ge__),
                ("gt", created.__gt__),
                ("lte", created.__le__),
                ("lt", created.__lt__),
            ):
                if f"created[{op}]" in q and not test(int(q[f"created[{op}]"])):
                    return False
            return True

        # Stripe lists newest first.
        found = sorted((x for x in items if inside(x)), key=lambda x: (-x["created"], x["id"]))
        start = 0
        if "starting_after" in q:
            ids = [x["id"] for x in found]
            start = ids.index(q["starting_after"]) + 1
        size = min(self.page_size, int(q.get("limit", 10)))
        page = found[start : start + size]
        return {
            "object": "list",
            "data": copy.deepcopy(page),
            "has_more": start + size < len(found),
            "url": url,
        }

    def answer(self, path: str, q: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if path == "/v1/charges":
            return 200, self._list(self.charges, path, q)
        if path == "/v1/refunds":
            return 200, self._list(self.refunds, path, q)
        if path == "/v1/payouts":
            return 200, self._list(self.payouts, path, q)
        if path == "/v1/balance_transactions":
            items = self.balance
            if "payout" in q:
                if q["payout"] not in self.settled:
                    return _error(400, "invalid_request_error", "resource_missing")
                ids = set(self.settled[q["payout"]])
                items = [b for b in self.balance if b["id"] in ids]
            return 200, self._list(items, path, q)
        return _error(404, "invalid_request_error", "resource_missing")

    def _handler(self) -> type[JsonHandler]:
        double = self

        class Handler(ConsentAndApiHandler):
            api_double = double

            def do_POST(self) -> None:
                form = {k: v[0] for k, v in parse_qs(self.read_body().decode()).items()}
                path = urlsplit(self.path).path
                self.reply(*double.connect(path, form, self.headers.get("Authorization") or ""))

            def _answer(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
                if double.faults:
                    status, headers = double.faults.pop(0)
                    # Stripe's error types: a 429 is an invalid request coded rate_limit.
                    if status == 429:
                        body = _error(status, "invalid_request_error", "rate_limit")[1]
                    else:
                        body = _error(status, "api_error")[1]
                    return status, self.encode(body), headers
                key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                account = self.headers.get("Stripe-Account")
                double.accounts_asked.append(account or "")
                if key == PLATFORM_KEY and account and account not in double.accounts:
                    status, body = _error(403, "invalid_request_error", "account_invalid")
                    return status, self.encode(body), {}
                if key not in double.keys and not (key == PLATFORM_KEY and account):
                    status, body = _error(401, "invalid_request_error", "api_key_expired")
                    return status, self.encode(body), {}
                q = {k: v[0] for k, v in request.query.items()}
                status, body = double.answer(request.path, q)
                return status, self.encode(body), {}

        return Handler
