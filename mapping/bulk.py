"""Pausing Python's cyclic garbage collector while the engine works.

A large day allocates millions of small objects (dicts from JSON, records,
Decimals). CPython's cyclic collector walks the young generations again and
again as they grow, which took more than half the time of a 100,000-order
day. Nothing the engine builds forms a reference cycle (frozen values,
tuples, dicts of sums), so reference counting frees all of it and the pause
loses nothing. The collector is restored however the block ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
