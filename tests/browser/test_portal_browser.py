"""A support agent in a real browser (Debian's Chromium, driven by
Playwright): signs in to the health portal, finds the failed run, reads why
its document failed, retries it, and sees it succeed."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from commerce_sync.core.models import Partner, PushItem, SyncRun
from commerce_sync.core.services.demo import demo_seed
from commerce_sync.syncs.runs import sync_run_execute
from portal.models import PartnerMembership

CHROMIUM = Path("/usr/bin/chromium")

if not CHROMIUM.exists():
    # CI installs it (.ci/run); on a laptop without it the browser tests are skipped, loudly.
    if os.environ.get("CI"):
        raise RuntimeError(
            "Chromium is missing at /usr/bin/chromium: .ci/run installs it (apt-get install chromium)"
        )
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )

pytest.importorskip("playwright.sync_api")


@pytest.fixture
def failed_run(transactional_db, settings, tmp_path):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    seed = demo_seed(days=1, orders_per_day=5, today=date(2026, 11, 10))
    run = sync_run_execute(merchant=seed.merchant, now=datetime(2026, 11, 10, 9, tzinfo=UTC))
    # As if the ledger had refused the day's journal and it was never written.
    item = run.push_items.get()
    Path(seed.ledger_path).write_text(
        Path(seed.ledger_path).read_text().split("\n2026-11-09 *")[0] + "\n"
    )
    PushItem.objects.filter(pk=item.pk).update(
        status="failed", target_id="", last_error="Account Income:Sales:Food is archived"
    )
    SyncRun.objects.filter(pk=run.pk).update(status="failed", status_code=5130)
    return run


@pytest.fixture
def agent(transactional_db, django_user_model, failed_run):
    user = django_user_model.objects.create_user(
        "support", password="a-long-pass-phrase", is_staff=True
    )
    PartnerMembership.objects.create(user=user, partner=Partner.objects.get(slug="demo"))
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_syncrun", "view_pushitem", "retry_syncrun"])
    )
    return user


@pytest.fixture
def page(chromium, csp_watch):
    """A fresh context of the run's Chromium (tests/browser/conftest.py),
    watched for Content-Security-Policy violations."""
    context = chromium.new_context()
    yield csp_watch(context.new_page())
    context.close()


def test_support_finds_a_failed_run_and_retries_it(live_server, failed_run, agent, page, tmp_path):
    page.goto(f"{live_server.url}/portal/login/")
    page.fill("#id_username", "support")
    page.fill("#id_password", "a-long-pass-phrase")
    page.click("input[type=submit]")

    page.goto(f"{live_server.url}/portal/core/pushitem/?status__exact=failed")
    assert "is archived" in page.inner_text("#result_list")

    page.goto(f"{live_server.url}/portal/core/syncrun/?status__exact=failed")
    page.check(f"input[name=_selected_action][value='{failed_run.pk}']")
    page.select_option("select[name=action]", "retry_failed_items")
    page.click("button[name=index]")
    message = page.inner_text("ul.messagelist")
    page.screenshot(
        path=os.environ.get("PORTAL_SCREENSHOT", str(tmp_path / "portal-retry.png")), full_page=True
    )

    assert "succeeded (2000), 0 item(s) still failed" in message
    assert PushItem.objects.get(sync_run=failed_run).status == "pushed"


SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def test_support_reads_the_dashboard_merchant_and_sync_then_retries_and_resyncs(
    live_server, failed_run, agent, page
):
    """Dashboard -> failed push items figure -> the merchant -> its failed
    sync, explained -> retry (succeeds) -> re-sync the range (refused with
    5080: the range is posted now). Screenshots in var/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{live_server.url}/portal/login/")
    page.fill("#id_username", "support")
    page.fill("#id_password", "a-long-pass-phrase")
    page.click("input[type=submit]")

    assert page.inner_text("#fig-failed-items .n") == "1"
    assert page.locator("#chart svg rect").count() >= 1
    page.screenshot(path=str(SCREENSHOTS / "portal-dashboard.png"), full_page=True)

    page.goto(f"{live_server.url}/portal/core/merchant/")
    page.click(f"text={failed_run.merchant.name}")
    assert "Linked" in page.inner_text("#connections")
    assert "v1" in page.inner_text("#versions")
    page.screenshot(path=str(SCREENSHOTS / "portal-merchant.png"), full_page=True)

    page.click(f"a[href*='{failed_run.pk}']")
    assert "refused some documents" in page.inner_text("#run-happened")
    assert "is archived" in page.inner_text("#run-items")
    page.screenshot(path=str(SCREENSHOTS / "portal-sync.png"), full_page=True)

    page.click("#retry-form input[type=submit]")
    assert "0 item(s) still failed" in page.inner_text("ul.messagelist")
    assert page.locator("#retry-form").count() == 0  # nothing failed any more
    page.screenshot(path=str(SCREENSHOTS / "portal-retried.png"), full_page=True)

    page.click("#resync-form input[type=submit]")
    assert "Refused (5080)" in page.inner_text("ul.messagelist")
    page.screenshot(path=str(SCREENSHOTS / "portal-resync-refused.png"), full_page=True)
    assert PushItem.objects.get(sync_run=failed_run).status == "pushed"
