"""The admin a support agent or operator opens after a sync."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from commerce_sync.core.models import Connection, PushItem, SyncRun
from commerce_sync.core.services import syncs
from commerce_sync.core.services.demo import demo_seed


@pytest.fixture
def synced(db, settings, tmp_path, admin_client):
    settings.LEDGER_DIR = str(tmp_path)
    seed = demo_seed(days=2, orders_per_day=5, today=date(2026, 11, 10))
    Connection.objects.filter(merchant=seed.merchant, source_type="commerce").update(
        credentials={"access_token": "tok-visible-nowhere"}
    )
    run = syncs.sync_run_execute(merchant=seed.merchant, now=datetime(2026, 11, 10, 9, tzinfo=UTC))
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
