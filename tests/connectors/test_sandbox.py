"""The sandbox source: deterministic, internally consistent, period-exact."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connectors.sandbox import SandboxSource
from connectors.sandbox.generator import Merchant, generate_day, reference_data
from mapping.money import minor_unit, quantize

ROOT = Path(__file__).resolve().parents[2]
LONDON = "Europe/London"
WEEK = [date(2026, 11, 2) + timedelta(days=n) for n in range(7)]


def merchant(**overrides: object) -> Merchant:
    fields: dict = {"seed": "cafe-1", "time_zone": LONDON, "currency": "GBP"} | overrides
    return Merchant(**fields)


def digest(m: Merchant, day: date) -> str:
    text = json.dumps(generate_day(m, day), default=str, sort_keys=False)
    return hashlib.sha256(text.encode()).hexdigest()


def at(day: date, hour: int, zone: str = LONDON) -> datetime:
    """A local wall-clock hour as UTC (so subtraction counts real hours)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def created(record: dict) -> datetime:
    assert record["createdDate"].endswith("Z")
    return datetime.fromisoformat(record["createdDate"])


# -- determinism ------------------------------------------------------------


def test_same_seed_and_date_give_identical_records() -> None:
    m = merchant()
    assert generate_day(m, WEEK[0]) == generate_day(m, WEEK[0])
    assert digest(m, WEEK[0]) == digest(merchant(), WEEK[0])


