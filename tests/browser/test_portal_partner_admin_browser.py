"""A partner's portal admin in Debian's Chromium (CSP watched): sets where
their support team is alerted, then removes a colleague who left."""

from __future__ import annotations

from portal.models import PartnerMembership
from tests.browser.test_portal_browser import page  # noqa: F401 (fixture)
from tests.factories import PartnerFactory


def test_a_partner_admin_sets_alerts_and_removes_a_colleague(
    live_server,
    transactional_db,
    page,  # noqa: F811
    django_user_model,
):
    partner = PartnerFactory()
    admin = django_user_model.objects.create_user(
        "support", password="a-long-pass-phrase", is_staff=True
    )
    PartnerMembership.objects.create(user=admin, partner=partner, role="admin")
    left = django_user_model.objects.create_user("left-us", password="pw-left-12345")
    member = PartnerMembership.objects.create(user=left, partner=partner)
    page.goto(f"{live_server.url}/portal/login/")
    page.fill("#id_username", "support")
    page.fill("#id_password", "a-long-pass-phrase")
    page.click("input[type=submit]")

    page.click("#alert-settings")
    page.fill("#id_alert_emails", "desk@demo.example\nlead@demo.example")
    page.fill("#id_alert_after_failing_days", "2")
    page.click("#alert-settings-form input[type=submit]")
    assert "Alert settings saved" in page.inner_text("ul.messagelist")
    partner.refresh_from_db()
    assert partner.alert_emails == ["desk@demo.example", "lead@demo.example"]
    assert partner.alert_after_failing_days == 2

    page.goto(f"{live_server.url}/portal/invite/")
    page.click(f"#member-{member.pk} form.deactivate input[type=submit]")
    assert "left-us can no longer sign in" in page.inner_text("ul.messagelist")
    assert "No access (removed)" in page.inner_text(f"#member-{member.pk}")
    left.refresh_from_db()
    assert not left.is_active
