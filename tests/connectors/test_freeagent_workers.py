"""FreeAgent under several processes: two workers share its per-user
windows (120 a minute, 3,600 an hour; 5 token refreshes a minute) through
the database limiter, and a writer killed with SIGKILL at any moment leaves
every document in FreeAgent exactly once after the next run."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import signal
import time
from typing import Any

import pytest
from django.db import connections

from commerce_sync.errors import RateLimited
from connectors.freeagent.adapter import FreeAgentTarget, freeagent_limits
from connectors.freeagent.client import FreeAgentClient
from connectors.freeagent.oauth import FreeAgentOAuthClient
from connectors.limits import DatabaseRateLimiter, RateLimits
from connectors.models import RateLimitCall
from tests.connectors.test_freeagent import (
    TRANSIT,
    FixedTokens,
    assert_books_match,
    markers_once,
    scenario_documents,
    uk_company,
)
from tests.connectors.test_limits import _in_threads, postgres_only
from tests.doubles.freeagent_double import FreeAgentDouble


def test_the_limits_are_freeagents() -> None:
    minute, hour = freeagent_limits()
    assert (minute.calls, hour.calls) == (120, 3600)
    assert minute.window_seconds >= 60 and hour.window_seconds >= 3600


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_stay_inside_both_windows(settings: Any) -> None:
    """Both windows scaled down (5 calls per 0.6 s, 16 per minute): two
    workers asking 12 calls each get 16 through, never more than 5 within
    the double's 0.4 s, and the rest are refused as RateLimited, not sent."""
    minute = RateLimits(calls=5, window_seconds=0.6)
    hour = RateLimits(calls=16, window_seconds=60)
    with FreeAgentDouble(uk_company()) as double:

        def worker(_: int) -> None:
            client = FreeAgentClient(
                api_url=double.api_url,
                tokens=FixedTokens(),
                user_agent="CommerceSync-tests",
                limiters=[
                    (DatabaseRateLimiter(minute, max_wait=5), "freeagent:user"),
                    (DatabaseRateLimiter(hour, max_wait=0.2), "freeagent-hour:user"),
                ],
            )
            target = FreeAgentTarget(client)
            for _ in range(12):
                target.base_currency()

        errors = _in_threads(2, worker)
        assert errors and all(isinstance(e, RateLimited) for e in errors)
        assert len(double.arrivals) == 16
        assert double.max_calls_within(0.4) <= minute.calls
        # Each call took a slot of both windows (no slot leaked by a refused call).
        assert RateLimitCall.objects.filter(key="freeagent-hour:user").count() == 16
        assert double.violations == []


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_token_refreshes_are_limited_to_five_a_minute(settings: Any) -> None:
    with FreeAgentDouble(uk_company()) as double:
        settings.FREEAGENT_API_URL = double.api_url
        settings.FREEAGENT_CLIENT_ID = "client-id"
        settings.FREEAGENT_CLIENT_SECRET = "client-secret"
        oauth = FreeAgentOAuthClient(
            limiter=DatabaseRateLimiter(RateLimits(calls=5, window_seconds=61), max_wait=0),
            limit_key="freeagent-refresh:c1",
        )
        for _ in range(5):
            oauth.refresh(double.refresh_token)
        with pytest.raises(RateLimited):
            oauth.refresh(double.refresh_token)
        assert double.refreshes == 5


def _write_in_child(api_url: str, items: list[Any]) -> None:
    client = FreeAgentClient(api_url=api_url, tokens=FixedTokens(), user_agent="child")
    FreeAgentTarget(client, transit_category=TRANSIT).write_documents(items)


@pytest.mark.parametrize("name", ["uk-cafe-invoice.json", "uk-cafe-journal.json"])
def test_a_writer_killed_at_any_moment_leaves_each_document_once(name: str) -> None:
    documents, expected, _ = scenario_documents(name)
    items = [(d["key"], d) for d in documents]
    ctx = multiprocessing.get_context("fork")
    rng = random.Random(17)  # noqa: S311
    killed = 0
    for trial in range(6):
        with FreeAgentDouble(scenario_documents(name)[2], delay=0.004) as double:
            connections.close_all()  # the child must not share the parent's sessions
            child = ctx.Process(target=_write_in_child, args=(double.api_url, items))
            child.start()
            kill_after = rng.randint(0, len(items) - 1)
            deadline = time.monotonic() + 10
            while double.writes < kill_after and child.is_alive():
                assert time.monotonic() < deadline, "the child made no progress"
                time.sleep(0.001)
            time.sleep(rng.uniform(0, 0.01))
            if child.pid is not None and child.is_alive():
                with contextlib.suppress(ProcessLookupError):  # it may just have finished
                    os.kill(child.pid, signal.SIGKILL)
            child.join(5)
            killed += child.exitcode == -signal.SIGKILL
            client = FreeAgentClient(
                api_url=double.api_url, tokens=FixedTokens(), user_agent="rerun"
            )
            results = FreeAgentTarget(client, transit_category=TRANSIT).write_documents(items)
            assert all(isinstance(v, str) for v in results.values()), (trial, results)
            assert_books_match(double, expected)
            assert markers_once(double), trial
        assert double.violations == []
    assert killed >= 2  # trials did die mid-write
