"""The admin a support agent or operator opens after a sync."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from commerce_sync.core.models import Connection, PushItem, SyncRun
from commerce_sync.core.services.demo import demo_seed
from commerce_sync.syncs.runs import sync_run_execute
from portal.models import PartnerMembership


@pytest.fixture
def synced(db, settings, tmp_path, admin_client):
    settings.LEDGER_DIR = str(tmp_path)
    seed = demo_seed(days=2, orders_per_day=5, today=date(2026, 11, 10))
    Connection.objects.filter(merchant=seed.merchant, source_type="commerce").update(
        credentials={"access_token": "tok-visible-nowhere"}
    )
    run = sync_run_execute(merchant=seed.merchant, now=datetime(2026, 11, 10, 9, tzinfo=UTC))
    return seed.merchant, run


@pytest.mark.parametrize(
    "model",
    [
        "merchant",
        "connection",
        "syncrun",
        "pushitem",
        "sourcerecord",
        "auditlog",
        "syncconfiguration",
    ],
)
def test_every_list_and_detail_page_renders_without_secrets(synced, admin_client, model):
    merchant, run = synced
    listing = admin_client.get(reverse(f"admin:core_{model}_changelist"))
    assert listing.status_code == 200
    assert b"tok-visible-nowhere" not in listing.content
    objects = {
        "merchant": merchant,
        "connection": merchant.connections.first(),
        "syncrun": run,
        "pushitem": run.push_items.first(),
        "sourcerecord": merchant.source_records.first(),
        "auditlog": merchant.audit_logs.first(),
        "syncconfiguration": merchant.sync_configuration,
    }
    detail = admin_client.get(reverse(f"admin:core_{model}_change", args=[objects[model].pk]))
    assert detail.status_code == 200
    assert b"tok-visible-nowhere" not in detail.content


def test_the_admin_lists_the_merchant_its_runs_and_push_items(synced, admin_client):
    merchant, run = synced
    assert (
        merchant.name.encode()
        in admin_client.get(reverse("admin:core_merchant_changelist")).content
    )
    runs = admin_client.get(reverse("admin:core_syncrun_changelist"))
    assert str(run.status_code).encode() in runs.content
    items = admin_client.get(reverse("admin:core_pushitem_changelist"))
    for item in PushItem.objects.all():
        assert item.key.encode() in items.content
    failed_filter = admin_client.get(
        reverse("admin:core_syncrun_changelist") + "?status__exact=failed"
    )
    assert failed_filter.status_code == 200
    assert SyncRun.objects.filter(status="failed").count() == 0


def test_support_retries_a_failed_run_from_the_portal(
    synced, client, django_user_model, monkeypatch
):
    """A document the ledger refused: the agent sees which and why, fixes the
    cause, and retries from the portal."""
    from commerce_sync.errors import DocumentRejected
    from connectors import registry
    from connectors.batching import SingleWrites

    _merchant, run = synced
    item = run.push_items.first()
    SyncRun.objects.filter(pk=run.pk).update(status="failed", status_code=5130)
    PushItem.objects.filter(pk=item.pk).update(
        status="failed", last_error="Account Income:Sales:Other is archived"
    )
    staff = django_user_model.objects.create_user("agent", password="pw-agent-123", is_staff=True)
    PartnerMembership.objects.create(user=staff, partner=_merchant.partner)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_syncrun", "view_pushitem", "retry_syncrun"])
    )
    client.force_login(staff)

    page = client.get(reverse("portal:core_pushitem_changelist") + "?status__exact=failed")
    assert page.status_code == 200 and b"is archived" in page.content

    class Refusing(SingleWrites):
        platform_key = "beancount"

        def find_document(self, *, key):
            return None

        def write_document(self, *, key, document):
            raise DocumentRejected("Account Income:Sales:Other is archived in beancount")

    real = registry.ACCOUNTING_TARGETS["beancount"]
    monkeypatch.setitem(registry.ACCOUNTING_TARGETS, "beancount", lambda connection: Refusing())
    url = reverse("portal:core_syncrun_changelist")
    response = client.post(
        url, {"action": "retry_failed_items", "_selected_action": [str(run.pk)]}, follow=True
    )
    assert b"1 item(s) still failed" in response.content
    item.refresh_from_db()
    assert item.status == "failed" and "archived in beancount" in item.last_error

    monkeypatch.setitem(registry.ACCOUNTING_TARGETS, "beancount", real)  # the cause is fixed
    response = client.post(
        url, {"action": "retry_failed_items", "_selected_action": [str(run.pk)]}, follow=True
    )
    assert b"succeeded (2000), 0 item(s) still failed" in response.content
    item.refresh_from_db()
    assert item.status == "pushed"


@pytest.mark.parametrize("site", ["admin", "portal"])
def test_the_view_permission_alone_cannot_retry(synced, client, django_user_model, site):
    """Retrying changes a run's state: it needs core.retry_syncrun."""
    merchant, run = synced
    SyncRun.objects.filter(pk=run.pk).update(status="failed", status_code=5130)
    viewer = django_user_model.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename="view_syncrun"))
    if site == "portal":  # the portal's viewers are their partner's members
        PartnerMembership.objects.create(user=viewer, partner=merchant.partner)
    client.force_login(viewer)
    url = reverse(f"{site}:core_syncrun_changelist")
    page = client.get(url)
    assert page.status_code == 200 and b"retry_failed_items" not in page.content
    client.post(url, {"action": "retry_failed_items", "_selected_action": [str(run.pk)]})
    run.refresh_from_db()
    assert run.status == "failed"  # nothing was retried
    if site == "portal":  # the sync page's own buttons: hidden, and refused when posted
        detail = reverse("portal:core_syncrun_change", args=[run.pk])
        assert b"retry-form" not in client.get(detail).content
        assert client.post(detail, {"action": "resync"}).status_code == 403
        assert SyncRun.objects.filter(merchant=merchant).count() == 1
    viewer.user_permissions.add(Permission.objects.get(codename="retry_syncrun"))
    viewer = django_user_model.objects.get(pk=viewer.pk)  # permissions are cached per object
    client.force_login(viewer)
    assert b"retry_failed_items" in client.get(url).content


def test_the_admin_never_shows_an_api_key_hash(db, admin_client):
    from commerce_sync.core.services.partners import partner_api_key_create
    from tests.factories import PartnerFactory

    partner = PartnerFactory()
    key, _ = partner_api_key_create(partner=partner, name="shown")
    for url in (
        reverse("admin:core_partnerapikey_change", args=[key.pk]),
        reverse("admin:core_partnerapikey_changelist"),
        reverse("admin:core_partner_change", args=[partner.pk]),
    ):
        page = admin_client.get(url)
        assert page.status_code == 200
        assert key.hashed_key.encode() not in page.content, url
