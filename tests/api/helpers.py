"""What the partner API tests share: a client speaking as Codat's SDK does
(Basic base64(key)), and the field names of Codat's schemas."""

from __future__ import annotations

import base64
import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CODAT_SYNC = Path(__file__).resolve().parents[3] / "shared/reference/codat/Codat-Sync-Commerce.yaml"


@cache
def codat_properties(name: str) -> frozenset[str]:
    """The property names of Codat's component schema `name`."""
    spec = yaml.safe_load(CODAT_SYNC.read_text())
    return frozenset(spec["components"]["schemas"][name]["properties"])


ERROR_FIELDS = {"statusCode", "service", "error", "correlationId"}


class Api:
    """Calls the partner API as one partner (or with `key=None`, as nobody)."""

    def __init__(self, client: Any, key: str | None) -> None:
        self.client, self.key = client, key

    def _headers(self, key: str | None, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {}
        if key:
            headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(key.encode()).decode()
        for name, value in (extra or {}).items():
            headers["HTTP_" + name.upper().replace("-", "_")] = value
        return headers

    def get(self, path: str, *, headers: dict[str, str] | None = None) -> Any:
        return self.client.get("/api/v1" + path, **self._headers(self.key, headers))

    def post(
        self, path: str, body: Any = None, *, headers: dict[str, str] | None = None, raw: str = ""
    ) -> Any:
        data = raw if body is None else json.dumps(body)
        return self.client.post(
            "/api/v1" + path,
            data=data,
            content_type="application/json",
            **self._headers(self.key, headers),
        )


def assert_error(response: Any, status: int, detailed: int | None = None) -> dict[str, Any]:
    """`response` is Codat's ErrorMessage with `status`; returns its body."""
    assert response.status_code == status, response.content
    body = response.json()
    assert ERROR_FIELDS <= set(body) <= codat_properties("ErrorMessage"), body
    assert body["statusCode"] == status
    if detailed is not None:
        assert body["detailedErrorCode"] == detailed, body
    return body


def error_items(body: dict[str, Any]) -> dict[str, list[str]]:
    """itemId -> messages of an ErrorMessage's validation errors."""
    items: dict[str, list[str]] = {}
    for item in body["validation"]["errors"]:
        items.setdefault(item["itemId"], []).append(item["message"])
    return items