def test_records_are_byte_identical_in_another_process() -> None:
    # A different hash seed would expose any dependence on str/set hashing.
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import json, hashlib; from datetime import date;"
        "from connectors.sandbox.generator import Merchant, generate_day;"
        "m = Merchant(seed='cafe-1', time_zone='Europe/London', currency='GBP');"
        "text = json.dumps(generate_day(m, date(2026, 11, 2)), default=str, sort_keys=False);"
        "print(hashlib.sha256(text.encode()).hexdigest())"
    )
    env = os.environ | {"PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", script, str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == digest(merchant(), WEEK[0])


def test_other_seed_or_date_gives_other_records() -> None:
    base = digest(merchant(), WEEK[0])
    assert digest(merchant(seed="cafe-2"), WEEK[0]) != base
    assert digest(merchant(), WEEK[1]) != base
    assert digest(merchant(location_id="KINGS-X"), WEEK[0]) != base


# -- volume and shape ---------------------------------------------------------


@pytest.mark.parametrize("per_day", [40, 5, 200])
def test_order_volume_is_around_orders_per_day(per_day: int) -> None:
    counts = [len(generate_day(merchant(orders_per_day=per_day), d)[0]) for d in WEEK]
    assert all(0.8 * per_day - 0.5 <= c <= 1.2 * per_day + 0.5 for c in counts), counts
    assert len(set(counts)) > 1  # it varies from day to day


def test_no_orders_means_an_empty_day() -> None:
    orders, transactions = generate_day(merchant(orders_per_day=0), WEEK[0])
    assert orders == [] and transactions == []


def test_orders_fall_in_opening_hours_with_unique_ids() -> None:
    m = merchant(time_zone="America/Toronto")
    ids: list[str] = []
    for day in WEEK:
        orders, transactions = generate_day(m, day)
        for order in orders:
            local = created(order).astimezone(ZoneInfo(m.time_zone))
            assert local.date() == day and 7 <= local.hour < 19
            assert order["locationRef"] == {"id": "MAIN"}
            ids.append(order["id"])
        ids += [t["id"] for t in transactions]
    assert len(ids) == len(set(ids))


def test_reference_data_is_complete() -> None:
    ref = reference_data(merchant())
    categories = {c["id"] for c in ref["productCategories"]}
    assert 10 <= len(ref["products"]) <= 16
    assert all(p["productCategoryRef"]["id"] in categories for p in ref["products"])
    assert [p["id"] for p in ref["products"] if p["isGiftCard"]] == ["gift-card-25"]
    assert ref["locations"] == [
        {"id": "MAIN", "name": "Main street", "modifiedDate": "2026-01-01T00:00:00Z"}
    ]
    assert {m["id"] for m in ref["paymentMethods"]} >= {"Card", "Cash", "OnlineCard", "Prepaid"}
    assert ref["taxComponents"] == []  # single-rate VAT: no component breakdown
    rates = {v["vatPercentage"] for p in ref["products"] for v in p["variants"]}
    assert rates == {Decimal(0), Decimal(5), Decimal(20)}


# -- internal consistency -----------------------------------------------------

MONEY_KEYS = {"unitPrice", "totalAmount", "totalTaxAmount", "taxAmount", "amount", "rate"}
MONEY_KEYS |= {"totalDiscount", "totalGratuity", "totalRefund"}


def money_values(record: object, key: str = "") -> list[Decimal]:
    if isinstance(record, dict):
        return [v for k, item in record.items() for v in money_values(item, k)]
    if isinstance(record, list):
        return [v for item in record for v in money_values(item, key)]
    return [record] if key in MONEY_KEYS else []  # type: ignore[list-item]


def check_order(order: dict, currency: str, components: dict[str, Decimal]) -> None:
    exponent = -minor_unit(currency)
    for value in money_values(order):
        assert isinstance(value, Decimal) and value.as_tuple().exponent == exponent, value
    assert order["currency"] == currency
    zero = Decimal(0)
    lines, charges = order["orderLineItems"], order["serviceCharges"]
    discount = zero
    for line in lines:
        line_discount = sum((d["totalAmount"] for d in line.get("discountAllocations", [])), zero)
        net = line["quantity"] * line["unitPrice"] - line_discount
        tax = line["totalTaxAmount"]
        assert line["totalAmount"] == net + tax
        if "taxes" in line:
            # Each component is rounded on its own; the line's tax is their sum.
            for part in line["taxes"]:
                rate = components[part["taxComponentRef"]["id"]]
                assert part["rate"] == quantize(net * rate, currency)  # rate: a fraction
            assert sum(t["rate"] for t in line["taxes"]) == tax
            assert (
                sum(components[t["taxComponentRef"]["id"]] for t in line["taxes"]) * 100
                == (line["taxPercentage"])
            )
        else:
            assert tax == quantize(net * line["taxPercentage"] / 100, currency)
        assert (net < 0) == (line["quantity"] < 0) and (tax <= 0 if net < 0 else tax >= 0)
        discount += line_discount
    total = sum((x["totalAmount"] for x in lines + charges), zero)
    tax = sum((x["totalTaxAmount"] for x in lines), zero) + sum(
        (c["taxAmount"] for c in charges), zero
    )
    assert order["totalAmount"] == total
    assert order["totalTaxAmount"] == tax
    assert order["totalDiscount"] == discount
    assert order["totalRefund"] == (total if total < 0 else zero)
    paid = sum((p["amount"] for p in order["payments"]), zero)
    assert paid == order["totalAmount"] + order["totalGratuity"]
    assert all(p["currency"] == currency and p["status"] == "Paid" for p in order["payments"])
    assert all(not p["amount"].is_zero() for p in order["payments"])


@pytest.mark.parametrize(
    ("currency", "country", "zone"),
    [
        ("GBP", "GB", LONDON),
        ("JPY", "JP", "Asia/Tokyo"),
        ("BHD", "BH", "Asia/Bahrain"),
        ("CAD", "CA", "America/Montreal"),
        ("XYZ", "ZZ", "UTC"),
    ],
)
def test_every_order_is_internally_consistent(currency: str, country: str, zone: str) -> None:
    m = merchant(currency=currency, country=country, time_zone=zone)
    components = {c["id"]: c["rate"] for c in reference_data(m)["taxComponents"]}
    exponent = -minor_unit(currency)
    seen = 0
    for day in WEEK:
        orders, transactions = generate_day(m, day)
        for order in orders:
            check_order(order, currency, components)
            seen += 1
        for t in transactions:
            assert t["currency"] == currency
            assert t["totalAmount"].as_tuple().exponent == exponent
    assert seen > 200


def test_quebec_lines_carry_their_tax_components() -> None:
    m = merchant(currency="CAD", country="CA", time_zone="America/Montreal")
    assert {c["id"] for c in reference_data(m)["taxComponents"]} == {"GST", "QST"}
    lines = [x for o in generate_day(m, WEEK[0])[0] for x in o["orderLineItems"]]
    taxed = [x for x in lines if x["taxPercentage"] == Decimal("14.975")]
    assert taxed and all(len(x["taxes"]) == 2 for x in taxed)


# -- business events over a week ----------------------------------------------


def week_of(m: Merchant) -> tuple[list[dict], list[dict]]:
    orders, transactions = [], []
    for day in WEEK:
        o, t = generate_day(m, day)
        orders += o
        transactions += t
    return orders, transactions


def test_week_has_gift_cards_sold_and_redeemed_refunds_tips_and_splits() -> None:
    m = merchant()
    orders, transactions = week_of(m)
    gift = {p["id"] for p in reference_data(m)["products"] if p["isGiftCard"]}
    gift_lines = [x for o in orders for x in o["orderLineItems"] if x["productRef"]["id"] in gift]
    assert gift_lines and all(x["totalTaxAmount"].is_zero() for x in gift_lines)
    types = Counter(p["type"] for o in orders for p in o["payments"])
    assert types["Prepaid"] >= 3
    assert types["Card"] > types["Cash"] > types["OnlineCard"] > 0
    refunds = [o for o in orders if o["totalRefund"] < 0]
    assert len(refunds) >= 3
    for order in refunds:
        assert all(x["quantity"] < 0 and x["totalAmount"] < 0 for x in order["orderLineItems"])
        assert [p["type"] for p in order["payments"]] == ["Card"]
        assert order["payments"][0]["amount"] == order["totalAmount"] < 0
    assert any(o["totalGratuity"] > 0 for o in orders)
    assert any({"Card", "Cash"} == {p["type"] for p in o["payments"]} for o in orders)
    assert any(o["serviceCharges"] for o in orders)
    assert any(x.get("discountAllocations") for o in orders for x in o["orderLineItems"])
    assert Counter(t["type"] for t in transactions)["PaymentFeeRefund"] >= 1


def test_each_card_payment_has_a_fee_a_minute_later() -> None:
    orders, transactions = week_of(merchant())
    fees = {t["transactionSourceRef"]["id"]: t for t in transactions if t["type"] == "PaymentFee"}
    for order in orders:
        for payment in order["payments"]:
            charged = payment["type"] in ("Card", "OnlineCard") and payment["amount"] > 0
            assert (payment["id"] in fees) == charged
            if charged:
                fee = fees[payment["id"]]
                assert created(fee) - created(order) == timedelta(minutes=1)
                # About 1.4% + 20p: more than 1%, less than 2% + 25p.
                cost = -fee["totalAmount"]
                assert payment["amount"] / 100 < cost < payment["amount"] / 50 + Decimal("0.25")
    for t in transactions:
        if t["type"] == "PaymentFeeRefund":
            assert t["totalAmount"] > 0


def card_net_by_hand(orders: list[dict], transactions: list[dict], kind: str = "Card") -> Decimal:
    card_ids, net = set(), Decimal(0)
    for order in orders:
        for payment in order["payments"]:
            if payment["type"] == kind:
                card_ids.add(payment["id"])
                net += payment["amount"]
    for t in transactions:
        if t.get("transactionSourceRef", {}).get("id") in card_ids:
            net += t["totalAmount"]
    return net


def owed_by_hand(m: Merchant, day: date, kind: str, depth: int = 7) -> Decimal:
    """The day's net, less what the days before left owed (negative), as an
    acquirer keeps a balance: recursively, at most `depth` days back."""
    net = card_net_by_hand(*generate_day(m, day), kind=kind)
    if depth == 0:
        return net
    return net + min(Decimal(0), owed_by_hand(m, day - timedelta(days=1), kind, depth - 1))


def _payouts(transactions: list[dict], online: bool) -> list[dict]:
    return [t for t in transactions if t["type"] == "Payout" and ("subType" in t) == online]


@pytest.mark.parametrize("currency", ["GBP", "JPY", "BHD"])
def test_payout_settles_the_previous_days_card_net(currency: str) -> None:
    m = merchant(currency=currency)
    for day in WEEK:
        expected = owed_by_hand(m, day - timedelta(days=1), "Card")
        payouts = _payouts(generate_day(m, day)[1], online=False)
        assert len(payouts) == 1 and expected > 0
        assert payouts[0]["totalAmount"] == -expected
        assert created(payouts[0]) == at(day, 6)


def test_a_day_of_more_refunds_than_takings_is_taken_from_the_next_payout() -> None:
    """Refunds above a day's card takings leave the acquirer owed: no payout,
    and the next one is that much smaller (clearing never keeps it)."""
    m = merchant(orders_per_day=4)
    days = [date(2026, 11, 1) + timedelta(days=n) for n in range(90)]
    negative = [d for d in days if card_net_by_hand(*generate_day(m, d)) < 0]
    assert negative, "no day of more refunds than takings in 90 days of 4 orders"
    day = negative[0]
    assert _payouts(generate_day(m, day + timedelta(days=1))[1], online=False) == []
    carried = card_net_by_hand(*generate_day(m, day)) + min(
        Decimal(0), owed_by_hand(m, day - timedelta(days=1), "Card")
    )
    after = card_net_by_hand(*generate_day(m, day + timedelta(days=1)))
    paid = _payouts(generate_day(m, day + timedelta(days=2))[1], online=False)
    if after + carried > 0:
        assert [p["totalAmount"] for p in paid] == [-(after + carried)]
    else:
        assert paid == []


@pytest.mark.parametrize("currency", ["GBP", "JPY", "BHD"])
def test_online_card_takings_are_paid_out_two_days_later_naming_their_type(
    currency: str,
) -> None:
    """Issue 13's leftover: online card takings stayed in clearing for ever.
    The online acquirer pays each day's OnlineCard payments less their fees
    out two days later at 06:30, naming the payment type it pays out."""
    m = merchant(currency=currency)
    paid = 0
    for day in WEEK:
        expected = owed_by_hand(m, day - timedelta(days=2), "OnlineCard")
        payouts = _payouts(generate_day(m, day)[1], online=True)
        if expected <= 0:
            assert payouts == []
            continue
        (payout,) = payouts
        paid += 1
        assert payout["id"] == f"SBX-MAIN-{day:%Y%m%d}-PAYOUT-ONLINE"
        assert payout["totalAmount"] == -expected
        assert payout["subType"] == "PaymentType:OnlineCard"
        assert "transactionSourceRef" not in payout  # Codat's enum has no payment type
        assert created(payout) == at(day, 6) + timedelta(minutes=30)
    assert paid >= len(WEEK) - 1  # a café sells online most days


# -- periods --------------------------------------------------------------------


def source(**overrides: object) -> SandboxSource:
    args: dict = {"merchant_seed": "cafe-1", "time_zone": LONDON, "currency": "GBP"} | overrides
    return SandboxSource(**args)


def test_source_is_a_commerce_source() -> None:
    s = source(currency="gbp")
    assert s.platform_key == "sandbox"
    batch = s.read_period(start=at(WEEK[0], 0), end=at(WEEK[1], 0))
    assert batch.as_commerce()["products"] == reference_data(merchant())["products"]
    assert {o["currency"] for o in batch.orders} == {"GBP"}


def test_a_25_hour_dst_day_is_read_whole() -> None:
    day = date(2026, 10, 25)
    start, end = at(day, 0), at(day + timedelta(days=1), 0)
    assert end - start == timedelta(hours=25)
    batch = source().read_period(start=start, end=end)
    orders, transactions = generate_day(merchant(), day)
    assert batch.api_calls == 1
    assert batch.orders == orders and batch.transactions == transactions


def test_a_23_hour_dst_day_is_read_whole() -> None:
    day = date(2026, 3, 29)
    start, end = at(day, 0), at(day + timedelta(days=1), 0)
    assert end - start == timedelta(hours=23)
    batch = source().read_period(start=start, end=end)
    assert batch.api_calls == 1
    assert (batch.orders, batch.transactions) == generate_day(merchant(), day)


def test_a_period_at_a_sync_hour_is_cut_exactly() -> None:
    # 10:00 to 10:00 across the DST change: two local days, each cut at 10:00.
    start, end = at(date(2026, 10, 25), 10), at(date(2026, 10, 26), 10)
    batch = source().read_period(start=start, end=end)
    assert batch.api_calls == 2
    wanted = []
    for day in (date(2026, 10, 25), date(2026, 10, 26)):
        orders, transactions = generate_day(merchant(), day)
        wanted += [r for r in orders + transactions if start <= created(r) < end]
    assert batch.orders + batch.transactions != []
    assert sorted(r["id"] for r in batch.orders + batch.transactions) == sorted(
        r["id"] for r in wanted
    )
    assert all(start <= created(r) < end for r in batch.orders + batch.transactions)


def test_adjacent_periods_partition_the_records() -> None:
    s = source()
    cut = datetime(2026, 10, 25, 12, 30, tzinfo=UTC)
    whole = s.read_period(start=at(date(2026, 10, 24), 0), end=at(date(2026, 10, 27), 0))
    first = s.read_period(start=at(date(2026, 10, 24), 0), end=cut)
    second = s.read_period(start=cut, end=at(date(2026, 10, 27), 0))
    assert first.orders + second.orders == whole.orders
    assert sorted(map(str, first.transactions + second.transactions)) == sorted(
        map(str, whole.transactions)
    )


def test_a_week_is_generated_day_by_day() -> None:
    s = source(time_zone="America/Toronto")
    m = merchant(time_zone="America/Toronto")
    tz = "America/Toronto"
    # 2026-11-01 is the day Toronto falls back.
    days = [date(2026, 10, 29) + timedelta(days=n) for n in range(7)]
    batch = s.read_period(start=at(days[0], 0, tz), end=at(days[-1] + timedelta(days=1), 0, tz))
    assert batch.api_calls == 7
    assert batch.orders == [o for d in days for o in generate_day(m, d)[0]]
    assert batch.transactions == [t for d in days for t in generate_day(m, d)[1]]
    assert len(_payouts(batch.transactions, online=False)) == 7
    online_days = [
        d
        for d in days
        if card_net_by_hand(*generate_day(m, d - timedelta(days=2)), kind="OnlineCard") > 0
    ]
    assert len(_payouts(batch.transactions, online=True)) == len(online_days) > 0


def test_empty_and_naive_periods() -> None:
    s = source()
    moment = at(WEEK[0], 12)
    empty = s.read_period(start=moment, end=moment)
    assert empty.api_calls == 0 and empty.orders == [] and empty.transactions == []
    assert empty.products  # reference data comes with every batch
    with pytest.raises(ValueError):
        s.read_period(start=datetime(2026, 11, 2), end=datetime(2026, 11, 3))  # noqa: DTZ001 - naive on purpose
