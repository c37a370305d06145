"""Codat's published Commerce schemas, read from ../shared/reference at test
time, to check what our doubles serve and what our tests push."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

CODAT_COMMERCE = Path(__file__).resolve().parents[3] / "shared/reference/codat/Codat-Commerce.yaml"
URI = "urn:codat:commerce"

# Record kinds (as the push API names them) -> the Codat component schema.
SCHEMAS = {
    "order": "Order",
    "transaction": "Transaction",
    "location": "Location",
    "product": "Product",
    "productCategory": "ProductCategory",
    "taxComponent": "TaxComponent",
    "paymentMethod": "PaymentMethod",
}


@cache
def _registry() -> Registry:
    document = yaml.safe_load(CODAT_COMMERCE.read_text())
    return Registry().with_resource(URI, Resource.from_contents(document, DRAFT202012))


@cache
def validator(component: str) -> Draft202012Validator:
    """A validator for `#/components/schemas/<component>` (e.g. "Orders")."""
    schema = {"$ref": f"{URI}#/components/schemas/{component}"}
    return Draft202012Validator(schema, registry=_registry())


def problems(component: str, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(component).iter_errors(instance)
    ]
