"""What the engine reports: refusals (errors) and things worth a look (warnings)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    code: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class MappingError(Exception):
    """The engine's only exception: the input cannot be mapped, and why.

    `issues` lists every problem found, so a merchant fixes them in one go.
    """

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("; ".join(issue.message for issue in issues))


def shown(value: object) -> str:
    """A value quoted in a message, cut short: bad input can be huge."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def refuse(code: str, message: str) -> MappingError:
    return MappingError([Issue(code, message)])
