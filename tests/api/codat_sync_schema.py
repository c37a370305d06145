"""Codat's Sync for Commerce schemas (`Codat-Sync-Commerce.yaml`), read at test
time, to check the shapes our partner API answers with, and Codat's own SDK
models (`codat_sync_for_commerce`) to check that its clients can read them."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SYNC_COMMERCE = (
    Path(__file__).resolve().parents[3] / "shared/reference/codat/Codat-Sync-Commerce.yaml"
)
URI = "urn:codat:sync-commerce"


@cache
def document() -> dict[str, Any]:
    return yaml.safe_load(SYNC_COMMERCE.read_text())


@cache
def _registry() -> Registry:
    return Registry().with_resource(URI, Resource.from_contents(document(), DRAFT202012))


@cache
def validator(component: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": f"{URI}#/components/schemas/{component}"}, registry=_registry()
    )


def problems(component: str, instance: Any) -> list[str]:
    """What in `instance` breaks Codat's `#/components/schemas/<component>`."""
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(component).iter_errors(instance)
    ]


def required(component: str) -> set[str]:
    """The fields the yaml requires of a component (through `allOf`)."""
    schema = document()["components"]["schemas"][component]
    names = set(schema.get("required", []))
    for part in schema.get("allOf", []):
        ref = part.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            target: Any = document()
            for step in ref[2:].split("/"):
                target = target[step]
            names |= set(target.get("required", []))
        names |= set(part.get("required", []))
    return names


def _ours(problem: str) -> bool:
    # Our platform keys are the connector registry's ("quickbooks", "http-ledger"),
    # not Codat's four letters: the one documented departure from the schema.
    return problem.split(": ")[0].split("/")[-1] == "key" and "is too long" in problem


def assert_codat(component: str, instance: Any) -> None:
    """`instance` is valid by Codat's schema and carries every required field."""
    assert [p for p in problems(component, instance) if not _ours(p)] == []
    assert required(component) <= set(instance), required(component) - set(instance)


def assert_sdk_reads(model: str, instance: Any) -> Any:
    """Codat's Python SDK parses `instance` as its `model` (e.g. "Company")."""
    from codat_sync_for_commerce.models import shared

    return getattr(shared, model).model_validate(instance)


def assert_error(response: Any, status: int, *, field: str | None = None) -> dict[str, Any]:
    """`response` is Codat's ErrorMessage with `status`, naming `field` in its
    validation errors when given."""
    assert response.status_code == status, response.content
    body = response.json()
    assert problems("ErrorMessage", body) == []
    assert body["statusCode"] == status
    if field is not None:
        assert field in [item["itemId"] for item in body["validation"]["errors"]], body
    return body


def partner_api(client: Any, partner: Any, *, scheme: str = "Basic") -> Any:
    """`call(method, path, body=None)` against /api/v1 with a new key of
    `partner`, sent as Codat's SDK sends it (Basic base64(key)) or as Bearer."""
    import base64
    import json

    from commerce_sync.core.services.partners import partner_api_key_create

    _, key = partner_api_key_create(partner=partner, name="test")
    token = base64.b64encode(key.encode()).decode() if scheme == "Basic" else key
    auth = f"{scheme} {token}"

    def call(method: str, path: str, body: Any = None, **extra: Any) -> Any:
        kwargs = {"HTTP_AUTHORIZATION": auth, **extra}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(client, method)(f"/api/v1{path}", **kwargs)

    call.key = key
    return call
