"""More of the portal in Debian's Chromium: the lockout page, a run that
died mid-push finished from its page with times in the agent's zone, and
the merchant's alert settings page opened from its signed link.
Screenshots in var/screenshots/."""

from __future__ import annotations

from pathlib import Path

from commerce_sync.core.models import PushItem, SyncRun
from commerce_sync.core.services.merchant_alerts import alert_settings_url
from portal.models import PartnerMembership
from tests.browser.test_portal_browser import agent, failed_run, page  # noqa: F401 (fixtures)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def _sign_in(browser_page, live_server) -> None:
    browser_page.goto(f"{live_server.url}/portal/login/")
    browser_page.fill("#id_username", "support")
    browser_page.fill("#id_password", "a-long-pass-phrase")
    browser_page.click("input[type=submit]")


def test_the_lockout_is_a_portal_page(live_server, agent, page, settings):  # noqa: F811
    settings.AXES_FAILURE_LIMIT = 2
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        page.goto(f"{live_server.url}/portal/login/")
        page.fill("#id_username", "support")
        page.fill("#id_password", "not-the-password")
        page.click("input[type=submit]")
    assert "Sign-in is locked for support" in page.inner_text("#lockout-reason")
    assert "Wait 15 minutes" in page.inner_text("#lockout-advice")
    assert "Commerce Sync health portal" in page.inner_text("#header")
    page.screenshot(path=str(SCREENSHOTS / "portal-lockout.png"), full_page=True)
    page.click("#lockout-advice a")
    assert page.url.endswith("/portal/login/")


def test_a_run_that_died_mid_push_is_finished_in_the_agents_zone(
    live_server,
    failed_run,  # noqa: F811
    agent,  # noqa: F811
    page,  # noqa: F811
):
    # As if the worker died while writing the (already refused once) journal.
    PushItem.objects.filter(sync_run=failed_run).update(status="pushing")
    SyncRun.objects.filter(pk=failed_run.pk).update(
        status="running", status_code=1000, finished_at=None
    )
    PartnerMembership.objects.filter(user=agent).update(time_zone="America/New_York")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    _sign_in(page, live_server)
    page.goto(f"{live_server.url}/portal/core/syncrun/{failed_run.pk}/change/")
    assert "America/New_York" in page.inner_text("#content")
    # The merchant's own period stays in the merchant's zone, whatever the agent's.
    assert page.inner_text("#period-local") == "2026-11-09 00:00 to 2026-11-10 00:00 Europe/London"
    assert "1 item may or may not have reached" in page.inner_text("#interrupted")
    page.screenshot(path=str(SCREENSHOTS / "portal-interrupted.png"), full_page=True)
    page.click("#finish-form input[type=submit]")
    assert "succeeded (2000), 0 item(s) still failed" in page.inner_text("ul.messagelist")
    assert page.locator("#interrupted").count() == 0
    assert PushItem.objects.get(sync_run=failed_run).status == "pushed"


def test_the_merchant_sets_alerts_from_the_emails_link(live_server, failed_run, page):  # noqa: F811
    merchant = failed_run.merchant
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = "/setup/alerts/" + alert_settings_url(merchant).rsplit("/", 1)[1]
    page.goto(f"{live_server.url}{path}")
    page.fill("#id_alert_email", "owner@cafe.example")
    page.check("#id_alerts_opt_out")
    page.select_option("#id_language", "fr")
    page.click("#alert-settings button[type=submit]")
    assert "Vos réglages d'alerte sont enregistrés." in page.inner_text("#alert-settings-saved")
    page.screenshot(path=str(SCREENSHOTS / "merchant-alert-settings.png"), full_page=True)
    merchant.refresh_from_db()
    assert (merchant.alert_email, merchant.alerts_opt_out, merchant.language) == (
        "owner@cafe.example",
        True,
        "fr",
    )
    page.goto(f"{live_server.url}{path[:-4]}abcd")
    assert "copy the whole link" in page.inner_text("#alert-link-problem")
