"""One Chromium for the browser tests (Debian's, driven by Playwright): each
test gets a fresh context (its own cookies and storage) from `chromium`, so
nothing carries over between tests but the browser process itself. It is
closed after the last test of this package: Playwright's event loop runs in
the test thread while it is open, which the rest of the suite must not see.

Every page a test opens with `csp_watch` is watched for Content-Security-Policy
violations (Chromium reports each on the console); the test fails if any
occurred (ISSUE 15: the policy is on and the pages still work).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    """The package's one headless Chromium (skipped, or in CI an error, without it)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            raise RuntimeError(
                "Chromium is missing at /usr/bin/chromium: .ci/run installs it (apt-get install chromium)"
            )
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's event loop shares the test thread with Django's ORM calls.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def csp_watch() -> Iterator[Any]:
    """`csp_watch(page)` records the page's CSP violations; any fails the test."""
    violations: list[str] = []

    def watch(page: Any) -> Any:
        page.on(
            "console",
            lambda message: (
                violations.append(f"{page.url}: {message.text}")
                if "Content Security Policy" in message.text
                else None
            ),
        )
        return page

    yield watch
    assert violations == [], "\n".join(violations)
