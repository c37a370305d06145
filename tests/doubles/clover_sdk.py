"""Clover's published data classes as a contract (test code).

Clover publishes no OpenAPI description. Its Android SDK's v3 data classes
(../shared/reference/clover/sdk-v3-models, Avro-generated Java) name every
JSON field of each object and how it is read: `BasicExtractionStrategy` of
`java.lang.String` / `Long` / `Integer` / `Boolean` / `Double`,
`EnumExtractionStrategy` of an enum class, `RecordExtractionStrategy` of
another data class, `RecordListExtractionStrategy` (a collection, sent by
the REST API as `{"elements": [...]}`), `MapExtractionStrategy`. Those
files are parsed here at test time (never copied) into `Model`s that check
a JSON value field by field.

What the REST API adds that the classes do not state, each seen in the
real responses in `samples/`:

* `href` on any object or collection (the object's URL);
* back-references `<something>Ref` holding `{"id": ...}` (`orderRef` on a
  line item, `lineItemRef` on a tax rate);
* a `Reference` field (`employee`, `item`, `payment`) whose target is
  inlined with more of that object's fields (the sample's employee has
  `name` and `role`): only its `id` is checked, the target class not being
  among the published files.

A field whose class is not among the published files is checked to be an
object (or a collection of objects), not field by field; an enum whose
class is absent (`PaymentState`, `RefundStatus`, `DiscType`) is checked to
be a string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tests.doubles.strict import REFERENCE

MODELS = REFERENCE / "clover" / "sdk-v3-models"
SAMPLES = REFERENCE / "clover" / "samples"
_FIELD = re.compile(
    r"^\s*(\w+)\s*\n\s*\(com\.clover\.sdk\.extractors\.(\w+)\.instance\(([^)]*)\)\)", re.M
)
BASIC = {
    "java.lang.String.class": (str,),
    "java.lang.Long.class": (int,),
    "java.lang.Integer.class": (int,),
    "java.lang.Boolean.class": (bool,),
    "java.lang.Double.class": (int, float),
}


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # basic, enum, record, list, map
    target: str = ""  # the Java type (basic), or the class name (enum, record, list)


def _class_name(argument: str) -> str:
    """`com.clover.sdk.v3.base.Reference.JSON_CREATOR` -> `Reference`."""
    parts = argument.replace(".JSON_CREATOR", "").replace(".class", "").split(".")
    return parts[-1]


@cache
def files() -> dict[str, Path]:
    return {path.stem: path for path in MODELS.glob("*/*.java")}


@cache
def enum_values(name: str) -> frozenset[str] | None:
    """The constants of a published enum class, or None when it is not published."""
    path = files().get(name)
    if path is None:
        return None
    found = re.search(r"public enum \w+[^{]*\{\s*([A-Z0-9_,\s]+);", path.read_text())
    if found is None:
        raise AssertionError(f"{path}: no enum constants found")
    return frozenset(x.strip() for x in found.group(1).split(",") if x.strip())


@cache
def model(name: str) -> dict[str, Field] | None:
    """The fields of a published data class (its `CacheKey` enum), or None."""
    path = files().get(name)
    if path is None:
        return None
    text = path.read_text()
    body = re.search(r"enum CacheKey implements[^{]*\{(.*?)\n\s*;", text, re.S)
    if body is None:
        return None  # an enum class, not a data class
    fields: dict[str, Field] = {}
    for field_name, strategy, argument in _FIELD.findall(body.group(1)):
        if strategy == "BasicExtractionStrategy":
            if not argument.startswith("java."):  # `Boolean.class` (java.lang implied)
                argument = f"java.lang.{argument}"
            if argument not in BASIC:
                raise AssertionError(f"{path}: {field_name} has unknown basic type {argument}")
            fields[field_name] = Field(field_name, "basic", argument)
        elif strategy == "EnumExtractionStrategy":
            fields[field_name] = Field(field_name, "enum", _class_name(argument))
        elif strategy == "RecordExtractionStrategy":
            fields[field_name] = Field(field_name, "record", _class_name(argument))
        elif strategy == "RecordListExtractionStrategy":
            fields[field_name] = Field(field_name, "list", _class_name(argument))
        elif strategy == "MapExtractionStrategy":
            fields[field_name] = Field(field_name, "map")
        else:
            raise AssertionError(f"{path}: {field_name} has unknown strategy {strategy}")
    if not fields:
        raise AssertionError(f"{path}: no fields found")
    return fields


def problems(class_name: str, value: Any, where: str) -> list[str]:
    """What in `value` breaks the published class `class_name`."""
    fields = model(class_name)
    if not isinstance(value, dict):
        return [f"{where}: a {class_name} must be an object, got {type(value).__name__}"]
    if fields is None:
        return []  # not published: an object is all that can be said
    found: list[str] = []
    for key, each in value.items():
        at = f"{where}.{key}"
        if key == "href":
            if not isinstance(each, str):
                found.append(f"{at}: href must be a string")
            continue
        spec = fields.get(key)
        if spec is None:
            if key.endswith("Ref") and isinstance(each, dict) and set(each) <= {"id", "href"}:
                continue  # a back-reference the REST API adds
            found.append(f"{at}: not a field of Clover's {class_name}")
            continue
        if each is None:
            continue  # Clover sends nulls for fields without a value
        found += _field_problems(spec, each, at)
    return found


def _field_problems(spec: Field, value: Any, at: str) -> list[str]:
    if spec.kind == "basic":
        allowed = BASIC[spec.target]
        if isinstance(value, bool) and bool not in allowed:
            return [f"{at}: {value!r} is not a {spec.target.split('.')[-2]}"]
        if not isinstance(value, allowed):
            return [f"{at}: {value!r} is not a {spec.target.split('.')[-2]}"]
        return []
    if spec.kind == "enum":
        if not isinstance(value, str):
            return [f"{at}: {value!r} is not a {spec.target} name"]
        values = enum_values(spec.target)
        if values is not None and value not in values:
            return [f"{at}: {value!r} is not one of Clover's {spec.target} ({sorted(values)})"]
        return []
    if spec.kind == "map":
        return [] if isinstance(value, dict) else [f"{at}: a map must be an object"]
    if spec.kind == "record":
        if spec.target == "Reference":
            if not isinstance(value, dict) or not isinstance(value.get("id"), str):
                return [f"{at}: a Reference must be an object with a string id"]
            return []
        return problems(spec.target, value, at)
    # a collection: {"elements": [...]} (and its href)
    if not isinstance(value, dict) or set(value) - {"elements", "href"}:
        return [f"{at}: a collection must be an object with elements (and href) only"]
    inner = value.get("elements", [])
    if not isinstance(inner, list):
        return [f"{at}.elements: must be a list"]
    found: list[str] = []
    item = Field(spec.name, "record", spec.target)
    for index, each in enumerate(inner):
        found += _field_problems(item, each, f"{at}.elements[{index}]")
    return found


def expandable(class_name: str, path: str) -> bool:
    """Whether `path` (`payments.tender`) names related objects of the class."""
    current: str | None = class_name
    for part in path.split("."):
        fields = model(current) if current else None
        if fields is None or part not in fields or fields[part].kind not in ("record", "list"):
            return False
        current = fields[part].target
    return True
