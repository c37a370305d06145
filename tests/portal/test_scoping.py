"""A support user of partner A never sees partner B: crawl every link and
form the portal offers, from its index, and look for B's names and ids."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urljoin, urlsplit

import pytest
from django.urls import reverse

from commerce_sync.core.models import AuditLog, Merchant, PushItem, SyncRun
from portal.selectors import merchants_visible_to

HREF = re.compile(r'(?:href|action)="([^"]+)"')


def _forbidden(world) -> list[str]:
    """Every name and id of partner B a page could leak."""
    out = [world.partner.name, world.partner.slug]
    for m in world.all_merchants:
        out += [m.name, str(m.pk), m.external_id]
    out += [str(r.pk) for r in SyncRun.objects.filter(merchant__partner=world.partner)]
    out += list(
        PushItem.objects.filter(merchant__partner=world.partner).values_list("key", flat=True)
    )
    return out


def _crawl(client, start: str, limit: int = 600) -> dict[str, bytes]:
    """GET every portal page reachable from `start` (links and GET forms);
    the logout link is not followed."""
    seen: dict[str, bytes] = {}
    queue = [start]
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen:
            continue
        response = client.get(url)
        assert response.status_code in (200, 302, 400), (url, response.status_code)
        seen[url] = response.content
        if response.status_code == 302:
            queue.append(response["Location"])
            continue
        if "html" not in response.get("Content-Type", ""):
            continue
        for raw in HREF.findall(response.content.decode()):
            link = urljoin(url, unescape(raw))
            parts = urlsplit(link)
            if not parts.path.startswith("/portal/") or "logout" in parts.path:
                continue
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if path not in seen:
                queue.append(path)
    return seen


def test_the_crawl_never_shows_another_partners_merchant(worlds, support_a, client):
    a, b = worlds
    client.force_login(support_a)
    pages = _crawl(client, "/portal/")
    assert len(pages) > 40  # the crawl went everywhere: lists, filters, details, diffs
    visited = " ".join(pages)
    assert str(a.failing.pk) in visited and str(a.failed_runs[0].pk) in visited
    body = b"".join(pages.values()).decode()
    assert a.failing.name in body  # A's own merchants are there
    for secret in _forbidden(b):
        assert secret not in body, secret


def test_another_partners_objects_are_404(worlds, support_a, client):
    _a, b = worlds
    client.force_login(support_a)
    item = PushItem.objects.filter(merchant=b.failing).first()
    for name, pk in [
        ("core_merchant_change", b.failing.pk),
        ("core_syncrun_change", b.failed_runs[0].pk),
        ("core_pushitem_change", item.pk),
        ("core_connection_change", b.failing.connections.first().pk),
        ("core_syncconfiguration_change", b.failing.sync_configuration.pk),
        ("core_syncconfigurationversion_change", b.failing.sync_configuration_versions.first().pk),
        ("core_auditlog_change", AuditLog.objects.filter(merchant=b.failing).first().pk),
        ("core_merchant_configuration_json", b.failing.pk),
        ("core_merchant_configuration_diff", b.failing.pk),
    ]:
        response = client.get(reverse(f"portal:{name}", args=[pk]))
        assert response.status_code == 404, name
        assert b.failing.name.encode() not in response.content
    # Posting to another partner's run does nothing.
    response = client.post(
        reverse("portal:core_syncrun_change", args=[b.failed_runs[0].pk]), {"action": "retry"}
    )
    assert response.status_code == 404


def test_searches_filters_actions_and_exports_are_scoped(worlds, support_a, client):
    a, b = worlds
    client.force_login(support_a)
    names = [m.name.encode() for m in b.all_merchants]
    for url in [  # B's ids searched for: echoed in the search box, but nothing found
        f"/portal/core/merchant/?q={b.failing.pk}",
        f"/portal/core/merchant/?q={b.failing.external_id}",
        "/portal/core/merchant/?q=Bravo",
        f"/portal/core/syncrun/?q={b.failing.pk}",
        f"/portal/core/syncrun/?q={b.failing.external_id}",
        f"/portal/core/syncrun/?q={b.failed_runs[0].pk}",
        f"/portal/core/pushitem/?q={b.failed_runs[0].pk}",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"0 results" in response.content, url
        assert not any(name in response.content for name in names), url
    for url in [  # A's own searches find A's rows
        f"/portal/core/merchant/?q={a.failing.external_id}",
        f"/portal/core/syncrun/?q={a.failing.pk}",
        "/portal/core/merchant/?failing_days=3",
        "/portal/core/merchant/?health=failing",
        "/portal/core/syncrun/?status__exact=failed",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"Bravo" not in response.content, url
        assert a.failing.name.encode() in response.content, url
    # The partner filter is an operator's: a support user cannot filter by partner B.
    assert b"merchant__partner" not in client.get("/portal/core/syncrun/").content
    # Exports and actions act on the scoped rows only, even when B's ids are posted.
    everything = [str(r.pk) for r in SyncRun.objects.all()]
    export = client.post(
        "/portal/core/syncrun/", {"action": "export_csv", "_selected_action": everything}
    )
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    text = export.getvalue().decode()
    assert str(a.failed_runs[0].pk) in text
    assert str(b.failed_runs[0].pk) not in text and str(b.failing.pk) not in text
    rows = (
        client.post(
            "/portal/core/merchant/",
            {
                "action": "export_csv",
                "_selected_action": [str(m.pk) for m in Merchant.objects.all()],
            },
        )
        .getvalue()
        .decode()
    )
    assert a.failing.name in rows and "Bravo" not in rows
    retried = client.post(
        "/portal/core/syncrun/",
        {"action": "retry_failed_items", "_selected_action": [str(b.failed_runs[0].pk)]},
        follow=True,
    )
    assert b"Bravo" not in retried.content
    assert PushItem.objects.filter(merchant=b.failing, status="failed").count() == 3


def test_operators_see_everyone_and_outsiders_nothing(worlds, admin_client, django_user_model):
    a, b = worlds
    page = admin_client.get("/portal/core/merchant/").content.decode()
    assert a.failing.name in page and b.failing.name in page
    loner = django_user_model.objects.create_user("loner", password="pw-loner-123", is_staff=True)
    assert merchants_visible_to(loner).count() == 0
    assert merchants_visible_to(django_user_model.objects.get(username="admin")).count() == 8


@pytest.mark.parametrize("path", ["/portal/", "/portal/core/merchant/", "/portal/core/syncrun/"])
def test_staff_without_a_partner_is_sent_to_login(worlds, client, django_user_model, path):
    loner = django_user_model.objects.create_user("loner", password="pw-loner-123", is_staff=True)
    client.force_login(loner)
    response = client.get(path)
    assert response.status_code == 302 and "/portal/login/" in response["Location"]
