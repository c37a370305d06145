"""Partner API keys: the manage.py commands and the admin."""

from __future__ import annotations

import base64
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from commerce_sync.core.models import AuditLog, PartnerApiKey


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def status_with(client, header: str) -> int:
    return client.get("/api/v1/companies", HTTP_AUTHORIZATION=header).status_code


def test_create_prints_the_key_alone_on_its_last_line_and_it_authenticates(client, partner):
    output = run("partner_api_key_create", "--partner", partner.slug, "--name", "ci")
    key = output.strip().splitlines()[-1]
    assert key and " " not in key
    stored = PartnerApiKey.objects.get(partner=partner)
    assert stored.name == "ci" and key.startswith(stored.prefix) and key not in stored.hashed_key
    assert status_with(client, "Basic " + base64.b64encode(key.encode()).decode()) == 200
    assert status_with(client, f"Bearer {key}") == 200
    assert AuditLog.objects.filter(action="partner_api_key.create").count() == 1


def test_list_shows_prefixes_never_keys(partner):
    first = run("partner_api_key_create", "--partner", partner.slug).strip().splitlines()[-1]
    run("partner_api_key_create", "--partner", partner.slug, "--name", "rotation")
    listing = run("partner_api_key_list", "--partner", partner.slug)
    assert first not in listing and first[:8] in listing
    assert "rotation" in listing and "default" in listing
    assert len(listing.strip().splitlines()) == 3  # header + two keys


def test_revoke_by_prefix_refuses_the_key_from_then_on(client, partner):
    key = run("partner_api_key_create", "--partner", partner.slug).strip().splitlines()[-1]
    other = run("partner_api_key_create", "--partner", partner.slug).strip().splitlines()[-1]
    assert "Revoked" in run(
        "partner_api_key_revoke", "--partner", partner.slug, "--prefix", key[:8]
    )
    assert status_with(client, f"Bearer {key}") == 401
    assert status_with(client, "Basic " + base64.b64encode(key.encode()).decode()) == 401
    assert status_with(client, f"Bearer {other}") == 200  # rotation: the other still works
    listing = run("partner_api_key_list", "--partner", partner.slug)
    revoked_line = next(line for line in listing.splitlines() if line.startswith(key[:8]))
    assert not revoked_line.rstrip().endswith("-")
    assert "already" in run(
        "partner_api_key_revoke", "--partner", partner.slug, "--prefix", key[:8]
    )


def test_commands_refuse_unknown_partners_and_prefixes(partner):
    with pytest.raises(CommandError, match="No partner"):
        run("partner_api_key_create", "--partner", "nobody")
    with pytest.raises(CommandError, match="no key"):
        run("partner_api_key_revoke", "--partner", partner.slug, "--prefix", "zzzzzzzz")


@pytest.fixture
def operator(client, db):
    user = get_user_model().objects.create_superuser("op", "op@example.com", "pw")
    client.force_login(user)
    return user


def test_the_admin_issues_a_key_shown_once_and_revokes_it(client, operator, partner):
    response = client.post(
        "/admin/core/partnerapikey/add/",
        {"partner": partner.pk, "name": "from admin"},
        follow=True,
    )
    assert response.status_code == 200 and response.redirect_chain, response.content
    key_row = PartnerApiKey.objects.get(partner=partner, name="from admin")
    messages = [str(m) for m in response.context["messages"]]
    shown = next(m for m in messages if "new API key" in m)
    plaintext = shown.split(" is ")[1].split(" ")[0]
    assert plaintext.startswith(key_row.prefix)
    assert AuditLog.objects.get(action="partner_api_key.create").actor == "operator:op"
    assert status_with(client, f"Bearer {plaintext}") == 200
    # The change page never shows it again.
    page = client.get(f"/admin/core/partnerapikey/{key_row.pk}/change/")
    assert page.status_code == 200 and plaintext.encode() not in page.content

    client.post(
        "/admin/core/partnerapikey/",
        {"action": "revoke", "_selected_action": [key_row.pk]},
    )
    key_row.refresh_from_db()
    assert key_row.revoked_at is not None
    assert status_with(client, f"Bearer {plaintext}") == 401


def test_a_key_never_starts_with_a_dash_so_its_prefix_fits_a_command_line(monkeypatch):
    """A prefix starting with "-" is taken by argparse for an option
    (`--prefix -abc` fails): the generator draws again."""
    from commerce_sync.core import keys

    draws = iter(["-starts-with-a-dash", "fine-key"])
    monkeypatch.setattr(keys.secrets, "token_urlsafe", lambda n: next(draws))
    assert keys.api_key_generate() == "fine-key"
