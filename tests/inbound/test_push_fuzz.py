"""Hypothesis fuzz of pushed records: valid orders mixed with orders that
have one field (known or not) replaced by something nasty, sent as raw
JSON text so NaN, 1e999999999 and lone surrogates reach the server as a
client would send them. No answer is a 5xx; every valid order is stored;
every record is either stored or refused by its index."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commerce_sync.core.services.partners import partner_api_key_create
from commerce_sync.inbound.models import PushedRecord

NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)
RAW = "\x01raw\x01"  # marks a JSON token put into the text as it is

# Numbers and text that have broken services like this one.
nasty_tokens = st.sampled_from(
    [
        "NaN", "Infinity", "-Infinity", "1e999999999", "-1e999999999", "1e-999999999",
        "1" * 400, "1e15", "0.00001", "-0", '"\\u0000"', '"\\ud800"', '"a\\udfffb"',
        '"9999-12-31T23:00-05:00"', '"0001-01-01T00:00+05:00"', '"2026-13-01T00:00:00Z"',
        '"2099-01-01T00:00:00Z"', '"EUR"', '"XYZ"', '"gbp"', "[" * 40 + "]" * 40, "{}", "[]",
        "null", "true", '""',
    ]
).map(lambda token: RAW + token)  # fmt: skip
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.text(min_size=2001, max_size=2100, alphabet="ab"),
    nasty_tokens,
)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
FIELDS = [
    "id", "currency", "createdDate", "modifiedDate", "totalAmount", "totalTaxAmount",
    "orderNumber", "orderLineItems", "payments", "serviceCharges", "locationRef",
    "customerRef", "note", "closedDate", "totalDiscount",
]  # fmt: skip


def valid_order(oid: str, minutes: int, pence: int) -> dict:
    created = (NOW - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    amount = f"{pence / 100:.2f}"
    return {
        "id": oid,
        "currency": "GBP",
        "createdDate": created,
        "modifiedDate": created,
        "totalAmount": RAW + amount,
        "orderLineItems": [{"id": f"{oid}-L", "quantity": 1, "totalAmount": RAW + amount}],
        "payments": [{"id": f"{oid}-P", "amount": RAW + amount, "currency": "GBP"}],
    }


def raw_json(value: object) -> str:
    """JSON text with every RAW-marked string written as its bare token."""

    def encode(node: object) -> str:
        if isinstance(node, str) and node.startswith(RAW):
            return node[len(RAW) :]
        if isinstance(node, dict):
            return "{" + ", ".join(f"{json.dumps(k)}: {encode(v)}" for k, v in node.items()) + "}"
        if isinstance(node, list):
            return "[" + ", ".join(encode(v) for v in node) + "]"
        return json.dumps(node)

    return encode(value)


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[dict], set[int]]:
    """Records and the indexes of the ones left valid."""
    records, valid = [], set()
    for index in range(draw(st.integers(min_value=1, max_value=8))):
        record = valid_order(
            f"F-{index}",
            draw(st.integers(min_value=0, max_value=60 * 24 * 365)),
            draw(st.integers(min_value=-(10**9), max_value=10**9)),
        )
        if draw(st.booleans()):
            record[draw(st.sampled_from(FIELDS) | st.text(min_size=1, max_size=6))] = draw(values)
        else:
            valid.add(index)
        records.append(record)
    return records, valid


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=batches())
def test_fuzzed_records_never_5xx_and_valid_ones_are_kept(client, partner, merchant, batch):
    records, valid = batch
    prefix = uuid.uuid4().hex[:8]  # every example pushes ids of its own
    for record in records:
        if isinstance(record.get("id"), str):
            record["id"] = f"{prefix}-{record['id']}"
    _, key = partner_api_key_create(partner=partner, name="fuzz")
    body = '{"records": [' + ", ".join(raw_json(r) for r in records) + "]}"
    original_now = timezone.now
    timezone.now = lambda: NOW  # type: ignore[assignment]
    try:
        response = client.post(
            f"/api/v1/companies/{merchant.pk}/push/commerce-orders",
            data=body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
    finally:
        timezone.now = original_now  # type: ignore[assignment]
    assert response.status_code < 500, response.content[:500]
    answer = response.json()
    if response.status_code != 200:  # the body as a whole was refused: nothing stored
        assert response.status_code == 400 and "JSON parse error" in answer["error"], answer
        assert not PushedRecord.objects.filter(source_id__startswith=prefix).exists()
        return
    refused = {error["index"] for error in answer["errors"]}
    assert not refused & valid, answer["errors"]
    counted = sum(answer[k] for k in ("created", "updated", "unchanged", "stale"))
    assert counted + len(refused) == len(records), answer  # each one accounted for
    kept = set(
        PushedRecord.objects.filter(merchant=merchant, source_id__startswith=prefix).values_list(
            "source_id", flat=True
        )
    )
    accepted = {
        records[i]["id"]
        for i in range(len(records))
        if i not in refused and str(records[i].get("id", "")).startswith(prefix)
    }
    assert {records[i]["id"] for i in valid} <= accepted == kept
