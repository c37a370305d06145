"""One retry policy for every call that may meet a transient fault.

The push loop of the sync and every connector client wait the same way: an
exponential backoff with optional jitter between tries, never sooner than a
`Retry-After` the platform sent, a `Retry-After` too long to hold a sync for
handed back to the caller (the next run retries), and an optional budget of
total seconds slept. The sleep is a field, so tests inject a recorder instead
of patching `time.sleep`.

A client that waits out a platform's 429 itself raises `TryAgain` with the
answer inside its attempt: the policy waits the answer's `Retry-After` and,
when it gives up, hands the answer back for the client to read as an error.
`RefreshOnce` is the other half every OAuth client shares: after a 401 the
token is refreshed once and the request sent again; a second 401 means the
grant is gone. `refreshed_get` puts the two together for the read-only
sources' GETs, and `SourceClient` holds what those clients keep.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypedDict, TypeVar

import requests

from commerce_sync.errors import (
    ApplicationError,
    CredentialsRevoked,
    DataProcessingError,
    PlatformUnavailable,
    RateLimited,
    TransientError,
)
from connectors.common import RateLimiter, TokenSource, bearer_get, held_slots

T = TypeVar("T")


def retry_after_seconds(value: str | None) -> float | None:
    """A `Retry-After` header value in seconds (RFC 9110 section 10.2.3
    allows delta-seconds or an HTTP date); None when absent, unparseable or a
    date, so the caller backs off on its own schedule."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def transient_error(
    status: int, retry_after: str | None, *, platform: str, what: str
) -> TransientError | None:
    """The error a retry policy retries for an HTTP answer, or None when the
    answer is not transient: 429 -> `RateLimited` (with its `Retry-After`
    header, in seconds), 408 and 5xx -> `PlatformUnavailable`. `platform`
    starts the message ("Square"), `what` names the call."""
    if status == 429:
        return RateLimited(
            f"{platform} is rate limiting ({what})", retry_after=retry_after_seconds(retry_after)
        )
    if status >= 500 or status == 408:
        return PlatformUnavailable(f"{platform} failed ({status}) on {what}")
    return None


def answer_error(
    status: int, retry_after: str | None, *, platform: str, what: str, revoked: str
) -> ApplicationError | None:
    """The error an HTTP answer stands for, or None for a success (< 300):
    transient ones as `transient_error` says; 401 and 403 ->
    `CredentialsRevoked(revoked)` (the message says what to do); any other
    status -> `DataProcessingError` naming `what` and the status."""
    transient = transient_error(status, retry_after, platform=platform, what=what)
    if transient is not None:
        return transient
    if status in (401, 403):
        return CredentialsRevoked(revoked)
    if status >= 300:
        return DataProcessingError(f"{platform} refused the request for {what} ({status})")
    return None


