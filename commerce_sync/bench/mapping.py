"""A large, realistic merchant-day for `manage.py bench_mapping`, and its timing.

The day is a busy café chain till in the Codat Commerce shape: about three
lines and 1.2 payments per order (a fifth split between cash and card), a fee
per card payment, tips, discounts, delivery charges, gift cards sold and
redeemed, a few refunds with their fee refunds, and one payout. Amounts are
exact in the currency's minor unit and every order is paid in full, so the
engine maps the whole day without an error. The generator favours speed over
variety (the sandbox generator is the realistic one): 100,000 orders take a
couple of seconds.
"""

from __future__ import annotations

import gc
import json
import random
import resource
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from mapping.bulk import gc_paused
from mapping.config import parse_configuration
from mapping.engine import map_period
from mapping.parsing import stream_commerce
from mapping.periods import Period, zone

Record = dict[str, Any]

DAY = date(2026, 11, 2)
TIME_ZONE = "Europe/London"  # on UTC in November: local and UTC stamps agree
OPENS_AT = 7 * 3600
OPEN_SECONDS = 12 * 3600
FEE_PER_MILLE, FEE_FIXED = 14, 20  # 1.4% + 20p, in pence
# (id, name, category, VAT %, net unit price in pence, weight)
MENU = (
    ("espresso", "Espresso", "coffee", 20, 220, 8),
    ("flat-white", "Flat white", "coffee", 20, 275, 14),
    ("latte", "Latte", "coffee", 20, 300, 14),
    ("tea", "Pot of tea", "coffee", 20, 200, 8),
    ("croissant", "Croissant (takeaway)", "food", 0, 220, 10),
    ("sandwich", "Cold sandwich (takeaway)", "food", 0, 480, 8),
    ("toastie", "Cheese toastie", "food", 20, 550, 6),
    ("soup", "Soup of the day", "food", 20, 450, 4),
    ("cake", "Slice of cake", "food", 20, 320, 8),
    ("kids-juice", "Kids' juice", "food", 5, 160, 3),
    ("beans-1kg", "House beans 1kg", "retail", 0, 1800, 2),
    ("keep-cup", "Reusable cup", "retail", 20, 900, 2),
)
GIFT_CARD = ("gift-card-25", "Gift card 25", "gift-cards", 0, 2500, 0)
LINE_COUNTS, LINE_WEIGHTS = (1, 2, 3, 4, 5), (15, 20, 25, 22, 18)  # 3.1 lines a sale


def configuration(output_format: str = "JournalEntry") -> Record:
    """The merchant's Codat commerceConfiguration (as in the golden scenarios)."""

    def accounts(**ids: str) -> Record:
        return {key: {"selectedAccountId": value} for key, value in ids.items()}

    return {
        "countryCode": "GB",
        "sales": {
            "syncSales": True,
            "accounts": accounts(
                sales="4000",
                refund="4000",
                gratuity="2150",
                prepaid="2300",
                serviceCharge="4010",
                tax="2200",
                **{"category-coffee": "4100"},
            ),
            "taxRates": {
                "20": {"selectedTaxRateId": "OUTPUT2"},
                "5": {"selectedTaxRateId": "RROUTPUT"},
                "0": {"selectedTaxRateId": "ZERORATEDOUTPUT"},
            },
            "newTaxRates": {"selectedDefaultZeroTaxRateId": "NONE"},
            "invoiceStatus": {"selectedInvoiceStatus": "Submitted"},
            "salesCustomer": {"selectedCustomerId": "CUST-POS"},
            "grouping": {"groupingPeriod": {"selectedGroupingPeriod": "Daily"}},
        },
        "payments": {
            "syncPayments": True,
            "accounts": accounts(
                card="1100", cash="1000", onlineCard="1110", prepaidPayment="2300", payout="1200"
            ),
        },
        "fees": {
            "syncFees": True,
            "feesSupplier": {"selectedSupplierId": "SUPP-PROC"},
            "accounts": accounts(paymentFee="6100", paymentFeeRefund="6100"),
        },
        "mapSettings": {"outputFormat": output_format},
    }


def reference() -> Record:
    products = [
        {
            "id": pid,
            "name": name,
            "isGiftCard": pid == GIFT_CARD[0],
            "productCategoryRef": {"id": category},
        }
        for pid, name, category, *_ in (*MENU, GIFT_CARD)
    ]
    categories = sorted({item[2] for item in (*MENU, GIFT_CARD)})
    return {
        "products": products,
        "productCategories": [{"id": c, "name": c.replace("-", " ").title()} for c in categories],
        "locations": [{"id": "MAIN", "name": "Main street"}],
        "paymentMethods": [
            {"id": t, "name": t, "status": "Active"}
            for t in ("Card", "Cash", "OnlineCard", "Prepaid")
        ],
    }


def _gbp(pence: int) -> float:
    """Pence as the JSON number a POS would send: the nearest double to the exact
    decimal, whose shortest repr (what `json.dumps` writes) is that decimal."""
    return pence / 100


