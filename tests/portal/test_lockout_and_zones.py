"""The lockout page (django-axes) in the portal's style, and times shown in
the support user's zone with the zone named."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

from django.urls import reverse

from commerce_sync.core.models import AuditLog
from portal.models import PartnerMembership


def test_a_locked_out_login_gets_the_portal_page_with_what_to_do(db, client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        client.post("/portal/login/", {"username": "agent", "password": "wrong-guess"})
    locked = client.post("/portal/login/", {"username": "agent", "password": "wrong-again"})
    assert locked.status_code == 429
    assert locked["Retry-After"] == str(15 * 60)
    page = locked.content.decode()
    assert "Commerce Sync health portal" in page  # the portal's header, not a bare text
    assert 'id="lockout-reason"' in page and "<strong>agent</strong>" in page
    assert "after 2 failed attempts" in page and "Wait 15 minutes" in page
    assert 'href="/portal/login/"' in page and "axes_reset_username" in page
    admin = client.post("/admin/login/", {"username": "agent", "password": "x"})
    assert admin.status_code == 429 and 'href="/admin/login/"' in admin.content.decode()


def test_times_are_in_the_users_zone_and_labelled(worlds, support_a, client):
    run = worlds[0].failed_runs[0]
    client.force_login(support_a)
    utc_page = client.get(reverse("portal:core_syncrun_change", args=[run.pk])).content.decode()
    assert f"{run.created_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC" in utc_page

    PartnerMembership.objects.filter(user=support_a).update(time_zone="Asia/Tokyo")
    support_a.refresh_from_db()
    client.force_login(support_a)
    tokyo = f"{run.created_at.astimezone(ZoneInfo('Asia/Tokyo')):%Y-%m-%d %H:%M}"
    detail = client.get(reverse("portal:core_syncrun_change", args=[run.pk])).content.decode()
    assert f"{tokyo} Asia/Tokyo" in detail
    listing = client.get(reverse("portal:core_syncrun_changelist")).content.decode()
    assert f"{tokyo} Asia/Tokyo" in listing
    dashboard = client.get(reverse("portal:index")).content.decode()
    assert "Times on these pages are in Asia/Tokyo" in dashboard
    # Django's read-only detail pages (push items, connections, audit rows)
    # name the zone too.
    item = run.push_items.first()
    item_page = client.get(reverse("portal:core_pushitem_change", args=[item.pk])).content.decode()
    assert "Times on this page are in Asia/Tokyo." in item_page


def test_a_support_user_picks_their_zone_audited(worlds, support_a, client, django_user_model):
    client.force_login(support_a)
    assert 'id="change-time-zone"' in client.get(reverse("portal:index")).content.decode()
    bad = client.post(reverse("portal:time_zone"), {"time_zone": "Mars/Olympus"})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()
    done = client.post(reverse("portal:time_zone"), {"time_zone": "Europe/Paris"}, follow=True)
    assert "Times are now shown in Europe/Paris" in done.content.decode()
    assert "Times on these pages are in Europe/Paris" in done.content.decode()
    assert PartnerMembership.objects.get(user=support_a).time_zone == "Europe/Paris"
    assert AuditLog.objects.filter(action="support_user.time_zone").get().changes == {
        "from": "",
        "to": "Europe/Paris",
    }
    client.post(reverse("portal:time_zone"), {"time_zone": ""})
    assert PartnerMembership.objects.get(user=support_a).time_zone == ""
    operator = django_user_model.objects.create_superuser("op-tz", password="pw-op-12345")
    client.force_login(operator)
    assert client.get(reverse("portal:time_zone")).status_code == 403
