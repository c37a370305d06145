"""What connectors share: how they get a valid access token and how they stay
under a platform's rate limits. The token source is implemented by the core
(`commerce_sync.core.services.credentials.ConnectionTokenSource`: tokens kept
in the connection's encrypted credentials, refreshed once under a row lock)
and reaches an adapter through `ConnectorContext.token_source`; the limiter
is `connectors.limits` (one every worker shares). Also:

* records that do not fit: `Unfit`, `guarded` (the source translators, with
  their `Raw` and `Record` shapes) and `problems_error`;
* sending: `held_slots` (the slots of several limiters held around one
  call), `request_or_unavailable` (a lost connection is
  `PlatformUnavailable`), `bearer_request` (a bearer token and a JSON body)
  and `bearer_get`;
* reading: `decimal_json` (numbers as Decimal) and `json_object`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Protocol

import requests

from commerce_sync.errors import DataProcessingError, PlatformUnavailable

Raw = Mapping[str, Any]  # a vendor's record as its JSON was read
Record = dict[str, Any]  # a canonical record a translator makes


class Unfit(Exception):
    """One vendor record does not fit the canonical model; the message says
    why. The source translators catch it and record a problem naming the
    record (`Translation.problems`), never dropping it silently."""


def guarded(problems: list[str], label: str, build: Any, *args: Any) -> list[Record]:
    """The records `build(*args)` yields for one vendor record; when it does
    not fit (`Unfit`) or is malformed (a missing key, a wrong type, a bad
    number), none, and a problem starting with `label` (the record's name)
    is added to `problems` instead."""
    try:
        return list(build(*args))
    except Unfit as unfit:
        problems.append(f"{label}: {unfit}")
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as error:
        problems.append(f"{label}: malformed ({type(error).__name__}: {error})")
    return []


class TokenSource(Protocol):
    def access_token(self) -> str:
        """A valid access token, refreshed first if it is about to expire."""
        ...

    def refresh_now(self, *, rejected: str) -> str:
        """After the platform rejected `rejected` (401): refresh once. Lock
        the connection, re-read it, and refresh only if another worker has
        not already replaced that token; return the current one."""
        ...


class RateLimiter(Protocol):
    def acquire(self, key: str) -> None:
        """Wait until one more call to `key` (e.g. "xero:<tenant id>") fits
        the platform's limits, across all workers; raise
        `commerce_sync.errors.RateLimited` if that would take too long."""
        ...

    def release(self, key: str) -> None:
        """The call to `key` finished (for concurrent-call limits)."""
        ...


def limited_request(
    session: requests.Session,
    limiter: RateLimiter,
    key: str,
    platform: str,
    method: str,
    url: str,
    **kwargs: Any,
) -> requests.Response:
    """One HTTP call counted by the shared `limiter` under `key`: acquired
    before it leaves, released once it is answered or failed. A timeout, a
    refused connection or a cut answer raises `PlatformUnavailable` naming
    `platform` (a display name, "QuickBooks"); `kwargs` go to
    `session.request`. Raises what `limiter.acquire` raises (RateLimited)."""
    limiter.acquire(key)
    try:
        return session.request(method, url, **kwargs)
    except (
        requests.Timeout,
        requests.ConnectionError,
        requests.exceptions.ChunkedEncodingError,
    ) as error:
        raise PlatformUnavailable(
            f"{platform} did not answer ({type(error).__name__}); will retry"
        ) from None
    finally:
        limiter.release(key)


MAX_PROBLEMS_SHOWN = 5


def problems_error(platform: str, problems: list[str]) -> DataProcessingError:
    """The error a source raises when records of `platform` (its display
    name, e.g. "Square") do not fit the canonical model: the first
    `MAX_PROBLEMS_SHOWN` problems in the message, every one in `detail`."""
    shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
    more = len(problems) - MAX_PROBLEMS_SHOWN
    return DataProcessingError(
        f"{platform} data that does not fit: {shown}" + (f" (and {more} more)" if more > 0 else ""),
        detail="\n".join(problems),
    )


def request_or_unavailable(
    session: requests.Session, method: str, url: str, *, platform: str, **kwargs: Any
) -> requests.Response:
    """`session.request(method, url, **kwargs)`; a timeout or a refused
    connection is `PlatformUnavailable` naming `platform` (its display
    name) and the error's type, never the request's headers or body."""
    try:
        return session.request(method, url, **kwargs)
    except (requests.Timeout, requests.ConnectionError) as error:
        raise PlatformUnavailable(f"{platform} did not answer ({type(error).__name__})") from None


def bearer_request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    platform: str,
    bearer: str,
    timeout: float,
    params: Mapping[str, Any] | None = None,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> requests.Response:
    """`method url` with `Authorization: Bearer <bearer>`, asking for JSON;
    `data`, when not None, is a JSON body (sent with `Content-Type:
    application/json`), `headers` any further ones. No answer is
    `PlatformUnavailable` as `request_or_unavailable` says (never the
    token)."""
    sent = {"Authorization": f"Bearer {bearer}", "Accept": "application/json", **(headers or {})}
    if data is not None:
        sent["Content-Type"] = "application/json"
    return request_or_unavailable(
        session,
        method,
        url,
        platform=platform,
        params=params,
        data=data,
        headers=sent,
        timeout=timeout,
    )


@contextmanager
def held_slots(limiters: Iterable[tuple[RateLimiter, str]]) -> Iterator[None]:
    """Hold one slot of each (limiter, key) pair for the block: acquired in
    order before it runs, released in reverse order once it ends, raises, or
    a later `acquire` raises (`RateLimited`: the slots taken so far are given
    back)."""
    taken: list[tuple[RateLimiter, str]] = []
    try:
        for limiter, key in limiters:
            limiter.acquire(key)
            taken.append((limiter, key))
        yield
    finally:
        for limiter, key in reversed(taken):
            limiter.release(key)


def bearer_get(
    session: requests.Session,
    url: str,
    *,
    params: Mapping[str, Any] | Sequence[tuple[str, Any]],
    bearer: str,
    timeout: float,
    platform: str,
    path: str,
    headers: Mapping[str, str] | None = None,
) -> requests.Response:
    """GET `url` with `Authorization: Bearer <bearer>`, asking for JSON;
    `params` as a mapping or as (name, value) pairs (a name may repeat),
    `headers` any further ones (Stripe's `Stripe-Account`). A timeout or a
    refused connection is `PlatformUnavailable` naming `platform` (its
    display name) and `path`, never the token."""
    try:
        return session.get(
            url,
            params=params,
            headers={
                "Authorization": f"Bearer {bearer}",
                "Accept": "application/json",
                **(headers or {}),
            },
            timeout=timeout,
        )
    except (requests.Timeout, requests.ConnectionError) as error:
        raise PlatformUnavailable(
            f"{platform} did not answer GET {path} ({type(error).__name__})"
        ) from None


def decimal_json(response: requests.Response, *, platform: str, path: str) -> Any:
    """The JSON body with every non-integer number read as `Decimal` (never
    float); `DataProcessingError` when the body is not JSON."""
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        raise DataProcessingError(f"{platform} sent invalid JSON for {path}") from None


def json_object(
    response: requests.Response,
    *,
    platform: str,
    path: str,
    parse_float: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """The JSON body, which must be an object; non-integer numbers read by
    `parse_float` (None: `float`, for platforms whose amounts are integers
    or strings). `DataProcessingError` naming `platform` and `path` when the
    body is not JSON or not an object."""
    try:
        body = json.loads(response.content, parse_float=parse_float)
    except ValueError:
        raise DataProcessingError(f"{platform} sent invalid JSON for {path}") from None
    if not isinstance(body, dict):
        raise DataProcessingError(f"{platform} sent no JSON object for {path}")
    return body


def credit_applied_advice(documents: list[dict[str, Any]], platform: str, how: str) -> list[str]:
    """Plain words (one message, or []) for credit notes among `documents`
    that are applied to the day's invoices (an exchange: their `links` name
    an Invoice and the amount applied) on a platform whose connector writes
    the credit note but not that application: there the credit note and the
    invoice each keep the applied amount outstanding (the accounts balance)
    until the merchant applies it in `platform` by `how`."""
    applied: dict[str, Decimal] = {}
    for document in documents:
        if document.get("type") != "creditNote":
            continue
        for link in document.get("links") or []:
            if link.get("type") == "Invoice":
                currency = str(document.get("currency") or "")
                amount = Decimal(str(link.get("amount") or 0))
                applied[currency] = applied.get(currency, Decimal(0)) + amount
    money = ", ".join(f"{v} {k}".strip() for k, v in sorted(applied.items()) if v)
    if not money:
        return []
    return [
        f"Credit notes applied to the day's invoices ({money} in all) are written to "
        f"{platform} without that application: the credit notes and those invoices stay "
        f"outstanding there by that amount, although the accounts balance. Apply each credit "
        f"note to its invoice in {platform} ({how})"
    ]
