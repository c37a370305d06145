"""Bursts of writes from several workers through the shared rate limiter
(test code): what the accounting connectors' limit tests share."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def writes_from_workers(
    make_target: Callable[[Any], Any],
    limits: Any,
    document_for: Callable[[str], dict[str, Any]],
    *,
    workers: int,
    writes: int,
) -> list[Any]:
    """`workers` threads, each with its own database connection, limiter
    (`DatabaseRateLimiter(limits)`) and target (`make_target(limiter)`), as
    separate worker processes would be, writing `writes` documents each
    (`document_for(key)`); per worker ([document ids], 429s waited out) or
    the exception it raised."""
    from django.db import connection

    from connectors.limits import DatabaseRateLimiter

    results: list[Any] = [None] * workers

    def work(index: int) -> None:
        try:
            target = make_target(DatabaseRateLimiter(limits, poll_seconds=0.01))
            keys = [f"m1:2026-11-02:transfer:W{index}-{n}" for n in range(writes)]
            results[index] = (
                [target.write_document(key=k, document=document_for(k)) for k in keys],
                target.client.throttled,
            )
        except Exception as error:  # reported by the caller's assertions
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    return results
