"""What the connector clients take from `connectors.retry`: 429 answers waited
out through `TryAgain`, the budget floor, and the one refresh after a 401."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from commerce_sync.errors import CredentialsRevoked, PlatformUnavailable, RateLimited
from connectors.retry import RefreshOnce, RetryPolicy, TryAgain, bearer_send


@dataclass
class Answer:
    status_code: int
    retry_after: float | None = None


@dataclass
class Tokens:
    values: list[str] = field(default_factory=lambda: ["stale", "fresh"])
    refreshed: list[str] = field(default_factory=list)

    def access_token(self) -> str:
        return self.values[0]

    def refresh_now(self, *, rejected: str) -> str:
        self.refreshed.append(rejected)
        self.values.pop(0)
        return self.values[0]


def _answers(*answers: Answer):
    queue = list(answers)
    sent: list[str] = []

    def request(token: str) -> Answer:
        sent.append(token)
        return queue.pop(0)

    return request, sent


def _revoked(answer: Answer) -> Exception:
    return CredentialsRevoked(f"refused ({answer.status_code})")


def test_try_again_waits_the_retry_after_and_hands_back_the_last_answer() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy.throttle(wait=5.0, attempts=3, sleep=sleeps.append)
    answers = iter([Answer(429, 0.5), Answer(429, 0.0), Answer(429, 1.0)])

    def attempt() -> Answer:
        answer = next(answers)
        raise TryAgain(answer, retry_after=answer.retry_after)

    last = policy.call(attempt, retry_on=())

    assert sleeps == [0.5, 0.0]  # exactly as asked, a zero included; then no tries left
    assert last == Answer(429, 1.0)


def test_a_retry_after_too_long_is_handed_back_at_once() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy.throttle(wait=5.0, attempts=6, sleep=sleeps.append)

    def attempt() -> Answer:
        raise TryAgain(Answer(429, 60.0), retry_after=60.0)

    assert policy.call(attempt, retry_on=()) == Answer(429, 60.0) and sleeps == []


def test_the_budget_floor_stops_zero_waits_from_looping_for_ever() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy.throttle(
        wait=1.0, attempts=1_000, budget=0.35, budget_floor=0.1, sleep=sleeps.append
    )

    def attempt() -> Answer:
        raise TryAgain(Answer(429, 0.0), retry_after=0.0)

    policy.call(attempt, retry_on=())

    assert sleeps == [0.0] * 4  # 0.1 s charged for each: the fourth passes 0.35 s


def test_transient_policy_backs_off_without_a_cap() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy.transient(attempts=8, backoff=10.0, sleep=sleeps.append)
    policy = RetryPolicy(**{**policy.__dict__, "jitter": (1.0, 1.0)})
    failures = iter(range(7))

    def flaky() -> str:
        if next(failures, None) is not None:
            raise PlatformUnavailable("down")
        return "up"

    assert policy.call(flaky) == "up"
    assert sleeps == [10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0]


def test_a_zero_retry_after_is_again_at_once_for_the_clients_only() -> None:
    sleeps: list[float] = []

    def limited() -> str:
        if len(sleeps) < 1:
            raise RateLimited("429", retry_after=0.0)
        return "ok"

    client = RetryPolicy.transient(attempts=2, backoff=1.0, sleep=sleeps.append)
    assert client.call(limited) == "ok" and sleeps == [0.0]
    sleeps.clear()
    push = RetryPolicy(attempts=2, backoff=1.0, jitter=(1.0, 1.0), sleep=sleeps.append)
    assert push.call(limited) == "ok" and sleeps == [1.0]  # no hint: its own backoff


def test_a_401_refreshes_once_and_sends_again() -> None:
    tokens = Tokens()
    request, sent = _answers(Answer(401), Answer(200))

    assert RefreshOnce(tokens).send(request, _revoked) == Answer(200)
    assert sent == ["stale", "fresh"] and tokens.refreshed == ["stale"]


def test_a_second_401_means_the_grant_is_gone_even_in_a_later_try() -> None:
    request, _ = _answers(Answer(401), Answer(401))
    with pytest.raises(CredentialsRevoked, match="401"):
        RefreshOnce(Tokens()).send(request, _revoked)

    token = RefreshOnce(Tokens())
    request, sent = _answers(Answer(401), Answer(503), Answer(401))
    assert token.send(request, _revoked) == Answer(503)  # refreshed, then an outage
    with pytest.raises(CredentialsRevoked):
        token.send(request, _revoked)  # the retried try: no second refresh
    assert sent == ["stale", "fresh", "fresh"]


def test_bearer_send_waits_out_429s_then_refreshes_on_401() -> None:
    sleeps: list[float] = []
    waited: list[float] = []
    tokens = Tokens()
    request, sent = _answers(Answer(429, 0.2), Answer(401), Answer(429, 9.0))

    last = bearer_send(
        request,
        tokens=tokens,
        throttle=RetryPolicy.throttle(wait=5.0, attempts=6, sleep=sleeps.append),
        retry_after=lambda answer: answer.retry_after,
        revoked=_revoked,
        on_throttle=lambda error, pause: waited.append(pause),
    )

    assert last == Answer(429, 9.0)  # too long to wait: the caller raises it
    assert sleeps == waited == [0.2]
    assert sent == ["stale", "stale", "fresh"] and tokens.refreshed == ["stale"]


def test_which_answers_are_transient() -> None:
    from connectors.retry import transient_error

    limited = transient_error(429, "3", platform="Square", what="/v2/locations")
    assert isinstance(limited, RateLimited) and limited.retry_after == 3.0
    assert limited.message == "Square is rate limiting (/v2/locations)"
    for status in (408, 500, 503):
        down = transient_error(status, None, platform="Square", what="/v2/payments")
        assert isinstance(down, PlatformUnavailable)
        assert down.message == f"Square failed ({status}) on /v2/payments"
    assert transient_error(400, None, platform="Square", what="x") is None
    assert transient_error(401, None, platform="Square", what="x") is None
