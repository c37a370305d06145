"""Partners pushing Codat-shaped records: the API, versions, and a sync from them."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from commerce_sync.core.models import AuditLog, Connection, SourceRecord
from commerce_sync.core.services.demo import demo_seed
from commerce_sync.core.services.partners import partner_api_key_create, partner_api_key_revoke
from commerce_sync.inbound.models import PushedRecord
from commerce_sync.inbound.sources import PartnerPushSource
from commerce_sync.syncs.runs import sync_run_execute
from connectors.sandbox import SandboxSource
from tests.doubles import codat_schema
from tests.factories import MerchantFactory, PartnerFactory
from tests.mapping.books import movements

KINDS = {
    "commerce-orders": "order",
    "commerce-transactions": "transaction",
    "commerce-locations": "location",
    "commerce-products": "product",
    "commerce-productCategories": "productCategory",
    "commerce-taxComponents": "taxComponent",
    "commerce-paymentMethods": "paymentMethod",
}


def order(oid: str, created: str, net: str, tax: str, modified: str | None = None) -> dict:
    total = Decimal(net) + Decimal(tax)
    return {
        "id": oid,
        "currency": "GBP",
        "createdDate": created,
        "modifiedDate": modified or created,
        "totalAmount": total,
        "totalTaxAmount": Decimal(tax),
        "orderLineItems": [
            {
                "id": f"{oid}-L1",
                "productRef": {"id": "latte"},
                "quantity": 1,
                "taxPercentage": 20,
                "totalTaxAmount": Decimal(tax),
                "totalAmount": total,
            }
        ],
        "payments": [
            {
                "id": f"{oid}-P1",
                "type": "Card",
                "amount": total,
                "currency": "GBP",
                "status": "Paid",
            }
        ],
    }


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # a JSON number on the wire; the API reads it back as Decimal
    raise TypeError(type(value).__name__)


def assert_codat_valid(data_type: str, records: list[dict]) -> None:
    component = codat_schema.SCHEMAS[KINDS[data_type]]
    for record in records:
        assert codat_schema.problems(component, record) == [], record.get("id")


@pytest.fixture
def api(client, partner, merchant):
    _, key = partner_api_key_create(partner=partner, name="test")

    def push(data_type: str, records: list, *, to=None, key_: str | None = key, valid: bool = True):
        if valid:  # what we claim is valid must be valid by Codat's own schema
            assert_codat_valid(data_type, records)
        headers = {"HTTP_AUTHORIZATION": f"Bearer {key_}"} if key_ else {}
        return client.post(
            f"/api/v1/companies/{(to or merchant).pk}/push/{data_type}",
            data=json.dumps({"records": records}, default=_number),
            content_type="application/json",
            **headers,
        )

    push.key = key
    return push


# -- auth and scope --


def test_no_key_a_wrong_key_and_a_revoked_key_are_refused(api, partner):
    records = [order("O-1", "2026-11-07T10:00:00Z", "10.00", "2.00")]
    assert api("commerce-orders", records, key_=None).status_code == 401
    assert api("commerce-orders", records, key_="cs_live_not-a-key").status_code == 401
    key, plaintext = partner_api_key_create(partner=partner, name="old")
    partner_api_key_revoke(key=key, actor="system")
    assert api("commerce-orders", records, key_=plaintext).status_code == 401
    assert not PushedRecord.objects.exists()


def test_another_partners_merchant_is_not_found(api, db):
    stranger = MerchantFactory(partner=PartnerFactory())
    response = api(
        "commerce-orders", [order("O-1", "2026-11-07T10:00:00Z", "1", "0.2")], to=stranger
    )
    assert response.status_code == 404
    assert not PushedRecord.objects.exists()


def test_unknown_data_types_and_malformed_bodies(api, client, merchant):
    assert api("commerce-customers", [], valid=False).status_code == 404
    response = client.post(
        f"/api/v1/companies/{merchant.pk}/push/commerce-orders",
        data=json.dumps({"orders": []}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api.key}",
    )
    body = response.json()  # Codat's ErrorMessage, the field named in its validation items
    assert response.status_code == 400 and body["statusCode"] == 400
    assert [item["itemId"] for item in body["validation"]["errors"]] == ["orders"]
    assert "send only records" in body["validation"]["errors"][0]["message"]


# -- bulk, idempotency, versions --


def test_five_thousand_records_in_one_request_and_again_unchanged(api, merchant):
    template = order("B", "2026-11-07T10:00:00Z", "10.00", "2.00")
    records = []
    for n in range(5000):
        record = copy.deepcopy(template)
        record["id"] = f"B-{n:05d}"
        records.append(record)
    assert_codat_valid("commerce-orders", records[:50])  # same shape: a sample suffices
    first = api("commerce-orders", records, valid=False)
    assert first.status_code == 200, first.content[:500]
    assert first.json() | {"errors": None} == {
        "created": 5000, "updated": 0, "unchanged": 0, "stale": 0, "rejected": 0,
        "errors": None, "staleRecords": [],
    }  # fmt: skip
    assert PushedRecord.objects.filter(merchant=merchant, kind="order").count() == 5000
    again = api("commerce-orders", records, valid=False).json()
    assert (again["created"], again["unchanged"]) == (0, 5000)
    assert api("commerce-orders", [*records, template], valid=False).status_code == 400


def test_versions_by_modified_date(api, merchant):
    original = order("O-1", "2026-11-07T10:00:00Z", "10.00", "2.00")
    assert api("commerce-orders", [original]).json()["created"] == 1
    assert api("commerce-orders", [original]).json()["unchanged"] == 1

    edited = order("O-1", "2026-11-07T10:00:00Z", "15.00", "3.00", modified="2026-11-08T09:00:00Z")
    assert api("commerce-orders", [edited]).json()["updated"] == 1
    row = PushedRecord.objects.get(merchant=merchant, source_id="O-1")
    assert Decimal(row.payload["totalAmount"]) == Decimal("18.00")
    assert row.modified_date == datetime(2026, 11, 8, 9, tzinfo=UTC)

    stale = api("commerce-orders", [order("O-2", "2026-11-07T11:00:00Z", "1", "0.2"), original])
    body = stale.json()
    assert (body["created"], body["stale"]) == (1, 1)
    assert body["staleRecords"][0]["index"] == 1 and body["staleRecords"][0]["id"] == "O-1"
    row.refresh_from_db()
    assert Decimal(row.payload["totalAmount"]) == Decimal("18.00")  # the older one changed nothing

    clash = order("O-1", "2026-11-07T10:00:00Z", "99.00", "3.00", modified="2026-11-08T09:00:00Z")
    body = api("commerce-orders", [clash]).json()
    assert body["rejected"] == 1 and "modifiedDate" in body["errors"][0]["message"]
    audit = AuditLog.objects.filter(action="pushed_records.store", merchant=merchant)
    assert audit.count() == 5


def test_invalid_records_are_reported_by_index_and_id_and_valid_ones_stored(api, merchant):
    good = order("O-1", "2026-11-07T10:00:00Z", "10.00", "2.00")
    no_currency = {
        k: v for k, v in order("O-2", "2026-11-07T10:00:00Z", "1", "0.2").items() if k != "currency"
    }
    bad_payment = order("O-3", "2026-11-07T10:00:00Z", "1", "0.2")
    bad_payment["payments"][0]["type"] = "Barter"
    text_amount = order("O-4", "2026-11-07T10:00:00Z", "1", "0.2")
    text_amount["totalAmount"] = "1.20"
    # Codat's own schema agrees where it speaks (enum, type); a missing
    # currency is our contract (the sync cannot post without one).
    assert codat_schema.problems("Order", bad_payment) != []
    assert codat_schema.problems("Order", text_amount) != []

    response = api(
        "commerce-orders", [good, no_currency, bad_payment, text_amount, "x"], valid=False
    )
    body = response.json()
    assert response.status_code == 200
    assert (body["created"], body["rejected"]) == (1, 4)
    errors = {e["index"]: e for e in body["errors"]}
    assert errors[1] == {"index": 1, "id": "O-2", "message": "currency is required"}
    assert errors[2]["id"] == "O-3" and "payments[0].type must be one of" in errors[2]["message"]
    assert errors[3]["id"] == "O-4" and "totalAmount must be a number" in errors[3]["message"]
    assert errors[4] == {"index": 4, "id": None, "message": "the record must be an object"}
    assert list(
        PushedRecord.objects.filter(merchant=merchant).values_list("source_id", flat=True)
    ) == ["O-1"]


# -- reading pushed records back --


def sandbox_day(merchant, first: datetime, end: datetime):
    source = SandboxSource(
        merchant_seed=str(merchant.pk), time_zone="Europe/London", currency="GBP", orders_per_day=8
    )
    return source.read_period(start=first, end=end)


def push_batch(api, batch) -> None:
    for data_type, records in (
        ("commerce-orders", batch.orders),
        ("commerce-transactions", batch.transactions),
        ("commerce-locations", batch.locations),
        ("commerce-products", batch.products),
        ("commerce-productCategories", batch.product_categories),
        ("commerce-taxComponents", batch.tax_components),
        ("commerce-paymentMethods", batch.payment_methods),
    ):
        response = api(data_type, records)
        assert response.status_code == 200 and response.json()["rejected"] == 0, response.json()


def test_the_push_source_reads_the_period_late_arrivals_and_reference_data(
    api, merchant, monkeypatch
):
    start, end = datetime(2026, 11, 8, tzinfo=UTC), datetime(2026, 11, 9, tzinfo=UTC)
    # Each day pushed as it ends (a record from beyond the clock skew is refused).
    for day in (7, 8, 9):
        first = datetime(2026, 11, day, tzinfo=UTC)
        monkeypatch.setattr(
            timezone, "now", lambda first=first: first + timedelta(days=1, seconds=-1)
        )
        push_batch(api, sandbox_day(merchant, first, first + timedelta(days=1)))
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 11, 8, 12, tzinfo=UTC))
    api("commerce-orders", [order("LATE", "2026-11-06T10:00:00Z", "5", "1")])

    batch = PartnerPushSource(merchant_id=merchant.pk).read_period(start=start, end=end)
    expected = sandbox_day(merchant, start, end)
    assert {o["id"] for o in batch.orders} == {o["id"] for o in expected.orders} | {"LATE"}
    assert {t["id"] for t in batch.transactions} == {t["id"] for t in expected.transactions}
    assert len(batch.products) == len(expected.products) and batch.payment_methods


# -- end to end --

TODAY = date(2026, 11, 10)


def test_pushed_orders_sync_and_an_edit_is_adjusted(
    client, db, settings, tmp_path: Path, monkeypatch
):
    settings.LEDGER_DIR = str(tmp_path / "ledgers")
    demo = demo_seed(days=3, orders_per_day=8, today=TODAY)
    merchant = demo.merchant
    Connection.objects.filter(merchant=merchant, source_type="commerce").update(
        platform_key="partner-push"
    )
    _, key = partner_api_key_create(partner=merchant.partner, name="push")

    def push(data_type: str, records: list) -> dict:
        assert_codat_valid(data_type, records)
        response = client.post(
            f"/api/v1/companies/{merchant.pk}/push/{data_type}",
            data=json.dumps({"records": records}, default=_number),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        assert response.status_code == 200 and response.json()["rejected"] == 0, response.json()
        return response.json()

    push.key = key  # the fixture's interface, for push_batch
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 11, 10, 8, tzinfo=UTC))
    pushed = sandbox_day(
        merchant, datetime(2026, 11, 7, tzinfo=UTC), datetime(2026, 11, 10, tzinfo=UTC)
    )
    push_batch(lambda data_type, records: _Resp(push(data_type, records)), pushed)
    push("commerce-orders", [order("E-1", "2026-11-08T10:00:00Z", "10.00", "2.00")])

    first = sync_run_execute(merchant=merchant, now=datetime(2026, 11, 10, 9, tzinfo=UTC))
    assert first.status_code == 2000, first.messages
    assert first.counters["records_read"]["orders"] == len(pushed.orders) + 1
    assert first.counters["push_items"]["written"] == 3
    assert SourceRecord.objects.filter(
        merchant=merchant, kind="order", posted_run=first
    ).count() == (len(pushed.orders) + 1)

    # The partner edits E-1 the next morning; the next sync posts the difference.
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 11, 10, 12, tzinfo=UTC))
    edited = order("E-1", "2026-11-08T10:00:00Z", "15.00", "3.00", modified="2026-11-10T11:00:00Z")
    assert push("commerce-orders", [edited])["updated"] == 1
    second = sync_run_execute(merchant=merchant, now=datetime(2026, 11, 11, 9, tzinfo=UTC))
    assert second.status_code == 2000, second.messages
    assert second.counters["records"]["edited"] == 1
    adjustment = next(
        i.payload for i in second.push_items.all() if "adjustment" in i.payload.get("flags", [])
    )
    assert movements([adjustment]) == {
        "Assets:Clearing:Card": Decimal("6.00"),
        "Income:Sales:Coffee": Decimal("-5.00"),
        "Liabilities:VAT:Output": Decimal("-1.00"),
    }


class _Resp:
    """Adapts the end-to-end push helper to push_batch's response interface."""

    status_code = 200

    def __init__(self, body: dict) -> None:
        self.body = body

    def json(self) -> dict:
        return self.body
