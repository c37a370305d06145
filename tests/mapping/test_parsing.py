"""The fast path of the canonical parser reads exactly what the checked path
reads, and a streamed day maps exactly like a parsed one."""

from __future__ import annotations

import json
import os
from datetime import date
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from commerce_sync.bench.mapping import merchant_day
from connectors.sandbox.generator import Merchant, generate_day
from mapping import fastpath, parsing
from mapping.config import parse_configuration
from mapping.engine import map_period
from mapping.errors import MappingError
from mapping.periods import Period

SHARED = (
    Path(
        os.environ.get("COMMERCE_SYNC_SHARED")
        or Path(__file__).resolve().parents[2].parent / "shared"
    )
    / "scenarios"
)
OURS = Path(__file__).resolve().parent / "scenarios"


def days():
    for currency, country, tz in (
        ("GBP", "GB", "Europe/London"),
        ("JPY", "JP", "Asia/Tokyo"),
        ("BHD", "BH", "Asia/Bahrain"),
        ("CAD", "CA", "America/Toronto"),
    ):
        merchant = Merchant(
            seed=f"parse-{currency}",
            time_zone=tz,
            currency=currency,
            country=country,
            orders_per_day=60,
        )
        for offset in range(3):
            orders, transactions = generate_day(merchant, date(2026, 10, 24 + offset))
            yield tz, orders, transactions
    for path in [*SHARED.glob("*.json"), *OURS.glob("*.json")]:
        scenario = json.loads(path.read_text(), parse_float=Decimal)
        if "errors" in scenario.get("expected", {}):
            continue  # a refused day may hold records no parser takes
        commerce = scenario["commerce"]
        yield scenario["timeZone"], commerce.get("orders", []), commerce.get("transactions", [])
    bench = merchant_day(300, 1, "JournalEntry")
    yield bench["timeZone"], bench["commerce"]["orders"], bench["commerce"]["transactions"]


def test_fast_and_checked_parsers_agree():
    seen = 0
    for tz_name, orders, transactions in days():
        tz = ZoneInfo(tz_name)
        for record in orders:
            assert parsing.parse_order(record, tz) == parsing.parse_order_checked(record, tz)
            seen += 1
        for record in transactions:
            assert parsing.parse_transaction(record, tz) == parsing.parse_transaction_checked(
                record, tz
            )
    assert seen > 700


def test_the_fast_path_takes_the_well_formed_records():
    """If it gave up on them, the checked path would silently carry the load."""
    merchant = Merchant(seed="fast", time_zone="Europe/London", currency="GBP", orders_per_day=40)
    orders, transactions = generate_day(merchant, date(2026, 11, 2))
    tz = ZoneInfo("Europe/London")
    for record in orders:
        fastpath.fast_order(record, tz)
    for record in transactions:
        fastpath.fast_transaction(record, tz)


@pytest.mark.parametrize("output_format", ["JournalEntry", "Invoice"])
def test_a_streamed_day_maps_like_a_parsed_one(output_format):
    day = merchant_day(500, 7, output_format)
    tz = ZoneInfo(day["timeZone"])
    config = parse_configuration(day["configuration"])
    period = Period.from_dates(
        date.fromisoformat(day["period"]["start"]),
        date.fromisoformat(day["period"]["end"]),
        sync_hour=day["schedule"]["syncHour"],
        tz=tz,
    )
    parsed = map_period(parsing.parse_commerce(day["commerce"], tz), config, period, key_prefix="x")
    streamed = map_period(
        parsing.stream_commerce(day["commerce"], tz), config, period, key_prefix="x"
    )
    assert parsed.errors == [] and parsed.as_json() == streamed.as_json()


def test_a_bad_record_stops_the_stream_with_its_name():
    tz = ZoneInfo("Europe/London")
    data = parsing.stream_commerce({"orders": [{"id": "X-1", "currency": "GBP"}]}, tz)
    with pytest.raises(MappingError, match=r"orders\[0\] \(id X-1\)"):
        list(data.orders)
