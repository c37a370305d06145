"""A stored record the sync cannot map (rows pushed before validation was
complete, or written by other means) fails the run with 5120 naming the
record, never 5000 "internal error"."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from django.utils import timezone

from commerce_sync.core.models import Connection
from commerce_sync.core.services.demo import demo_seed
from commerce_sync.inbound.models import PushedRecord
from commerce_sync.syncs.runs import sync_run_execute

TODAY = date(2026, 11, 10)


def _order(oid: str) -> dict:
    return {
        "id": oid,
        "currency": "GBP",
        "createdDate": "2026-11-09T10:00:00Z",
        "modifiedDate": "2026-11-09T10:00:00Z",
        "totalAmount": "12.00",
        "totalTaxAmount": "2.00",
        "orderLineItems": [
            {
                "id": f"{oid}-L1",
                "productRef": {"id": "latte"},
                "quantity": 1,
                "taxPercentage": 20,
                "totalTaxAmount": "2.00",
                "totalAmount": "12.00",
            }
        ],
        "payments": [
            {"id": f"{oid}-P1", "type": "Card", "amount": "12.00", "currency": "GBP",
             "status": "Paid"}
        ],
    }  # fmt: skip


def _set(record: dict, path: str, value: object) -> dict:
    target = record
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return record


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("totalAmount", "1E+999999999"),
        ("totalAmount", "NaN"),
        ("orderLineItems.0.totalAmount", "-1E+999999999"),
        ("orderLineItems.0.taxPercentage", "1E+400"),
        ("payments.0.amount", "Infinity"),
        ("createdDate", "9999-12-31T23:00:00-05:00"),
        ("orderLineItems.0.productRef", {"id": {"nested": ["x"]}}),
        ("orderLineItems", [["not", "an", "object"]]),
        ("payments.0.amount", "1e999999999"),
        ("orderLineItems.0.discountAllocations", [{"totalAmount": "1E+999999999"}]),
    ],
)
def test_an_unmappable_stored_order_fails_the_run_with_5120_naming_it(
    db, settings, tmp_path: Path, monkeypatch, path, value
):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    merchant = demo_seed(days=1, orders_per_day=2, today=TODAY).merchant
    Connection.objects.filter(merchant=merchant, source_type="commerce").update(
        platform_key="partner-push"
    )
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 11, 10, 8, tzinfo=UTC))
    good = _order("GOOD-1")
    bad = _set(_order("BAD-1"), path, value)
    for record in (good, bad):
        PushedRecord.objects.create(
            merchant=merchant,
            kind="order",
            source_id=record["id"],
            created_date=datetime(2026, 11, 9, 10, tzinfo=UTC),
            modified_date=datetime(2026, 11, 9, 10, tzinfo=UTC),
            payload=record,
        )
    run = sync_run_execute(merchant=merchant, now=datetime(2026, 11, 10, 9, tzinfo=UTC))
    text = " ".join(m["message"] for m in run.messages)
    assert run.status_code == 5120, run.messages
    assert "BAD-1" in text and "Internal error" not in text