class TryAgain(Exception):
    """Raised by an attempt inside `RetryPolicy.call` whose `answer` (e.g. an
    HTTP response) asks to be sent again after `retry_after` seconds; when
    the policy gives up, `call` returns that answer instead of raising."""

    def __init__(self, answer: Any, *, retry_after: float | None) -> None:
        super().__init__("the platform asked to be called again later")
        self.answer = answer
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait between tries of a call that raised a transient error.

    Fields (all times in seconds):

    * `attempts`: tries in all, the first included (1 = never retry).
    * `backoff`: the pause after the first failed try; it doubles per try
      (`backoff * 2 ** (failures - 1)`), capped at `cap`.
    * `jitter`: the backoff is multiplied by a factor drawn uniformly from
      this (low, high) range; `(1.0, 1.0)` means no jitter.
    * `retry_after_jitter`: the same for a platform's `Retry-After`, whose
      low end must stay at or above 1.0 so that it is never undercut.
    * `max_retry_after`: a `Retry-After` above this is not slept through
      (the error goes back to the caller at once).
    * `budget`: total seconds one `call` may sleep; a pause that would pass
      it gives up instead. None = no budget.
    * `zero_retry_after`: a `Retry-After` of 0 means "again at once"; when
      False it counts as no `Retry-After` and the backoff applies.
    * `budget_floor`: each pause counts at least this against `budget`, so
      that a run of zero-second `Retry-After`s cannot retry for ever.
    * `sleep`, `random`: injected for tests (`time.sleep`, `random.random`).
    """

    attempts: int = 4
    backoff: float = 0.2
    cap: float = 30.0
    jitter: tuple[float, float] = (0.5, 1.0)
    retry_after_jitter: tuple[float, float] = (1.0, 1.0)
    max_retry_after: float = 30.0
    budget: float | None = None
    budget_floor: float = 0.0
    zero_retry_after: bool = False
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random

    @classmethod
    def transient(
        cls,
        *,
        attempts: int,
        backoff: float,
        sleep: Callable[[float], None],
        max_retry_after: float = 30.0,
    ) -> RetryPolicy:
        """The clients' policy for 429s and outages: `backoff` doubled per try
        without a cap, jittered by (0.5, 1.0); a `Retry-After` (0 included)
        is slept as sent unless it is above `max_retry_after`."""
        return cls(
            attempts=attempts,
            backoff=backoff,
            cap=math.inf,
            max_retry_after=max_retry_after,
            zero_retry_after=True,
            sleep=sleep,
        )

    @classmethod
    def throttle(
        cls,
        *,
        wait: float,
        attempts: int,
        sleep: Callable[[float], None],
        budget: float | None = None,
        budget_floor: float = 0.0,
    ) -> RetryPolicy:
        """A policy for `TryAgain` answers only: each waited out exactly as
        its `Retry-After` says (0 is no wait; no backoff, no jitter) while
        that is at most `wait` seconds."""
        return cls(
            attempts=attempts,
            backoff=0.0,
            jitter=(1.0, 1.0),
            max_retry_after=wait,
            budget=budget,
            budget_floor=budget_floor,
            sleep=sleep,
        )

    @classmethod
    def budgeted_throttle(cls, *, wait: float, sleep: Callable[[float], None]) -> RetryPolicy:
        """`throttle` for as many tries as fit a budget of `wait` seconds in
        all, each try counted as at least 0.1 s (so a `Retry-After` of 0
        cannot loop for ever): Exact Online's 429s (QuickBooks' client spells
        out the same policy)."""
        return cls.throttle(
            wait=wait, attempts=sys.maxsize, budget=wait, budget_floor=0.1, sleep=sleep
        )

    def with_sleep(self, sleep: Callable[[float], None]) -> RetryPolicy:
        """The same policy sleeping through `sleep`."""
        return replace(self, sleep=sleep)

    def pause(self, *, failures: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after the `failures`-th failed try (1-based), or
        None to give up: all `attempts` are used, or the platform asked to
        wait longer than `max_retry_after`."""
        if failures >= self.attempts:
            return None
        if retry_after is not None and retry_after > self.max_retry_after:
            return None
        if retry_after or (retry_after == 0 and self.zero_retry_after):
            low, high = self.retry_after_jitter
            return retry_after * (low + (high - low) * self.random())
        low, high = self.jitter
        base = min(self.cap, self.backoff * 2 ** (failures - 1))
        return base * (low + (high - low) * self.random())

    def too_long(self, retry_after: float | None) -> bool:
        """Whether a `Retry-After` of this many seconds is left to the next run."""
        return retry_after is not None and retry_after > self.max_retry_after

    def call(
        self,
        fn: Callable[[], T],
        *,
        retry_on: tuple[type[BaseException], ...] = (TransientError,),
        on_retry: Callable[[BaseException, float], None] | None = None,
    ) -> T:
        """`fn()`, tried up to `attempts` times while it raises one of
        `retry_on` or `TryAgain`; the last error (or one whose `retry_after`
        is too long, or whose pause would pass the budget) is raised
        unchanged, or for `TryAgain` its answer is returned.
        `on_retry(error, pause)` is told of each retry before its sleep."""
        retryable: tuple[type[BaseException], ...] = (TryAgain, *retry_on)
        failures = 0
        slept = 0.0
        while True:
            try:
                return fn()
            except retryable as error:
                failures += 1
                wait = self.pause(
                    failures=failures, retry_after=getattr(error, "retry_after", None)
                )
                if wait is None or (self.budget is not None and slept + wait > self.budget):
                    if isinstance(error, TryAgain):
                        return error.answer  # type: ignore[no-any-return]
                    raise
                if on_retry is not None:
                    on_retry(error, wait)
                self.sleep(wait)
                slept += max(wait, self.budget_floor)


