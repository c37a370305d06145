"""Codat's `query` and `orderBy` list parameters, parsed and applied.

Codat lets a client filter a list with a small expression language
(`Codat-Sync-Commerce.yaml`, `components.parameters.query`, e.g.
`id=e3334455-1aed-4e71-ab43-6bccf12092ee`). This module supports:

* conditions `field OP value` with OP one of `=`, `!=`, `~` (contains),
  `>`, `<`, `>=`, `<=` (the last four on dates only);
* `&&` and `||`, `&&` binding tighter than `||`, and grouping with `{ }` or
  `( )`;
* values bare (up to the next `&&`, `||`, `}` or `)`, trimmed) or in double
  quotes for values holding those (`name="a && b"`, `\\"` for a quote inside).

Strings compare case-insensitively. A date value is ISO 8601: a bare date
(`2024-03-01`) means that whole UTC day for `=`/`!=` and its midnight UTC
for the comparisons. Anything else (unknown field, operator not allowed on
the field, unbalanced brackets, a missing value) raises `QueryError` with a
message naming the problem and where it is.

`orderBy` is a field name, `-` in front for descending; `order_by_parse`
checks it against the same field table.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from django.db.models import Q

Kind = Literal["string", "uuid", "datetime", "bool"]
OPERATORS = ("!=", ">=", "<=", "=", "~", ">", "<")  # longest first for the scanner
_COMPARISONS = {">": "gt", "<": "lt", ">=": "gte", "<=": "lte"}


class QueryError(ValueError):
    """A `query` or `orderBy` value that cannot be understood; `str()` is the
    message for the client."""


@dataclass(frozen=True)
class Field:
    """A field clients may filter and order by: its type and where it lives
    (`lookup`: an ORM path for querysets, a dict key for in-memory lists)."""

    kind: Kind
    lookup: str


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str
    value: str


@dataclass(frozen=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]


Node = Condition | And | Or


class _Parser:
    def __init__(self, text: str, fields: Mapping[str, Field]) -> None:
        self.text = text
        self.fields = fields
        self.pos = 0

    def error(self, message: str) -> QueryError:
        return QueryError(f"Malformed query: {message} (at character {self.pos + 1}).")

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at(self, token: str) -> bool:
        self.skip_spaces()
        return self.text.startswith(token, self.pos)

    def parse(self) -> Node:
        node = self.expression(closing=None)
        self.skip_spaces()
        if self.pos < len(self.text):
            raise self.error(f"unexpected {self.text[self.pos]!r}")
        return node

    def expression(self, closing: str | None) -> Node:
        parts = [self.conjunction(closing)]
        while self.at("||"):
            self.pos += 2
            parts.append(self.conjunction(closing))
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def conjunction(self, closing: str | None) -> Node:
        parts = [self.term(closing)]
        while self.at("&&"):
            self.pos += 2
            parts.append(self.term(closing))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def term(self, closing: str | None) -> Node:
        self.skip_spaces()
        for opening, close in (("{", "}"), ("(", ")")):
            if self.at(opening):
                self.pos += 1
                node = self.expression(closing=close)
                if not self.at(close):
                    raise self.error(f"expected {close!r} to close the group")
                self.pos += 1
                return node
        return self.condition(closing)

    def condition(self, closing: str | None) -> Node:
        self.skip_spaces()
        start = self.pos
        while self.pos < len(self.text) and (
            self.text[self.pos].isalnum() or self.text[self.pos] in "_."
        ):
            self.pos += 1
        name = self.text[start : self.pos]
        if not name:
            raise self.error("expected a field name")
        if name not in self.fields:
            self.pos = start
            raise self.error(
                f"could not resolve property {name!r}; use one of {', '.join(sorted(self.fields))}"
            )
        self.skip_spaces()
        operator = next((op for op in OPERATORS if self.text.startswith(op, self.pos)), None)
        if operator is None:
            raise self.error(f"expected an operator ({', '.join(OPERATORS)}) after {name!r}")
        self.pos += len(operator)
        value = self.value(closing)
        field = self.fields[name]
        if operator in _COMPARISONS and field.kind != "datetime":
            raise self.error(f"operator {operator!r} applies to dates only, not to {name!r}")
        if operator == "~" and field.kind not in ("string", "uuid"):
            raise self.error(f"operator '~' (contains) applies to text, not to {name!r}")
        if field.kind == "datetime":
            _parse_datetime(value, name)  # refuse a bad date now, not at evaluation
        if field.kind == "bool" and value.lower() not in ("true", "false"):
            raise self.error(f"{name!r} is true or false, not {value!r}")
        return Condition(name, operator, value)

    def value(self, closing: str | None) -> str:
        self.skip_spaces()
        if self.at('"'):
            self.pos += 1
            chars: list[str] = []
            while self.pos < len(self.text):
                char = self.text[self.pos]
                if char == "\\" and self.pos + 1 < len(self.text):
                    chars.append(self.text[self.pos + 1])
                    self.pos += 2
                    continue
                if char == '"':
                    self.pos += 1
                    return "".join(chars)
                chars.append(char)
                self.pos += 1
            raise self.error("unterminated quoted value")
        start = self.pos
        stops = ["&&", "||", "}", ")"]
        while self.pos < len(self.text) and not any(
            self.text.startswith(stop, self.pos) for stop in stops
        ):
            self.pos += 1
        value = self.text[start : self.pos].strip()
        if not value:
            raise self.error("expected a value")
        return value


def query_parse(text: str, fields: Mapping[str, Field]) -> Node | None:
    """The parsed `query` (None when blank); `QueryError` when malformed."""
    if not text or not text.strip():
        return None
    if len(text) > 2000:
        raise QueryError("Malformed query: longer than 2000 characters.")
    if "\x00" in text:
        raise QueryError("Malformed query: it contains a NUL character.")
    return _Parser(text, fields).parse()


def _parse_datetime(value: str, name: str) -> tuple[datetime, bool]:
    """(instant, whole day?) for a date or date-time value; naive means UTC."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if not 1 < day.year < 9999:
                raise ValueError(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC), True
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(
            f"Malformed query: {value!r} is not a date for {name!r} (use 2024-03-01 or 2024-03-01T12:00:00Z)."
        ) from None
    if not 1 < moment.year < 9999:  # + a day, or to UTC, must not overflow
        raise QueryError(
            f"Malformed query: {value!r} is out of range for {name!r} (years 2 to 9998)."
        )
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), False


