"""What a run gathers while it works: counters, phase timings, messages.

The run stores all three on its `SyncRun` row when it ends; the portal and
the partner API show them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunTrace:
    """Counters, timings and messages of one run.

    * `counters`: nested dicts of counts (`records_read`, `records`,
      `documents`, `push_items`, `api_calls` per platform key).
    * `timings`: seconds per phase (`read`, `store`, `map`, `validate`,
      `push`, `retry`), rounded to 0.1 ms, summed when a phase repeats.
    * `messages`: `{"level", "code", "message"}` dicts in the order said;
      level is "error" or "warning", code an exception or issue name.
    """

    counters: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    messages: list[dict[str, str]] = field(default_factory=list)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block and add its seconds to `timings[name]`."""
        began = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - began, 4)

    def say(self, level: str, code: str, message: str) -> None:
        """Append a message for the merchant or support (level "error" or "warning")."""
        self.messages.append({"level": level, "code": code, "message": message})
