"""`/`: a small page linking the admin, the portal, the API reference and
the demo merchant's setup flow; every link answers."""

from __future__ import annotations

import re

from commerce_sync.core.services.demo import demo_seed


def test_the_landing_page_links_what_the_server_offers(client, db, settings, tmp_path):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    demo_seed(days=1, orders_per_day=3)
    page = client.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    links = set(re.findall(r'<a href="([^"]+)"', html))
    assert {"/admin/", "/portal/", "/api/v1/docs/", "/api/v1/schema/", "/setup/"} <= links
    assert "Demo Café" in html and "manage.py setup_link --merchant demo-cafe" in html
    assert "<script" not in html and "style=" not in html  # nothing inline: CSP-friendly
    for link in links:
        assert client.get(link).status_code in (200, 302), link
    # /setup/ without a start URL says how a merchant gets in (not a 401).
    assert "personal link" in client.get("/setup/").content.decode()
    assert client.get("/api/v1/docs/").status_code == 200


def test_the_landing_page_without_the_demo(client, db):
    page = client.get("/")
    assert page.status_code == 200
    assert "of Demo Café" not in page.content.decode()
