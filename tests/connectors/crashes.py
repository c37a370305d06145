"""Faults and SIGKILL against an accounting target's double (test code):
what the exactly-once tests of the one-call-per-document targets share."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from commerce_sync.errors import PlatformUnavailable, RateLimited

TRIALS = int(os.environ.get("CRASH_TRIALS", "6"))


def write_under_faults(
    double: Any,
    make_target: Callable[[], Any],
    documents: list[dict[str, Any]],
    fail_next: Callable[[], None],
) -> Counter[str]:
    """Write `documents` with fresh targets (`make_target()`) round after
    round until every one has an id, while some answers are lost after the
    write (`double.lose_next_answer`, always in the first round) and some
    calls fail (`fail_next()` scripts a 503). Returns the faults caused
    ("lost", "503", "rounds"); AssertionError when 50 rounds do not finish."""
    pending = {d["key"]: d for d in documents}
    chance = random.Random(17)  # noqa: S311 - a test's dice
    faults: Counter[str] = Counter()
    while pending and faults["rounds"] < 50:
        faults["rounds"] += 1
        double.lose_next_answer = faults["rounds"] == 1 or chance.random() < 0.5
        if chance.random() < 0.3:
            fail_next()
            faults["503"] += 1
        faults["lost"] += double.lose_next_answer
        try:
            results = make_target().write_documents(list(pending.items()))
        except (PlatformUnavailable, RateLimited):
            continue
        for key, outcome in results.items():
            if isinstance(outcome, str):
                pending.pop(key)
    assert not pending, pending
    return faults


def killed_writer_trials(
    open_double: Callable[[], Any],
    child: Callable[[Any], tuple[Callable[..., None], tuple[Any, ...]]],
    make_target: Callable[[Any], Any],
    documents: list[dict[str, Any]],
    check: Callable[[Any], None],
) -> int:
    """`TRIALS` times: a fresh double (`open_double()`, a context manager),
    a forked writer (`child(double)` -> (function, args)) SIGKILLed after
    20 to 200 ms, then a recovery run as the sync makes it (find each key,
    write what is missing, with `make_target(double)`) and `check(double)`.
    Returns how many writers were killed mid-way."""
    context = multiprocessing.get_context("fork")
    dice = random.Random(5)  # noqa: S311 - a test's dice
    killed = 0
    for _ in range(TRIALS):
        with open_double() as double:
            function, args = child(double)
            process = context.Process(target=function, args=args)
            process.start()
            time.sleep(dice.uniform(0.02, 0.2))
            if process.is_alive():
                os.kill(process.pid or 0, signal.SIGKILL)
                killed += 1
            process.join(10)
            recovery = make_target(double)
            for document in documents:
                if recovery.find_document(key=document["key"]) is None:
                    recovery.write_document(key=document["key"], document=document)
            check(double)
    return killed


def write_then_exit(
    make_target: Callable[[Any], Any], double: Any, documents: list[dict[str, Any]]
) -> None:
    """A forked writer for `killed_writer_trials` (as `child`: `lambda double:
    (write_then_exit, (make_target, double, documents))`): writes each of
    `documents` with `make_target(double)`, one at a time, then leaves the
    child process at once (`os._exit`: no test teardown runs in it)."""
    target = make_target(double)
    for document in documents:
        target.write_document(key=document["key"], document=document)
    os._exit(0)
