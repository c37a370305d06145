"""Every page carries a Content-Security-Policy and a Permissions-Policy
(ISSUE 15): the merchant's pages allow nothing inline, the admin and the
portal inline styles only, the API's Swagger UI page its inline bootstrap;
nothing anywhere loads from another origin or may be framed."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parts = [part.split() for part in policy.split(";") if part.strip()]
    return {part[0]: part[1:] for part in parts}


PAGES = [
    # path, status, script-src, style-src
    ("/", 200, ["'self'"], ["'self'"]),
    ("/setup/", 200, ["'self'"], ["'self'"]),  # no session: the page that says so
    ("/admin/login/", 200, ["'self'"], ["'self'", "'unsafe-inline'"]),
    ("/portal/login/", 200, ["'self'"], ["'self'", "'unsafe-inline'"]),
    ("/api/v1/docs/", 200, ["'self'", "'unsafe-inline'"], ["'self'", "'unsafe-inline'"]),
    ("/api/v1/companies", 401, ["'self'", "'unsafe-inline'"], ["'self'", "'unsafe-inline'"]),
]


@pytest.mark.parametrize(("path", "status", "script", "style"), PAGES)
def test_every_page_has_a_policy_for_its_kind(client, path, status, script, style):
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code)
    found = directives(response)
    assert found["script-src"] == script and found["style-src"] == style, found
    assert found["default-src"] == ["'self'"]
    assert found["object-src"] == ["'none'"] and found["base-uri"] == ["'none'"]
    assert found["frame-ancestors"] == ["'none'"] and found["form-action"] == ["'self'"]
    permissions = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in permissions, permissions
