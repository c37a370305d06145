"""Two partners' worlds for the portal's tests: partner A (whose support user
looks) and partner B (whose names and ids must never show)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from commerce_sync.core.models import Merchant, Partner, SyncRun
from portal.models import PartnerMembership
from tests.factories import (
    AuditLogFactory,
    ConnectionFactory,
    MerchantFactory,
    PartnerFactory,
    PushItemFactory,
    SourceRecordFactory,
    SyncConfigurationFactory,
    SyncConfigurationVersionFactory,
    SyncRunFactory,
)


@dataclass
class World:
    """One partner's fixture: `failing` failed on each of the last 3 days and
    succeeded 10 days ago; `healthy` succeeded yesterday; `disabled`;
    `unconfigured`; a 1010 run; 4 failed push items (3 on `failing`'s
    runs, 1 on `healthy`'s)."""

    partner: Partner
    failing: Merchant
    healthy: Merchant
    disabled: Merchant
    unconfigured: Merchant
    failed_runs: list[SyncRun] = field(default_factory=list)
    success_runs: list[SyncRun] = field(default_factory=list)
    long_run: SyncRun | None = None
    all_merchants: list[Merchant] = field(default_factory=list)


def _day(now: datetime, days_ago: int) -> datetime:
    """04:00 UTC `days_ago` days before `now`'s day (the runs' creation)."""
    return datetime.combine((now - timedelta(days=days_ago)).date(), datetime.min.time(), UTC) + (
        timedelta(hours=4)
    )


def build_world(prefix: str, now: datetime) -> World:
    partner = PartnerFactory(name=f"{prefix} Partner", slug=f"{prefix.lower()}-partner")

    def merchant(name: str, **kw: Any) -> Merchant:
        return MerchantFactory(
            partner=partner, name=f"{prefix} {name}", external_id=f"{prefix.lower()}-{name}", **kw
        )

    failing = merchant("Failing Bakery", configured=True)
    healthy = merchant("Healthy Cafe", configured=True)
    disabled = merchant("Disabled Deli", configured=True, enabled=False, disabled_reason="Asked")
    unconfigured = merchant("Unconfigured Diner")
    for m in (failing, healthy):
        SyncConfigurationFactory(merchant=m, start_date=(now - timedelta(days=60)).date())
        SyncConfigurationVersionFactory(merchant=m, version=1, created_at=now - timedelta(days=40))
        SyncConfigurationVersionFactory(
            merchant=m,
            version=2,
            created_at=now - timedelta(days=20),
            sync_hour=5,
            created_by=f"partner:{partner.slug}",
        )
        ConnectionFactory(merchant=m)
        ConnectionFactory(
            merchant=m,
            accounting=True,
            status="Deauthorized" if m is failing else "Linked",
            last_error=f"{prefix} ledger refused the grant" if m is failing else "",
        )
        AuditLogFactory(merchant=m, actor=f"partner:{partner.slug}", object_id=str(m.pk))
    world = World(partner, failing, healthy, disabled, unconfigured)
    world.all_merchants = [failing, healthy, disabled, unconfigured]

    def run(m: Merchant, days_ago: int, status: str, code: int, **kw: Any) -> SyncRun:
        start = _day(now, days_ago + 1)
        return SyncRunFactory(
            merchant=m,
            period_start=start,
            period_end=start + timedelta(days=1),
            status=status,
            status_code=code,
            created_at=_day(now, days_ago),
            started_at=_day(now, days_ago),
            finished_at=_day(now, days_ago) + timedelta(seconds=30)
            if status in ("succeeded", "failed")
            else None,
            **kw,
        )

    world.success_runs.append(run(failing, 10, "succeeded", 2000))
    for days_ago in (3, 2, 1):
        failed = run(
            failing,
            days_ago,
            "failed",
            5130,
            messages=[
                {"level": "error", "code": "DocumentRejected", "message": "Account is archived"}
            ],
            counters={"push_items": {"written": 0, "failed": 1}},
            timings={"read": 0.5, "push": 1.25},
        )
        PushItemFactory(
            sync_run=failed,
            status="failed",
            last_error=f"{prefix} account archived",
            key=f"{prefix.lower()}-journal-{days_ago}",
        )
        world.failed_runs.append(failed)
    world.success_runs.append(run(healthy, 1, "succeeded", 2000))
    PushItemFactory(sync_run=world.success_runs[-1], status="pushed", target_id="T-1")
    PushItemFactory(
        sync_run=world.success_runs[-1], status="failed", key=f"{prefix.lower()}-left-failed"
    )
    world.long_run = run(healthy, 0, "running", 1010)
    # A payout the latest failed run's period reconciles (see test_reconciliation).
    add_records(
        failing,
        world.failed_runs[-1].period_start,
        f"{prefix.lower()}-",
        [
            ("order", "ord-1", [("Card", "100.00"), ("Cash", "30.00")], 1),
            ("order", "ord-2", [("Card", "50.00")], 2),
            ("order", "ord-3", [("Card", "-20.00")], 3),
            ("transaction", "fee-1", ("PaymentFee", "-3.00"), 4),
            ("transaction", "pay-1", ("Payment", "100.00"), 4),  # carried by its order
            ("transaction", "po-1", ("Payout", "-127.00"), 5),
        ],
    )
    return world


def add_records(merchant: Merchant, day: datetime, prefix: str, rows: list) -> None:
    """Stored source records at `day` + hours: ("order", id, [(payment type,
    amount)], hours) or ("transaction", id, (type, total), hours)."""
    for kind, source_id, what, hours in rows:
        created = day + timedelta(hours=hours)
        payload: dict[str, Any] = {
            "id": f"{prefix}{source_id}",
            "currency": "GBP",
            "createdDate": created.isoformat(),
        }
        if kind == "order":
            payload["payments"] = [
                {"id": f"p{i}", "type": t, "amount": a, "status": "Paid"}
                for i, (t, a) in enumerate(what)
            ]
            payload["totalAmount"] = str(sum(Decimal(a) for _t, a in what))
        else:
            payload["type"], payload["totalAmount"] = what
        SourceRecordFactory(
            merchant=merchant,
            kind=kind,
            source_id=f"{prefix}{source_id}",
            created_date=created,
            payload=payload,
        )


@pytest.fixture
def worlds(db) -> tuple[World, World]:
    now = timezone.now()
    return build_world("Alpha", now), build_world("Bravo", now)


@pytest.fixture
def support_a(worlds, django_user_model):
    user = django_user_model.objects.create_user(
        "agent-a", password="a-long-pass-phrase", is_staff=True
    )
    PartnerMembership.objects.create(user=user, partner=worlds[0].partner)
    user.user_permissions.add(Permission.objects.get(codename="retry_syncrun"))  # as created
    return user


@pytest.fixture
def admin_a(worlds, django_user_model):
    user = django_user_model.objects.create_user(
        "admin-a", password="a-long-pass-phrase", is_staff=True
    )
    PartnerMembership.objects.create(user=user, partner=worlds[0].partner, role="admin")
    user.user_permissions.add(Permission.objects.get(codename="retry_syncrun"))  # as created
    return user