def _condition_q(condition: Condition, field: Field) -> Q:
    path, op, value = field.lookup, condition.operator, condition.value
    if field.kind == "datetime":
        moment, whole_day = _parse_datetime(value, condition.field)
        if op in ("=", "!="):
            q = (
                Q(**{f"{path}__gte": moment, f"{path}__lt": moment + timedelta(days=1)})
                if whole_day
                else Q(**{path: moment})
            )
            return ~q if op == "!=" else q
        return Q(**{f"{path}__{_COMPARISONS[op]}": moment})
    if field.kind == "uuid" and op in ("=", "!="):
        try:
            q = Q(**{path: uuid.UUID(value)})
        except ValueError:
            q = Q(pk__in=[])  # not an id: nothing has it
        return ~q if op == "!=" else q
    if field.kind == "bool":
        q = Q(**{path: value.lower() == "true"})
        return ~q if op == "!=" else q
    if op == "~":
        return Q(**{f"{path}__icontains": value})
    q = Q(**{f"{path}__iexact": value})
    return ~q if op == "!=" else q


def query_q(node: Node | None, fields: Mapping[str, Field]) -> Q:
    """A Django `Q` selecting the rows `node` matches (all rows for None)."""
    if node is None:
        return Q()
    if isinstance(node, Condition):
        return _condition_q(node, fields[node.field])
    combined = Q()
    for index, part in enumerate(node.parts):
        q = query_q(part, fields)
        if index == 0:
            combined = q
        elif isinstance(node, And):
            combined &= q
        else:
            combined |= q
    return combined


def _condition_matches(condition: Condition, field: Field, row: Mapping[str, Any]) -> bool:
    actual = row.get(field.lookup)
    op, value = condition.operator, condition.value
    if field.kind == "bool":
        result = bool(actual) == (value.lower() == "true")
        return result if op == "=" else not result
    if field.kind == "datetime":
        moment, whole_day = _parse_datetime(value, condition.field)
        if not isinstance(actual, datetime):
            return op == "!="
        if op in ("=", "!="):
            equal = (
                (moment <= actual < moment + timedelta(days=1)) if whole_day else actual == moment
            )
            return equal if op == "=" else not equal
        return {
            ">": actual > moment,
            "<": actual < moment,
            ">=": actual >= moment,
            "<=": actual <= moment,
        }[op]
    text = "" if actual is None else str(actual).lower()
    if op == "~":
        return value.lower() in text
    equal = text == value.lower()
    return equal if op == "=" else not equal


def query_matches(node: Node | None, fields: Mapping[str, Field], row: Mapping[str, Any]) -> bool:
    """Whether an in-memory `row` (a dict keyed by the fields' lookups) matches."""
    if node is None:
        return True
    if isinstance(node, Condition):
        return _condition_matches(node, fields[node.field], row)
    results = (query_matches(part, fields, row) for part in node.parts)
    return all(results) if isinstance(node, And) else any(results)


def order_by_parse(text: str, fields: Mapping[str, Field]) -> tuple[str, bool] | None:
    """(field lookup, descending?) for an `orderBy` such as `-createdDate`;
    None when blank; `QueryError` for an unknown field."""
    text = (text or "").strip()
    if not text:
        return None
    descending = text.startswith("-")
    name = text.lstrip("-+").strip()
    if name not in fields:
        raise QueryError(
            f"Cannot order by {name!r}: use one of {', '.join(sorted(fields))}, "
            "with '-' in front for descending."
        )
    return fields[name].lookup, descending


def order_rows(
    rows: Sequence[Mapping[str, Any]],
    order: tuple[str, bool] | None,
    tiebreak: str,
) -> list[Mapping[str, Any]]:
    """In-memory rows sorted as `order` says (then by `tiebreak`)."""
    key: Callable[[Mapping[str, Any]], Any] = lambda row: str(row.get(tiebreak, ""))  # noqa: E731
    ordered = sorted(rows, key=key)
    if order is not None:
        lookup, descending = order
        ordered.sort(key=lambda row: _sortable(row.get(lookup)), reverse=descending)
    return ordered


def _sortable(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | float):
        return (1, value)
    if isinstance(value, datetime):
        return (2, value.timestamp())
    return (3, str(value).lower())