class Answer(Protocol):
    status_code: int


A = TypeVar("A", bound=Answer)


class RefreshOnce:
    """The bearer token of one logical call, refreshed at most once.

    `send(request, revoked)` calls `request(token)`; when the platform answers
    401 (the token expired early or was revoked) it asks the `TokenSource`
    for a fresh one (`refresh_now`, which serialises refreshes across
    workers) and calls again. A 401 after the refresh, in this send or any
    later one through the same object (e.g. a retried try), raises
    `revoked(answer)`, typically `CredentialsRevoked`."""

    def __init__(self, tokens: TokenSource) -> None:
        self.tokens = tokens
        self.token = tokens.access_token()
        self.refreshed = False

    def send(self, request: Callable[[str], A], revoked: Callable[[A], Exception]) -> A:
        answer = request(self.token)
        if answer.status_code != 401:
            return answer
        if self.refreshed:
            raise revoked(answer)
        self.token = self.tokens.refresh_now(rejected=self.token)
        self.refreshed = True
        answer = request(self.token)
        if answer.status_code == 401:
            raise revoked(answer)
        return answer


def bearer_send(
    request: Callable[[str], A],
    *,
    tokens: TokenSource,
    throttle: RetryPolicy,
    retry_after: Callable[[A], float | None],
    revoked: Callable[[A], Exception],
    on_throttle: Callable[[BaseException, float], None] | None = None,
) -> A:
    """`request(token)` with the connection's bearer token: a 429 answer with
    a `retry_after(answer)` that `throttle` accepts is waited out and sent
    again (`on_throttle` told of each wait); a 401 refreshes the token once
    (`RefreshOnce`, `revoked(answer)` raised on a second 401). Returns the
    last answer, which may still be a 429 for the caller to raise."""

    def attempt(token: str) -> A:
        answer = request(token)
        wait = retry_after(answer) if answer.status_code == 429 else None
        if wait is not None:
            raise TryAgain(answer, retry_after=wait)
        return answer

    return RefreshOnce(tokens).send(
        lambda token: throttle.call(lambda: attempt(token), retry_on=(), on_retry=on_throttle),
        revoked,
    )


def refreshed_get(
    send: Callable[[str], requests.Response],
    *,
    retries: RetryPolicy,
    tokens: TokenSource | None,
    api_key: str = "",
    platform: str,
    path: str,
    refused: str,
    revoked: Callable[[int], str],
    decode: Callable[[requests.Response], T],
) -> T:
    """One logical GET of a read-only source: `send(bearer)` sends it with
    the bearer token of `tokens` (a 401 refreshes it once through
    `RefreshOnce`; a second 401 raises `CredentialsRevoked(refused)`) or,
    with no `tokens`, with `api_key`. The answer's status is read by
    `answer_error` (`platform` its display name, `path` the call, a 401 or
    403 `CredentialsRevoked(revoked(status))`), a success by `decode`.
    Transient faults are retried by `retries`; raises `RateLimited`,
    `PlatformUnavailable`, `CredentialsRevoked` or `DataProcessingError`."""
    refresh = RefreshOnce(tokens) if tokens is not None else None  # one refresh per call

    def once() -> T:
        if refresh is None:
            response = send(api_key)
        else:
            response = refresh.send(send, lambda _: CredentialsRevoked(refused))
        status = response.status_code
        error = answer_error(
            status,
            response.headers.get("Retry-After"),
            platform=platform,
            what=path,
            revoked=revoked(status),
        )
        if error is not None:
            raise error
        return decode(response)

    return retries.call(once, retry_on=(RateLimited, PlatformUnavailable))


