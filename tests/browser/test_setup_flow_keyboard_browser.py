"""A French merchant on a 375 px phone, keyboard only, JavaScript on, goes
from the start URL to a finished setup (issue 11's fresh user test): each
step is reached with Tab and used with Enter or Space, no page scrolls
sideways, and the console stays clean (no 404 for a favicon, no
Permissions-Policy feature Chromium does not know, no CSP violation)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from commerce_sync.core.models import SyncConfigurationVersion
from commerce_sync.core.services.setup_links import setup_link_issue
from tests.factories import PartnerFactory
from tests.setup_flow.helpers import new_merchant

if not Path("/usr/bin/chromium").exists():
    if os.environ.get("CI"):
        raise RuntimeError("Chromium is missing at /usr/bin/chromium")
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)
pytest.importorskip("playwright.sync_api")


@pytest.fixture
def phone(settings, tmp_path, chromium, csp_watch):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    settings.SESSION_COOKIE_SECURE = False  # the live server speaks plain HTTP
    settings.CSRF_COOKIE_SECURE = False
    context = chromium.new_context(viewport={"width": 375, "height": 740})
    page = csp_watch(context.new_page())
    page.errors = []
    page.on(
        "console",
        lambda message: (
            page.errors.append(f"{page.url}: {message.text}") if message.type == "error" else None
        ),
    )
    yield page
    context.close()


def tab_to(page: Any, selector: str) -> None:
    """Press Tab until the focused element matches `selector` (as a keyboard user)."""
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} is never reached with Tab on {page.url}")


def press(page: Any, selector: str, key: str = "Enter") -> None:
    tab_to(page, selector)
    with page.expect_navigation():
        page.keyboard.press(key)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


NEXT = "main .nav-buttons button[type=submit]"


def test_a_french_merchant_finishes_on_a_phone_with_the_keyboard_only(live_server, phone):
    merchant = new_merchant(PartnerFactory(), name="Boulangerie du coin")
    code = setup_link_issue(merchant=merchant, actor="partner:test", locale="fr-fr").code
    phone.goto(f"{live_server.url}/setup/start/{code}")
    assert phone.inner_text("header button") == "Changer"
    press(phone, NEXT)  # the sales platform: nothing to authorise
    press(phone, NEXT)  # the accounting software: nothing to authorise
    press(phone, "a[href^='/setup/suggest']")
    tab_to(phone, "#create")
    phone.keyboard.press("Space")
    assert "Taux de taxe" in phone.inner_text("main")  # the standard set, in French
    press(phone, "main form button[type=submit]")
    tab_to(phone, "#fmt-journal")
    phone.keyboard.press("Space")
    press(phone, NEXT)  # sales
    assert "/setup/stage/fees" in phone.url, phone.inner_text("main")
    press(phone, NEXT)  # fees
    assert "Compte d\u2019attente Carte" in phone.inner_text("main")
    press(phone, NEXT)  # payments
    press(phone, NEXT)  # schedule: yesterday, 02:00, the merchant's zone
    press(phone, "a[href^='/setup/preview']")
    assert phone.locator("table.preview").count() >= 1, phone.inner_text("main")
    press(phone, "main form[action$='/setup/finish'] button[type=submit]")
    assert "Votre synchronisation est configurée" in phone.inner_text("main")
    assert SyncConfigurationVersion.objects.filter(merchant=merchant).count() == 1
    assert phone.errors == []
