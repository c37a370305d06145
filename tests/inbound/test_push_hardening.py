"""Probes of the push endpoint as a careless client and an attacker would
send them (issue 15): every malformed record is refused by index and id
naming the field and the reason while the valid records of the same body
are stored; a body that cannot be read at all is a JSON 4xx naming the
limit. Never a 5xx."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from commerce_sync.core.services.partners import partner_api_key_create
from commerce_sync.inbound.models import PushedRecord
from commerce_sync.inbound.validation import MAX_DEPTH

NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)


def order_json(oid: str, **fields: str) -> str:
    """One valid order as JSON text; `fields` replace top-level values with
    raw JSON text (so NaN, 1e999999999 and escapes reach the server as sent)."""
    values = {
        "id": json.dumps(oid),
        "currency": '"GBP"',
        "createdDate": '"2026-11-09T10:00:00Z"',
        "modifiedDate": '"2026-11-09T10:00:00Z"',
        "totalAmount": "12.00",
        "totalTaxAmount": "2.00",
        "orderLineItems": '[{"id": "L1", "quantity": 1, "totalAmount": 12.00}]',
        "payments": '[{"id": "P1", "type": "Card", "amount": 12.00, "currency": "GBP"}]',
    }
    values.update(fields)
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in values.items()) + "}"


@pytest.fixture
def push(client, partner, merchant, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    _, key = partner_api_key_create(partner=partner, name="probe")

    def send(body: str | bytes, data_type: str = "commerce-orders", **headers):
        return client.post(
            f"/api/v1/companies/{merchant.pk}/push/{data_type}",
            data=body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
            **headers,
        )

    return send


def stored(merchant) -> set[str]:
    return set(PushedRecord.objects.filter(merchant=merchant).values_list("source_id", flat=True))


LONG_ID = "x" * 201
# (raw JSON of the bad record, the field named, words of the reason)
PROBES = [
    (order_json("BAD", totalAmount="NaN"), "totalAmount", "finite"),
    (order_json("BAD", totalAmount="Infinity"), "totalAmount", "finite"),
    (order_json("BAD", totalTaxAmount="-Infinity"), "totalTaxAmount", "finite"),
    (order_json("BAD", note="NaN"), "note", "finite"),  # a field nothing else checks
    (order_json("BAD", customerRef='{"id": "C1", "rank": NaN}'), "customerRef.rank", "finite"),
    (order_json("BAD", totalAmount="1e999999999"), "totalAmount", "below 10^15"),
    (order_json("BAD", totalAmount="-1e999999999"), "totalAmount", "below 10^15"),
    (order_json("BAD", totalAmount="1" * 5000), "totalAmount", "below 10^15"),
    (order_json("BAD", totalAmount="1e15"), "totalAmount", "below 10^15"),
    (order_json("BAD", orderNumber='"A\\u0000B"'), "orderNumber", "NUL"),
    (order_json("BAD", anything='{"deeper": ["\\u0000"]}'), "anything.deeper[0]", "NUL"),
    (order_json("BAD", orderNumber='"\\ud800"'), "orderNumber", "unpaired surrogate"),
    (order_json("BAD", orderNumber='"ok \\udfff ok"'), "orderNumber", "unpaired surrogate"),
    (order_json("BAD")[:-1] + ', "\\ud800": "x"}', "a field name", "unpaired surrogate"),
    (order_json("BAD", orderNumber=json.dumps("n" * 2001)), "orderNumber", "at most 2000"),
    (order_json(LONG_ID), "id", "at most 200 characters"),
    (
        order_json("BAD", locationRef=json.dumps({"id": "L" * 201})),
        "locationRef.id",
        "at most 200",
    ),
    (order_json("BAD", createdDate='"9999-12-31T23:00-05:00"'), "createdDate", "years 1970"),
    (order_json("BAD", createdDate='"0001-01-01T00:00+05:00"'), "createdDate", "years 1970"),
    (order_json("BAD", modifiedDate='"9999-12-31T23:00-05:00"'), "modifiedDate", "years 1970"),
    (
        order_json("BAD", payments='[{"id": "P", "dueDate": "0001-01-01T00:00+05:00"}]'),
        "payments[0].dueDate",
        "years 1970",
    ),
    (order_json("BAD", createdDate='"2026-11-10T12:06:00Z"'), "createdDate", "future"),
    (order_json("BAD", modifiedDate='"2027-01-01T00:00:00Z"'), "modifiedDate", "future"),
    (order_json("BAD", modifiedDate='"2026-11-10T13:00:00"'), "modifiedDate", "future"),
    (order_json("BAD", currency='"XYZ"'), "currency", "ISO 4217"),
    (order_json("BAD", currency='"gbp"'), "currency", "ISO 4217"),
    (order_json("BAD", currency='"EUR"'), "currency", "company's currency GBP"),
    (
        order_json("BAD", payments='[{"id": "P1", "amount": 1, "currency": "USD"}]'),
        "payments[0].currency",
        "company's currency GBP",
    ),
    (
        order_json("BAD", extra="[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)),
        "extra",
        f"more than {MAX_DEPTH} levels",
    ),
    (order_json("BAD", extra="[" * 500 + "]" * 500), "extra", f"more than {MAX_DEPTH} levels"),
]


@pytest.mark.parametrize(("bad", "field", "reason"), PROBES)
def test_a_bad_record_is_named_and_the_valid_ones_are_stored(push, merchant, bad, field, reason):
    body = '{"records": [' + ", ".join([order_json("OK-1"), bad, order_json("OK-2")]) + "]}"
    response = push(body)
    answer = response.json()
    assert response.status_code == 200, answer
    assert (answer["created"], answer["rejected"]) == (2, 1), answer
    (error,) = answer["errors"]
    assert error["index"] == 1
    assert error["id"] in ("BAD", LONG_ID[:200] + "...")
    assert field in error["message"] and reason in error["message"], error["message"]
    assert stored(merchant) == {"OK-1", "OK-2"}


def test_dates_within_the_clock_skew_and_far_offsets_that_convert_are_kept(push, merchant):
    within = order_json("SKEW", createdDate='"2026-11-10T12:04:00Z"')
    offset = order_json("OFFSET", createdDate='"2000-12-31T23:00-12:00"')
    old = order_json("OLD", createdDate='"1970-01-01T00:00+05:00"')
    answer = push('{"records": [' + ", ".join([within, offset, old]) + "]}").json()
    assert answer["created"] == 3 and answer["rejected"] == 0, answer["errors"]
    row = PushedRecord.objects.get(merchant=merchant, source_id="OFFSET")
    assert row.created_date == datetime(2001, 1, 1, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ("[" * 5000 + "]" * 5000, 400, "nested too deeply"),
        ('{"records": ' + "[" * 5000 + "]" * 5000 + "}", 400, f"at most {MAX_DEPTH} levels"),
        ("[]", 400, "JSON object"),
        ('"records"', 400, "JSON object"),
        ("null", 400, "JSON object"),
        ('{"records": {}}', 400, "records array"),
        ('{"records": [], "extra": 1}', 400, "send only records"),
        ('{"records": [], "\\ud800": 1}', 400, "send only records"),
        ('{"records": [1e999999999999999999999]', 400, "JSON parse error"),
        ("{'records': []}", 400, "JSON parse error"),
        (b'{"records": ["\xff\xfe"]}', 400, "JSON parse error"),
    ],
)
def test_a_body_that_cannot_be_read_is_a_4xx_naming_it(push, merchant, body, status, words):
    response = push(body)
    answer = response.json()
    assert response.status_code == status and answer["statusCode"] == status, answer
    assert response["Content-Type"] == "application/json"
    assert words in json.dumps(answer), answer
    assert stored(merchant) == set()


def test_over_the_push_limit_is_a_413_naming_it(push, merchant, settings):
    settings.PUSH_MAX_BODY_BYTES = 10_000
    body = '{"records": [' + ", ".join(order_json(f"O-{n}") for n in range(100)) + "]}"
    response = push(body)
    assert response.status_code == 413, response.content
    assert "10,000 bytes" in response.json()["error"]
    # The same records gzipped are still 10,000+ bytes once inflated: refused too.
    zipped = push(gzip.compress(body.encode()), HTTP_CONTENT_ENCODING="gzip")
    assert zipped.status_code == 413 and "PUSH_MAX_BODY_BYTES" in zipped.json()["error"]
    assert stored(merchant) == set()


def test_a_gzip_bomb_is_refused_without_inflating_it(push, merchant, settings):
    settings.PUSH_MAX_BODY_BYTES = 1_000_000
    bomb = gzip.compress(b'{"records": [' + b" " * 200_000_000 + b"]}")
    assert len(bomb) < 1_000_000
    response = push(bomb, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("body", "encoding", "status"),
    [(b"not gzip at all", "gzip", 400), (b'{"records": []}', "br", 415)],
)
def test_bad_encodings_are_4xx(push, body, encoding, status):
    response = push(body, HTTP_CONTENT_ENCODING=encoding)
    assert response.status_code == status and response.json()["statusCode"] == status


def test_a_truncated_gzip_stream_is_a_400(push):
    whole = gzip.compress(b'{"records": []}')
    response = push(whole[:-6], HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400 and "ends early" in response.json()["error"]


def realistic_order(n: int) -> dict:
    """An order as a busy shop's till sends it: several lines with taxes
    and discounts, split payments, refs with names."""
    created = (NOW - timedelta(hours=2, seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [
        {
            "id": f"R-{n:05d}-L{i}",
            "quantity": 2,
            "unitPrice": Decimal("4.1667"),
            "taxPercentage": 20,
            "totalTaxAmount": Decimal("1.6667"),
            "totalAmount": Decimal("10.00"),
            "productRef": {"id": f"SKU-{i:04d}", "name": f"Oat flat white large {i}"},
            "productVariantRef": {"id": f"SKU-{i:04d}-V1", "name": "Large"},
            "taxes": [
                {"taxComponentRef": {"id": "VAT20", "name": "VAT 20%"}, "rate": 20},
            ],
            "discountAllocations": [{"name": "Loyalty", "totalAmount": Decimal("0.50")}],
        }
        for i in range(6)
    ]
    return {
        "id": f"R-{n:05d}",
        "orderNumber": f"#{100000 + n}",
        "country": "GB",
        "currency": "GBP",
        "createdDate": created,
        "modifiedDate": created,
        "closedDate": created,
        "totalAmount": Decimal("60.00"),
        "totalTaxAmount": Decimal("10.00"),
        "totalDiscount": Decimal("3.00"),
        "totalRefund": 0,
        "totalGratuity": Decimal("1.50"),
        "orderLineItems": lines,
        "payments": [
            {
                "id": f"R-{n:05d}-P{k}",
                "amount": Decimal("30.00"),
                "currency": "GBP",
                "type": "Card",
                "status": "Paid",
                "paymentProvider": "Adyen",
                "createdDate": created,
                "modifiedDate": created,
            }
            for k in range(2)
        ],
        "locationRef": {"id": "LOC-1", "name": "High Street"},
        "customerRef": {"id": f"CUST-{n % 700:05d}", "name": "A. Customer"},
    }


def test_five_thousand_realistic_orders_fit_plain_and_gzipped_with_an_idempotency_key(
    push, merchant, settings
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000_000  # the other endpoints' low limit
    records = [realistic_order(n) for n in range(5000)]
    body = json.dumps({"records": records}, default=float).encode()
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE * 5  # ~20 MB
    assert len(body) < settings.PUSH_MAX_BODY_BYTES
    first = push(body, HTTP_IDEMPOTENCY_KEY="push-1")
    assert first.status_code == 200, first.content[:300]
    assert (first.json()["created"], first.json()["rejected"]) == (5000, 0)
    zipped = gzip.compress(body)
    again = push(zipped, HTTP_CONTENT_ENCODING="gzip", HTTP_IDEMPOTENCY_KEY="push-2")
    assert again.status_code == 200 and again.json()["unchanged"] == 5000
    assert len(stored(merchant)) == 5000


def test_other_endpoints_keep_the_low_limit(client, partner, settings):
    _, key = partner_api_key_create(partner=partner, name="probe")
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    response = client.post(
        "/api/v1/companies",
        data=json.dumps({"name": "x" * 200_000}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 413
