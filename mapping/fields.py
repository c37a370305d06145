"""Field readers of the checked parser: one JSON value in, one typed value out.

Each raises `BadField` with a message naming the field; the record readers in
`mapping.parsing` prefix where the field sits (`orderLineItems[2].totalAmount`)
and turn it into a MappingError.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from mapping.canonical import ZERO, TaxPart
from mapping.errors import shown as json_repr

_MAX_AMOUNT = Decimal("1e15")


class BadField(Exception):
    """Raised by every reader here for a field-level problem; the record
    parser adds where it happened."""


def amount(value: Any, name: str) -> Decimal:
    """A money or quantity value from JSON, as an exact Decimal. Raises
    BadField unless it is a finite number below 10^15 in magnitude."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or value is None:
        raise BadField(f"{name} must be a number, got {json_repr(value)}")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))  # the shortest text that reads back as this float
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise BadField(f"{name} must be a number, got {json_repr(value)}") from None
    else:
        raise BadField(f"{name} must be a number, got {json_repr(value)}")
    if not result.is_finite() or result.copy_abs() >= _MAX_AMOUNT:  # abs() would overflow
        raise BadField(f"{name} must be a finite amount below 10^15, got {json_repr(value)}")
    return result


def optional_amount(record: Mapping[str, Any], key: str) -> Decimal:
    """`record[key]` as an amount; zero when absent or null."""
    value = record.get(key)
    return ZERO if value is None else amount(value, key)


def optional_text(record: Mapping[str, Any], key: str) -> str | None:
    """`record[key]` as a string (integers allowed); None when absent or empty."""
    value = record.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise BadField(f"{key} must be a string, got {json_repr(value)}")
    return str(value)


def text(record: Mapping[str, Any], key: str) -> str:
    """`record[key]` as a string (integers allowed); BadField when absent or empty."""
    value = optional_text(record, key)
    if value is None:
        raise BadField(f"{key} is missing")
    return value


def ref_id(record: Mapping[str, Any], key: str) -> str | None:
    """The id of a reference object such as `{"id": "L1"}`, or None."""
    ref = record.get(key)
    if ref is None:
        return None
    if not isinstance(ref, Mapping):
        raise BadField(f"{key} must be an object with an id, got {json_repr(ref)}")
    return optional_text(ref, "id")


def choice(record: Mapping[str, Any], key: str, allowed: frozenset[str]) -> str:
    """`record[key]`, which must be one of `allowed` (a Codat enumeration)."""
    value = text(record, key)
    if value not in allowed:
        raise BadField(f"{key} {json_repr(value)} is not one of {', '.join(sorted(allowed))}")
    return value


def currency_code(record: Mapping[str, Any], key: str = "currency") -> str:
    """An ISO 4217 code of three letters, upper-cased."""
    value = text(record, key)
    if len(value) != 3 or not value.isalpha():
        raise BadField(f"{key} must be an ISO 4217 code such as GBP, got {json_repr(value)}")
    return value.upper()


def parse_instant(value: Any, tz: ZoneInfo, name: str = "createdDate") -> datetime:
    """An ISO 8601 datetime, returned in UTC; without an offset it is local to
    the merchant (`tz`)."""
    if not isinstance(value, str):
        raise BadField(f"{name} must be an ISO 8601 date-time string, got {json_repr(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadField(f"{name} is not an ISO 8601 date-time: {json_repr(value)}") from None
    # In UTC, so that comparisons and differences are exact on DST days.
    try:
        return (parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)).astimezone(UTC)
    except OverflowError:
        raise BadField(f"{name} {json_repr(value)} is out of range") from None


def optional_instant(record: Mapping[str, Any], key: str, tz: ZoneInfo) -> datetime | None:
    """`record[key]` as an instant (see `parse_instant`), or None."""
    value = record.get(key)
    return None if value is None else parse_instant(value, tz, key)


def tax_parts(items: Any, where: str, line_tax: Any = None) -> tuple[TaxPart, ...]:
    """A line's Codat `taxes` list (component reference and amount each).

    An entry whose amount (`rate`) is null takes the line's tax amount
    (`line_tax`) when it is the line's only component; with several, the
    share of each cannot be known and the line is refused (BadField)."""
    if not items:
        return ()
    if not isinstance(items, list):
        raise BadField(f"{where}taxes must be a list")
    parts = []
    for index, item in enumerate(items):
        if isinstance(item, Mapping) and item.get("rate") is None:
            if len(items) > 1:
                raise BadField(
                    f"{where}taxes[{index}].rate (the component's tax amount) is null and the "
                    f"line has {len(items)} tax components: which share is whose cannot be "
                    "told; send each component's amount"
                )
            item = {**item, "rate": ZERO if line_tax is None else line_tax}
        if not isinstance(item, Mapping):
            raise BadField(f"{where}taxes[{index}] must be an object")
        ref = item.get("taxComponentRef") or {}
        if not isinstance(ref, Mapping):
            raise BadField(f"{where}taxes[{index}].taxComponentRef must be an object")
        component = ref.get("id")
        name = ref.get("name") or component or "tax"
        parts.append(
            TaxPart(
                None if component is None else str(component),
                str(name),
                amount(item.get("rate"), f"{where}taxes[{index}].rate"),
            )
        )
    return tuple(parts)


def list_field(record: Mapping[str, Any], key: str) -> list[Any]:
    """`record[key]`, which must be a list; empty when absent or null."""
    value = record.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadField(f"{key} must be a list, got {json_repr(value)}")
    return value
