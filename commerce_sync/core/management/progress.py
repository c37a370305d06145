"""A progress bar for long operator commands, drawn only on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(
        self, total: int, label: str, stream: TextIO | None = None, width: int = 30
    ) -> None:
        self.total, self.label, self.width = max(total, 1), label, width
        self.stream = stream or sys.stderr
        self.enabled = total > 1 and self.stream.isatty()
        self.done = 0
        self.began = time.monotonic()

    def advance(self, note: str = "") -> None:
        self.done += 1
        if not self.enabled:
            return
        filled = round(self.width * self.done / self.total)
        elapsed = time.monotonic() - self.began
        eta = elapsed / self.done * (self.total - self.done)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(
            f"\r{self.label} [{bar}] {self.done}/{self.total} eta {eta:4.0f}s {note[:30]:<30}"
        )
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()