class Transport(TypedDict, total=False):
    """The keyword options every `SourceClient` takes: `timeout` of one
    request in seconds (default 20), `attempts` per call (4), `backoff` in
    seconds before the second try (0.5, doubled per try), the HTTP `session`
    (a new one) and `sleep` (`time.sleep`; tests inject a recorder)."""

    timeout: float
    attempts: int
    backoff: float
    session: requests.Session | None
    sleep: Callable[[float], None]


class SourceClient:
    """What the read-only source clients (Clover, Lightspeed K-Series,
    SumUp, Stripe) keep: the API's `base_url` (without a trailing slash), the
    `timeout` of one request in seconds, the `page_size` of their lists, the
    `retries` of transient faults (`RetryPolicy.transient`; a `Retry-After`
    above `max_retry_after` seconds is not waited) and the HTTP `session`
    (`Transport` lists the options and their defaults). `calls` counts HTTP
    requests sent (retries included). A subclass sets `platform`, its
    display name."""

    platform = ""

    def __init__(
        self,
        *,
        base_url: str,
        page_size: int,
        timeout: float = 20.0,
        attempts: int = 4,
        backoff: float = 0.5,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retry_after: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.page_size = page_size
        self.retries = RetryPolicy.transient(
            attempts=attempts, backoff=backoff, max_retry_after=max_retry_after, sleep=sleep
        )
        self.session = session or requests.Session()
        self.calls = 0

    def _bearer_get(
        self,
        path: str,
        params: Any,
        bearer: str,
        *,
        limiters: tuple[tuple[RateLimiter, str], ...] = (),
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """One GET of `path` (below `base_url`) through `bearer_get`, counted
        in `calls`, holding a slot of each of `limiters` while it runs;
        `headers` any further ones. Raises `PlatformUnavailable` (no answer)
        or what a limiter raises (`RateLimited`)."""
        with held_slots(limiters):
            self.calls += 1
            return bearer_get(
                self.session,
                self.base_url + path,
                params=params,
                bearer=bearer,
                timeout=self.timeout,
                platform=self.platform,
                path=path,
                headers=headers,
            )


class ThrottledTargetClient:
    """What the MYOB and Sage target clients keep: the API's `base_url`
    (without a trailing slash), the connection's `tokens`, the shared
    `limiter` and the `limit_key` its slots are counted under, the `timeout`
    of one request in seconds, the HTTP `session`, and `throttle`: 429s
    waited out while one call's waits add up to at most `throttle_wait`
    seconds (`RetryPolicy.throttle`; past that the call goes up as
    `RateLimited`). `calls` counts HTTP calls made, `throttled` the 429s
    waited out."""

    def __init__(
        self,
        *,
        base_url: str,
        tokens: TokenSource,
        limiter: RateLimiter,
        limit_key: str,
        timeout: float,
        session: requests.Session | None,
        throttle_wait: float,
        sleep: Callable[[float], None],
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.limiter = limiter
        self.limit_key = limit_key
        self.timeout = timeout
        self.session = session or requests.Session()
        self.throttle = RetryPolicy.throttle(
            wait=throttle_wait,
            attempts=sys.maxsize,
            budget=throttle_wait,
            budget_floor=0.1,
            sleep=sleep,
        )
        self.calls = 0
        self.throttled = 0