class _Day:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - test data, not secrets
        self.transactions: list[Record] = []
        self.card_takings = 0
        start = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC)
        self.stamps = [
            (start + timedelta(seconds=OPENS_AT + s)).strftime("%Y-%m-%dT%H:%M:%SZ")
            for s in range(0, OPEN_SECONDS, 15)
        ]

    def orders(self, count: int) -> list[Record]:
        rng = self.rng
        kinds = rng.choices(("sale", "refund", "gift", "prepaid"), weights=(95, 2, 1, 2), k=count)
        stamps = sorted(rng.choices(range(len(self.stamps)), k=count))
        return [
            self.order(f"BENCH-{n:07d}", kind, self.stamps[at])
            for n, (kind, at) in enumerate(zip(kinds, stamps, strict=True), 1)
        ]

    def order(self, oid: str, kind: str, stamp: str) -> Record:
        rng = self.rng
        if kind == "gift":
            items = [(GIFT_CARD, 1)]
        else:
            count = rng.choices(LINE_COUNTS, LINE_WEIGHTS)[0] if kind != "refund" else 1
            items = [(item, rng.choice((1, 1, 1, 2))) for item in rng.choices(MENU, k=count)]
        sign = -1 if kind == "refund" else 1
        lines, total, tax_total, discounts = [], 0, 0, 0
        for n, ((pid, name, _, rate, price, _), quantity) in enumerate(items, 1):
            gross = quantity * price
            discount = gross // 10 if kind == "sale" and rng.random() < 0.1 else 0
            net = gross - discount
            tax = (net * rate + 50) // 100  # half up, in pence
            line: Record = {
                "id": f"{oid}-L{n}",
                "productRef": {"id": pid, "name": name},
                "quantity": sign * quantity,
                "unitPrice": _gbp(price),
                "taxPercentage": rate,
                "totalTaxAmount": _gbp(sign * tax),
                "totalAmount": _gbp(sign * (net + tax)),
            }
            if discount:
                line["discountAllocations"] = [{"name": "10% off", "totalAmount": _gbp(discount)}]
            lines.append(line)
            total += sign * (net + tax)
            tax_total += sign * tax
            discounts += discount
        charges = []
        online = kind == "sale" and rng.random() < 0.08
        if online and rng.random() < 0.5:
            charges.append(
                {
                    "description": "Delivery",
                    "type": "Shipping",
                    "quantity": 1,
                    "taxPercentage": 20,
                    "taxAmount": _gbp(50),
                    "totalAmount": _gbp(300),
                }
            )
            total += 300
            tax_total += 50
        tip = (total * rng.choice((10, 12, 15)) + 50) // 100 if kind == "sale" else 0
        tip = tip if rng.random() < 0.15 else 0
        return {
            "id": oid,
            "orderNumber": oid,
            "country": "GB",
            "currency": "GBP",
            "createdDate": stamp,
            "modifiedDate": stamp,
            "closedDate": stamp,
            "totalAmount": _gbp(total),
            "totalTaxAmount": _gbp(tax_total),
            "totalDiscount": _gbp(discounts),
            "totalGratuity": _gbp(tip),
            "totalRefund": _gbp(total if kind == "refund" else 0),
            "orderLineItems": lines,
            "serviceCharges": charges,
            "payments": self.payments(oid, kind, online, total + tip, stamp),
            "locationRef": {"id": "MAIN"},
        }

    def payments(self, oid: str, kind: str, online: bool, due: int, stamp: str) -> list[Record]:
        rng = self.rng
        if kind == "prepaid":
            share = due if rng.random() < 0.5 else due // 2
            parts = [("Prepaid", share), ("Card", due - share)]
        elif kind == "refund":
            parts = [(rng.choice(("Card", "Cash")), due)]
        elif online:
            parts = [("OnlineCard", due)]
        elif rng.random() < 0.2:
            share = due * rng.randint(30, 70) // 100
            parts = [("Cash", share), ("Card", due - share)]
        else:
            parts = [(rng.choice(("Card", "Card", "Cash")), due)]
        payments = []
        for tender, amount in parts:
            if not amount:
                continue
            pid = f"{oid}-P{len(payments) + 1}"
            payments.append(
                {
                    "id": pid,
                    "type": tender,
                    "amount": _gbp(amount),
                    "currency": "GBP",
                    "status": "Paid",
                    "paymentMethodRef": {"id": tender},
                }
            )
            if tender in ("Card", "OnlineCard"):
                self.fee(pid, amount, stamp)
        return payments

    def fee(self, pid: str, amount: int, stamp: str) -> None:
        if amount > 0:
            kind, fee = "PaymentFee", -((amount * FEE_PER_MILLE + 500) // 1000 + FEE_FIXED)
        else:
            kind, fee = "PaymentFeeRefund", (-amount * FEE_PER_MILLE + 500) // 1000
        self.card_takings += amount + fee
        if fee:
            self.transactions.append(
                {
                    "id": f"{pid}-FEE",
                    "type": kind,
                    "currency": "GBP",
                    "createdDate": stamp,
                    "modifiedDate": stamp,
                    "totalAmount": _gbp(fee),
                    "transactionSourceRef": {"id": pid, "type": "Payment"},
                }
            )

    def payout(self) -> Record:
        stamp = f"{DAY.isoformat()}T06:00:00Z"
        return {
            "id": f"BENCH-PAYOUT-{DAY:%Y%m%d}",
            "type": "Payout",
            "currency": "GBP",
            "createdDate": stamp,
            "modifiedDate": stamp,
            "totalAmount": _gbp(-max(self.card_takings * 9 // 10, 1)),  # yesterday's, roughly
        }


def merchant_day(orders: int, seed: int = 0, output_format: str = "JournalEntry") -> Record:
    """A scenario document (the golden files' shape) holding `orders` orders."""
    day = _Day(seed)
    order_list = day.orders(orders)
    return {
        "timeZone": TIME_ZONE,
        "currency": "GBP",
        "schedule": {"syncHour": 0, "timeZone": TIME_ZONE, "startDate": DAY.isoformat()},
        "period": {"start": DAY.isoformat(), "end": (DAY + timedelta(days=1)).isoformat()},
        "commerce": {
            "orders": order_list,
            "transactions": [day.payout(), *day.transactions],
            **reference(),
        },
        "configuration": configuration(output_format),
    }


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


def run(
    orders: int,
    seed: int = 0,
    output_format: str = "JournalEntry",
    *,
    profiler: Any = None,
    collect_garbage: bool = True,
) -> tuple[dict[str, Any], Any]:
    """Generate, serialise, then time JSON parsing and (separately) the
    canonical parse + mapping of the loaded dicts. Returns (figures, result).

    Both timed parts build millions of small objects, so Python's cyclic
    garbage collector takes much of their time on large days;
    `collect_garbage=False` switches it off while they run, to show the
    engine's own cost."""
    text = json.dumps(merchant_day(orders, seed, output_format))
    gc.collect()
    if not collect_garbage:
        gc.disable()
    try:
        return _timed(text, orders, output_format, profiler, collect_garbage)
    finally:
        gc.enable()


def _timed(
    text: str, orders: int, output_format: str, profiler: Any, collect_garbage: bool
) -> tuple[dict[str, Any], Any]:
    # The engine pauses the cyclic collector while it works (mapping.bulk);
    # json.loads is timed the same way so the ratio compares like with like,
    # and once more as Python runs it by default, for reference.
    with gc_paused():
        started = time.perf_counter()
        loaded = json.loads(text, parse_float=Decimal)
        json_seconds = time.perf_counter() - started
    del loaded
    gc.collect()
    started = time.perf_counter()
    loaded = json.loads(text, parse_float=Decimal)
    json_seconds_gc_on = time.perf_counter() - started

    tz = zone(loaded["timeZone"])
    config = parse_configuration(loaded["configuration"])
    first = date.fromisoformat(loaded["period"]["start"])
    last = date.fromisoformat(loaded["period"]["end"])
    period = Period.from_dates(first, last, sync_hour=loaded["schedule"]["syncHour"], tz=tz)
    if collect_garbage:
        gc.collect()
    if profiler is not None:
        profiler.enable()
    rss_before = _reset_peak_rss()
    started = time.perf_counter()
    # Streamed: records are parsed as the engine reads them, so what the
    # engine keeps grows with the documents (a few sums), not the orders.
    data = stream_commerce(loaded["commerce"], tz)
    result = map_period(data, config, period, key_prefix="bench")
    seconds = time.perf_counter() - started
    engine_extra_mb = _peak_since_reset_mb() - rss_before
    if profiler is not None:
        profiler.disable()
    commerce = loaded["commerce"]
    figures = {
        "orders": orders,
        "seconds": round(seconds, 4),
        "orders_per_second": round(orders / seconds) if seconds else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        # Memory the parse + map step added on top of the loaded JSON (Linux).
        "engine_peak_extra_mb": round(engine_extra_mb, 1) if engine_extra_mb >= 0 else None,
        "json_parse_seconds": round(json_seconds, 4),
        "json_parse_seconds_gc_on": round(json_seconds_gc_on, 4),
        "ratio_to_json_parse": round(seconds / json_seconds, 2) if json_seconds else None,
        "documents": len(result.documents),
        "records": {
            "orders": len(commerce["orders"]),
            "lines": sum(len(o["orderLineItems"]) for o in commerce["orders"]),
            "payments": sum(len(o["payments"]) for o in commerce["orders"]),
            "transactions": len(commerce["transactions"]),
        },
        "input_mb": round(len(text) / 1e6, 1),
        "output_format": output_format,
        "garbage_collector": collect_garbage,
        "warnings": [w.as_json() for w in result.warnings[:10]],
        "errors": [e.as_json() for e in result.errors[:10]],
    }
    return figures, result


def _status_kb(field: str) -> float:
    try:
        for line in open("/proc/self/status").read().splitlines():  # noqa: SIM115
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return -1.0


def _reset_peak_rss() -> float:
    """Reset the kernel's peak-RSS mark (Linux); return the current RSS in MB."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return float("inf")  # not Linux: the figure is left out
    return _status_kb("VmRSS") / 1024


def _peak_since_reset_mb() -> float:
    return _status_kb("VmHWM") / 1024
