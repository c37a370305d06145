"""Property tests of the mapping engine: the invariants of PRODUCT.md section 5
must hold for every merchant-day, not only for the worked scenarios.

Hypothesis builds Codat-shaped merchant-days (orders with several tax rates,
tax components, discounts, gratuity, service charges, gift cards sold and
redeemed, split tenders, refunds; fees, fee refunds, payouts and failed
payouts) in 0-, 2- and 3-decimal currencies (JPY; GBP, EUR, CHF; BHD, KWD),
every order paid in full, as a point of sale sends them: some line amounts
finer than the currency's minor unit (the payments then settle the total
rounded to it), free (zero) lines and orders, negative lines beside positive
ones (exchanges), CHF cash rounded to 0.05, now and then an order waiting for
a payment not settled yet (Authorized). The two days of a scenario are often
DST days (23 and 25 hours) in London, Toronto or Sydney, with sync hours
that fall in the skipped or repeated hour; record times are drawn over the
real length of those days. The
expected figures are computed here from the input records and the README's
"effect on the books" table, never from the engine.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapping.periods import Period
from mapping.preview import preview

ZERO = Decimal(0)
TIME_ZONE = "Europe/London"
TZ = ZoneInfo(TIME_ZONE)
PERIOD_DAYS = 2
FIRST_DAY = date(2026, 11, 2)  # after the October DST change: London is on UTC
# (zone, first day of the two): 2026's DST changes (tzdata): London 29 March
# (01:00 -> 02:00) and 25 October (02:00 -> 01:00), Toronto 8 March (02:00 ->
# 03:00) and 1 November (02:00 -> 01:00), Sydney 5 April (03:00 -> 02:00) and
# 4 October (02:00 -> 03:00). A scenario's two business days start the day
# before a change, so one of them holds it whatever the sync hour; the second
# starts at the sync hour on the day of the change.
DAYS = (
    (TIME_ZONE, FIRST_DAY),
    ("Europe/London", date(2026, 3, 28)),
    ("Europe/London", date(2026, 10, 24)),
    ("America/Toronto", date(2026, 3, 7)),
    ("America/Toronto", date(2026, 10, 31)),
    ("Australia/Sydney", date(2026, 4, 4)),
    ("Australia/Sydney", date(2026, 10, 3)),
)
SYNC_HOURS = (0, 1, 2, 3, 6)  # 1-3: the skipped or repeated hour somewhere above
# ISO 4217 minor units: 0 (JPY), 2 (GBP, EUR, CHF), 3 (BHD, KWD).
EXPONENT = {"GBP": 2, "JPY": 0, "BHD": 3, "CHF": 2, "EUR": 2, "KWD": 3}
UNIT_PRICE = {
    "GBP": (50, 2500),
    "JPY": (100, 4000),
    "BHD": (100, 12000),
    "CHF": (50, 2500),
    "EUR": (50, 2500),
    "KWD": (100, 12000),
}  # minor units
CASH_UNIT = {"CHF": 5}  # cash rounded to 0.05 (minor units)
OPEN = ("Pending", "Authorized")
TENDERS = ("Card", "Cash", "OnlineCard", "Prepaid")
REFUND_TENDERS = ("Card", "Cash", "OnlineCard")
CARD_LIKE = ("Card", "OnlineCard")
# Tax rate (as written in the configuration) -> its components (id, percent).
RATES: dict[str, tuple[tuple[str, str], ...]] = {
    "20": (("VAT", "20"),),
    "5": (("VAT5", "5"),),
    "0": (),
    "14.975": (("GST", "5"), ("QST", "9.975")),
}
RATE_IDS = {"20": "OUTPUT2", "5": "REDUCED", "0": "ZERORATED", "14.975": "GSTQST"}
DEFAULT_ZERO_RATE = "NONE"
PRODUCTS = (None, "latte", "sandwich", "book", "gift-card")
REFERENCE: dict[str, list[dict[str, Any]]] = {
    "products": [
        {"id": "latte", "name": "Latte", "productCategoryRef": {"id": "coffee"}},
        {"id": "sandwich", "name": "Sandwich", "productCategoryRef": {"id": "food"}},
        {"id": "book", "name": "Coffee book", "isGiftCard": False},
        {"id": "gift-card", "name": "Gift card", "isGiftCard": True},
    ],
    "productCategories": [{"id": "coffee", "name": "Coffee"}, {"id": "food", "name": "Food"}],
    "locations": [{"id": "L1", "name": "High street"}, {"id": "L2", "name": "Station"}],
    "taxComponents": [
        # Codat gives a component's rate as a fraction of the net price.
        {"id": "VAT", "name": "VAT 20%", "rate": Decimal("0.2")},
        {"id": "VAT5", "name": "VAT 5%", "rate": Decimal("0.05")},
        {"id": "GST", "name": "GST", "rate": Decimal("0.05")},
        {"id": "QST", "name": "QST", "rate": Decimal("0.09975")},
    ],
    "paymentMethods": [{"id": t, "name": t, "status": "Active"} for t in TENDERS],
}
GIFT_CARDS = {p["id"] for p in REFERENCE["products"] if p.get("isGiftCard")}

# Pseudo-accounts of the invoice format.
RECEIVABLE, PAYABLE, TAX = "<receivable>", "<payable>", "<tax>"

# `make mutate` runs each mutant's properties with fewer examples (PROPERTY_EXAMPLES).
SETTINGS = settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES") or 100),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- money ------------------------------------------------------------------


def money(units: int, currency: str) -> Decimal:
    return Decimal(units).scaleb(-EXPONENT[currency])


def round_money(value: Decimal, currency: str) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-EXPONENT[currency]), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Clock:
    """The scenario's two business days: `zone`, first day, sync hour. The
    oracle's own reading of a period: a day starts at the sync hour local,
    a skipped hour at the first instant after the gap, a repeated hour at
    its first occurrence."""

    zone: str
    first_day: date
    sync_hour: int

    def start(self, day: date) -> datetime:
        # fold=0 on a skipped wall time takes the offset before the gap: the
        # instant after it.
        local = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(self.zone))
        return local.replace(hour=self.sync_hour).astimezone(UTC)

    @property
    def seconds(self) -> int:
        """The period's real length (PERIOD_DAYS days of 23, 24 or 25 hours)."""
        end = self.start(self.first_day + timedelta(days=PERIOD_DAYS))
        return int((end - self.start(self.first_day)).total_seconds())

    def stamp(self, offset_seconds: int) -> str:
        """The instant `offset_seconds` of elapsed time after the period starts."""
        return (self.start(self.first_day) + timedelta(seconds=offset_seconds)).isoformat()

    def business_day(self, created: str) -> str:
        local = datetime.fromisoformat(created).astimezone(ZoneInfo(self.zone))
        # By wall-clock hour alone: right in a skipped hour (no instant has
        # it) and in a repeated one (both occurrences are at or after it).
        day = local.date() - timedelta(days=1 if local.hour < self.sync_hour else 0)
        return day.isoformat()


def clock_of(scenario: dict[str, Any]) -> Clock:
    return Clock(
        scenario["timeZone"],
        date.fromisoformat(scenario["period"]["start"]),
        scenario["schedule"]["syncHour"],
    )


# -- configuration ----------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """Which optional mappings the merchant made (the structure of the
    golden scenarios' `configuration` objects)."""

    by_location: bool
    separate_refunds: bool
    shared_prepaid: bool  # gift card redemptions debit the gift card liability itself
    component_accounts: bool
    category_accounts: bool
    service_charge_account: bool
    discount_account: bool
    fee_refund_account: bool


def account(value: str) -> dict[str, str]:
    return {"selectedAccountId": value}


def configuration(variant: Variant, output_format: str) -> dict[str, Any]:
    sales = {
        "sales": "4000",
        "refund": "4050" if variant.separate_refunds else "4000",
        "gratuity": "2150",
        "prepaid": "2300",
        "tax": "2200",
    }
    if variant.service_charge_account:
        sales["serviceCharge"] = "4010"
    if variant.component_accounts:
        sales |= {"tax-GST": "2210", "tax-QST": "2220"}
    if variant.category_accounts:
        sales["category-coffee"] = "4100"
    if variant.discount_account:
        sales["discount"] = "4900"
    fees = {"paymentFee": "6100"}
    if variant.fee_refund_account:
        fees["paymentFeeRefund"] = "6110"
    grouping: dict[str, Any] = {"groupingPeriod": {"selectedGroupingPeriod": "Daily"}}
    if variant.by_location:
        grouping["groupingLevels"] = {"invoiceLevel": {"selectedGroupByOptions": ["Location"]}}
    return {
        "countryCode": "GB",
        "sales": {
            "syncSales": True,
            "accounts": {key: account(value) for key, value in sales.items()},
            "taxRates": {rate: {"selectedTaxRateId": rid} for rate, rid in RATE_IDS.items()},
            "newTaxRates": {"selectedDefaultZeroTaxRateId": DEFAULT_ZERO_RATE},
            "invoiceStatus": {"selectedInvoiceStatus": "Submitted"},
            "salesCustomer": {"selectedCustomerId": "CUST-POS"},
            "grouping": grouping,
        },
        "payments": {
            "syncPayments": True,
            "accounts": {
                "card": account("1100"),
                "cash": account("1000"),
                "onlineCard": account("1110"),
                "prepaidPayment": account("2300" if variant.shared_prepaid else "2310"),
                "payout": account("1200"),
            },
        },
        "fees": {
            "syncFees": True,
            "feesSupplier": {"selectedSupplierId": "SUPP-PROC"},
            "accounts": {key: account(value) for key, value in fees.items()},
        },
        "mapSettings": {"outputFormat": output_format},
    }


def with_format(scenario: dict[str, Any], output_format: str) -> dict[str, Any]:
    result = dict(scenario)
    result["configuration"] = copy.deepcopy(scenario["configuration"])
    result["configuration"]["mapSettings"]["outputFormat"] = output_format
    return result


def sales_side_accounts(config: dict[str, Any]) -> set[str]:
    return {v["selectedAccountId"] for v in config["sales"]["accounts"].values()}


def clearing_accounts(config: dict[str, Any]) -> dict[str, str]:
    """Payment type -> clearing account."""
    accounts = config["payments"]["accounts"]
    key = {t: "prepaidPayment" if t == "Prepaid" else t[0].lower() + t[1:] for t in TENDERS}
    return {t: accounts[key[t]]["selectedAccountId"] for t in TENDERS}


def tax_accounts(config: dict[str, Any]) -> set[str]:
    accounts = config["sales"]["accounts"]
    return {v["selectedAccountId"] for k, v in accounts.items() if k.lower().startswith("tax")}


# -- strategies -------------------------------------------------------------


class Ids:
    """Transaction ids unique within one merchant-day."""

    def __init__(self, prefix: str = "T") -> None:
        self.prefix, self.count = prefix, 0

    def __call__(self) -> str:
        self.count += 1
        return f"{self.prefix}-{self.count}"


def taxed(net: Decimal, rate: str, currency: str, sign: int) -> tuple[Decimal, list[Decimal]]:
    """Tax of `net` at `rate`, each component rounded on its own as a POS does."""
    parts = [round_money(net * Decimal(pct) / 100, currency) for _, pct in RATES[rate]]
    return sum(parts, ZERO) * sign, [p * sign for p in parts]


@st.composite
def line_items(
    draw: st.DrawFn, currency: str, sign: int, number: int, fine: bool = True
) -> dict[str, Any]:
    product = draw(st.sampled_from(PRODUCTS))
    quantity = draw(st.integers(1, 3))
    # One line in eight is free (a zero line: a refill, a sample).
    free = draw(st.integers(0, 7)) == 0
    unit = 0 if free else draw(st.integers(*UNIT_PRICE[currency]))
    gift = product in GIFT_CARDS
    rate = "0" if gift else draw(st.sampled_from(sorted(RATES)))
    discount = 0 if gift or free else draw(st.sampled_from((0, 0, 0, 1, quantity * unit // 10)))
    net = money(quantity * unit - discount, currency)
    if fine and not gift and draw(st.integers(0, 3)) == 0:
        # A price finer than the minor unit (12.3456): the line's net and total
        # carry the extra digits; the point of sale rounds the tax.
        net += money(draw(st.integers(1, 99)), currency) / 100
    tax, parts = taxed(net, rate, currency, sign)
    line: dict[str, Any] = {
        "id": f"L{number}",
        "quantity": sign * quantity,
        "unitPrice": money(unit, currency)
        if net == money(quantity * unit - discount, currency)
        else net / quantity,
        "taxPercentage": Decimal(rate),
        "totalTaxAmount": tax,
        "totalAmount": sign * net + tax,
    }
    if product is not None:
        line["productRef"] = {"id": product}
    if discount:
        line["discountAllocations"] = [
            {"name": "Promotion", "totalAmount": money(discount, currency)}
        ]
    if parts and draw(st.booleans()):
        line["taxes"] = [
            {"taxComponentRef": {"id": cid, "name": cid}, "rate": amount}
            for (cid, _), amount in zip(RATES[rate], parts, strict=True)
        ]
    if (len(parts) < 2 or "taxes" in line) and draw(st.integers(0, 3)) == 0:
        # Codat's taxPercentage is optional: the rate then comes from the tax
        # components, or from the amounts (components rounded one by one may
        # match no single rate, so a multi-component line always lists them).
        del line["taxPercentage"]
    return line


@st.composite
def service_charges(draw: st.DrawFn, currency: str, sign: int) -> dict[str, Any]:
    net = money(draw(st.integers(*UNIT_PRICE[currency])), currency)
    rate = draw(st.sampled_from(("20", "0")))
    tax, _ = taxed(net, rate, currency, sign)
    kind = draw(st.sampled_from(("Shipping", "Generic")))
    return {
        "description": "Delivery" if kind == "Shipping" else "Service",
        "type": kind,
        "quantity": 1,
        "taxPercentage": Decimal(rate),
        "taxAmount": tax,
        "totalAmount": sign * net + tax,
    }


@st.composite
def splits(draw: st.DrawFn, due: int, parts: int) -> list[int]:
    """`due` (minor units, non-zero) split into `parts` non-zero shares of its sign."""
    size = abs(due)
    parts = min(parts, size)
    cuts = sorted(
        draw(
            st.lists(st.integers(1, size - 1), min_size=parts - 1, max_size=parts - 1, unique=True)
        )
        if size > 1
        else []
    )
    bounds = [0, *cuts, size]
    sign = 1 if due > 0 else -1
    return [sign * (b - a) for a, b in itertools.pairwise(bounds)]


@st.composite
def orders(
    draw: st.DrawFn,
    oid: str,
    currencies: list[str],
    clock: Clock,
    *,
    like: dict[str, Any] | None = None,
    fine: bool = True,
) -> dict[str, Any]:
    """A paid order; `like` makes an edited version of an order (same id, kind,
    currency, date, location and payment ids and types, new amounts)."""
    if like is None:
        currency = draw(st.sampled_from(currencies))
        kind = draw(st.sampled_from(("sale", "sale", "sale", "sale", "refund", "exchange")))
        offset = draw(st.integers(0, clock.seconds - 600))
        created = clock.stamp(offset)
        location = draw(st.sampled_from((None, "L1", "L2")))
    else:
        currency, kind, created = like["currency"], like["_kind"], like["createdDate"]
        location = (like.get("locationRef") or {}).get("id")
    count = draw(st.integers(1, 5))
    if kind == "exchange":
        signs = [draw(st.sampled_from((1, -1))) for _ in range(count)]
    else:
        signs = [-1 if kind == "refund" else 1] * count
    lines = [draw(line_items(currency, sign, n, fine)) for n, sign in enumerate(signs, 1)]
    charges = []
    if kind != "exchange" and draw(st.integers(0, 4)) == 0:
        charges.append(draw(service_charges(currency, signs[0])))
    total = sum((x["totalAmount"] for x in lines + charges), ZERO)
    tax = sum((x["totalTaxAmount"] for x in lines), ZERO) + sum(
        (x["taxAmount"] for x in charges), ZERO
    )
    gratuity = ZERO
    if kind == "sale" and draw(st.booleans()):
        gratuity = money(draw(st.integers(1, UNIT_PRICE[currency][1] // 4)), currency)
    elif kind == "refund" and draw(st.integers(0, 5)) == 0:
        gratuity = -money(draw(st.integers(1, UNIT_PRICE[currency][0])), currency)
    due = int(round_money(total + gratuity, currency).scaleb(EXPONENT[currency]))
    if like is None:
        tender_pool = TENDERS if due > 0 else REFUND_TENDERS
        tenders = draw(st.lists(st.sampled_from(tender_pool), min_size=1, max_size=3))
        pids = [f"{oid}-P{n}" for n in range(1, len(tenders) + 1)]
    else:
        # A payment that was open has settled by now.
        settled = [p for p in like["payments"] if p["status"] in ("Paid", *OPEN)]
        tenders, pids = [p["type"] for p in settled], [p["id"] for p in settled]
        if due and not tenders:  # it was free (no payment); now it is paid by card
            tenders, pids = ["Card"], [f"{oid}-P1"]
    shares = draw(splits(due, len(tenders))) if due else []
    rounding = ZERO  # settled - due, by cash rounding
    unit = CASH_UNIT.get(currency)
    used = tenders[: len(shares)]
    if unit and like is None and used and used[-1] == "Cash" and used.count("Cash") == 1:
        # Cash in CHF is rounded to 0.05: the last (cash) share is paid rounded.
        last = shares[-1]
        rounded = (abs(last) + unit // 2) // unit * unit * (1 if last > 0 else -1)
        if rounded:
            rounding = money(rounded - last, currency)
            shares[-1] = rounded
    payments = [
        {
            "id": pid,
            "type": tender,
            "amount": money(share, currency),
            "currency": currency,
            "status": "Paid",
            "paymentMethodRef": {"id": tender},
        }
        for pid, tender, share in zip(pids, tenders, shares, strict=False)
    ]
    if like is None and draw(st.integers(0, 7)) == 0:
        # A declined card attempt before the real payment: reported, never posted.
        payments.insert(
            0,
            {
                "id": f"{oid}-X",
                "type": "Card",
                "amount": money(draw(st.integers(1, 10**4)), currency),
                "currency": currency,
                "status": draw(st.sampled_from(("Failed", "Cancelled"))),
            },
        )
    if like is None and payments and draw(st.integers(0, 9)) == 0:
        # A card waiting for its tip adjustment: the whole order waits.
        payments[-1] = payments[-1] | {"status": draw(st.sampled_from(OPEN))}
    order: dict[str, Any] = {
        "id": oid,
        "orderNumber": oid,
        "currency": currency,
        "createdDate": created,
        "modifiedDate": created if like is None else clock.stamp(clock.seconds + 3600),
        "closedDate": created,
        "totalAmount": total,
        "totalTaxAmount": tax,
        "totalDiscount": sum(
            (d["totalAmount"] for x in lines for d in x.get("discountAllocations", [])), ZERO
        ),
        "totalGratuity": gratuity,
        "orderLineItems": lines,
        "serviceCharges": charges,
        "payments": payments,
        "_kind": kind,  # the generator's notes; unknown keys are ignored by the engine
        "_rounding": rounding,
    }
    if location is not None:
        order["locationRef"] = {"id": location}
    return order


def later(created: str, seconds: int) -> str:
    return (datetime.fromisoformat(created) + timedelta(seconds=seconds)).isoformat()


@st.composite
def fee_transactions(draw: st.DrawFn, order: dict[str, Any], ids: Ids) -> list[dict[str, Any]]:
    """Processor fees on the order's card payments, fee refunds on its card refunds,
    and now and then the `Payment` transaction that mirrors a payment."""
    found = []
    for payment in order["payments"]:
        if payment["status"] != "Paid":
            continue
        amount = payment["amount"]
        units = int(abs(amount).scaleb(EXPONENT[order["currency"]]))
        base = {
            "currency": order["currency"],
            "createdDate": later(order["createdDate"], 60),
            "transactionSourceRef": {"id": payment["id"], "type": "Payment"},
        }
        if payment["type"] in CARD_LIKE and draw(st.integers(0, 3)) > 0:
            fee = money(draw(st.integers(1, max(1, units // 20))), order["currency"])
            kind = "PaymentFee" if amount > 0 else "PaymentFeeRefund"
            found.append(
                base | {"id": ids(), "type": kind, "totalAmount": -fee if amount > 0 else fee}
            )
        if draw(st.integers(0, 5)) == 0:
            kind = "Payment" if amount > 0 else "Refund"
            found.append(base | {"id": ids(), "type": kind, "totalAmount": amount})
    return found


@st.composite
def other_transactions(
    draw: st.DrawFn, currencies: list[str], clock: Clock, ids: Ids
) -> list[dict[str, Any]]:
    """Payouts, failed payouts and fees that name no payment."""
    found = []
    for kind in ("Payout", "Payout", "FailedPayout", "PaymentFee", "PaymentFeeRefund"):
        if draw(st.integers(0, 2)) == 0:
            continue
        currency = draw(st.sampled_from(currencies))
        units = draw(st.integers(1, 50 * UNIT_PRICE[currency][1]))
        sign = -1 if kind in ("Payout", "PaymentFee") else 1
        offset = draw(st.integers(0, clock.seconds - 1))
        found.append(
            {
                "id": ids(),
                "type": kind,
                "currency": currency,
                "createdDate": clock.stamp(offset),
                "totalAmount": sign * money(units, currency),
            }
        )
    return found


@st.composite
def merchant_days(draw: st.DrawFn, max_orders: int = 8, fine: bool = True) -> dict[str, Any]:
    """A scenario in the shape of the golden files (without `expected`)."""
    currencies = sorted(draw(st.sets(st.sampled_from(sorted(EXPONENT)), min_size=1, max_size=3)))
    zone, first_day = draw(st.sampled_from(DAYS))
    clock = Clock(zone, first_day, draw(st.sampled_from(SYNC_HOURS)))
    variant = Variant(*(draw(st.booleans()) for _ in range(8)))
    output_format = draw(st.sampled_from(("JournalEntry", "Invoice")))
    ids = Ids()
    order_list = [
        draw(orders(f"O-{n}", currencies, clock, fine=fine))
        for n in range(1, draw(st.integers(0, max_orders)) + 1)
    ]
    transactions = [tx for o in order_list for tx in draw(fee_transactions(o, ids))]
    transactions += draw(other_transactions(currencies, clock, ids))
    return {
        "timeZone": zone,
        "currency": currencies[0],
        "schedule": {
            "syncHour": clock.sync_hour,
            "timeZone": zone,
            "startDate": (first_day - timedelta(days=1)).isoformat(),
        },
        "period": {
            "start": first_day.isoformat(),
            "end": (first_day + timedelta(days=PERIOD_DAYS)).isoformat(),
        },
        "commerce": {
            "orders": order_list,
            "transactions": transactions,
            **copy.deepcopy(REFERENCE),
        },
        "configuration": configuration(variant, output_format),
    }


# -- the books, independent of the engine ------------------------------------

Group = tuple[str, str, str | None]  # date, currency, location
Books = dict[Group, dict[str, Decimal]]


def movements(documents: list[dict[str, Any]], *, collapse_tax: set[str] = frozenset()) -> Books:
    """Net movement of every account per group (debit +, credit -), by the
    README's "effect on the books" table. Tax through a tax rate is `TAX:<id>`;
    with `collapse_tax`, those and the journal's tax liability accounts all
    become one `<tax>` account so the two output formats can be compared."""
    books: Books = defaultdict(lambda: defaultdict(Decimal))

    def tax(rate_ref: dict[str, str] | None) -> str:
        return TAX if collapse_tax else "TAX:" + (rate_ref or {}).get("id", "?")

    for doc in documents:
        group = (doc["date"], doc["group"]["currency"], doc["group"]["locationId"])
        book = books[group]

        def post(account: str, amount: str | Decimal, book: dict = book) -> None:
            book[TAX if account in collapse_tax else account] += Decimal(amount)

        kind = doc["type"]
        if kind == "journalEntry":
            for line in doc["journalLines"]:
                post(line["accountRef"]["id"], line["netAmount"])
        elif kind in ("invoice", "creditNote"):
            sign = 1 if kind == "invoice" else -1
            post(RECEIVABLE, sign * Decimal(doc["totalAmount"]))
            for line in doc["lineItems"]:
                post(line["accountRef"]["id"], -sign * Decimal(line["subTotal"]))
                post(tax(line["taxRateRef"]), -sign * Decimal(line["taxAmount"]))
        elif kind == "payment":
            post(doc["accountRef"]["id"], doc["totalAmount"])
            post(RECEIVABLE, -Decimal(doc["totalAmount"]))
        elif kind == "bill":
            for line in doc["lineItems"]:
                post(line["accountRef"]["id"], line["subTotal"])
                post(tax(line["taxRateRef"]), line["taxAmount"])
            post(PAYABLE, -Decimal(doc["totalAmount"]))
        elif kind == "billPayment":
            post(doc["accountRef"]["id"], -Decimal(doc["totalAmount"]))
            post(PAYABLE, doc["totalAmount"])
        elif kind == "deposit":
            post(doc["accountRef"]["id"], doc["totalAmount"])
            for line in doc["lineItems"]:
                post(line["accountRef"]["id"], -Decimal(line["totalAmount"]))
        elif kind == "transfer":
            post(doc["fromAccountRef"]["id"], -Decimal(doc["amount"]))
            post(doc["toAccountRef"]["id"], doc["amount"])
        else:
            raise AssertionError(f"unknown document type {kind}")
    return {g: {a: v for a, v in book.items() if v} for g, book in books.items()}


def merged(books: Books, *, by_day: bool = True) -> Books:
    """Drop empty accounts and groups; without `by_day`, add the days up."""
    result: Books = defaultdict(lambda: defaultdict(Decimal))
    for (day, currency, location), book in books.items():
        for account_id, amount in book.items():
            result[(day if by_day else "", currency, location)][account_id] += amount
    cleaned = {g: {a: v for a, v in b.items() if v} for g, b in result.items()}
    return {g: b for g, b in cleaned.items() if b}


def combined(a: Books, b: Books, sign: int = 1) -> Books:
    """a + sign * b, account by account."""
    result: Books = defaultdict(lambda: defaultdict(Decimal))
    for factor, books in ((1, a), (sign, b)):
        for group, book in books.items():
            for account_id, amount in book.items():
                result[group][account_id] += factor * amount
    return merged(result)


def expected_flows(scenario: dict[str, Any]) -> dict[Group, dict[str, Decimal]]:
    """From the input records alone, per group: what the sales side must credit
    (`<sales>`: order totals + gratuity), gift cards sold and redeemed, and how
    each clearing account, the bank and the fee accounts must move."""
    config = scenario["configuration"]
    business_day = clock_of(scenario).business_day
    by_location = "groupingLevels" in config["sales"]["grouping"]
    clearing = clearing_accounts(config)
    fee_accounts = config["fees"]["accounts"]
    fee_account = fee_accounts["paymentFee"]["selectedAccountId"]
    fee_refund_account = fee_accounts.get("paymentFeeRefund", fee_accounts["paymentFee"])[
        "selectedAccountId"
    ]
    bank = config["payments"]["accounts"]["payout"]["selectedAccountId"]
    flows: dict[Group, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    paid_by: dict[str, tuple[str, str | None]] = {}
    for order in scenario["commerce"]["orders"]:
        location = (order.get("locationRef") or {}).get("id") if by_location else None
        for payment in order["payments"]:
            paid_by[payment["id"]] = (payment["type"], location)
        if any(p["status"] in OPEN for p in order["payments"]):
            continue  # it waits for a later period, whole
        flow = flows[(business_day(order["createdDate"]), order["currency"], location)]
        # What the payments settle: the total rounded to the minor unit, and
        # cash rounding on top.
        due = round_money(order["totalAmount"] + order["totalGratuity"], order["currency"])
        flow["<sales>"] += due + order.get("_rounding", ZERO)
        for line in order["orderLineItems"]:
            if (line.get("productRef") or {}).get("id") in GIFT_CARDS:
                flow["<gift cards sold>"] += line["totalAmount"]
        for payment in order["payments"]:
            if payment["status"] == "Paid":
                flow[clearing[payment["type"]]] += payment["amount"]
                if payment["type"] == "Prepaid":
                    flow["<gift cards redeemed>"] += payment["amount"]
    for tx in scenario["commerce"]["transactions"]:
        day = business_day(tx["createdDate"])
        source = (tx.get("transactionSourceRef") or {}).get("id")
        payment_type, location = paid_by.get(source, ("Card", None))
        amount = tx["totalAmount"]
        if tx["type"] in ("PaymentFee", "PaymentFeeRefund"):
            flow = flows[(day, tx["currency"], location)]
            flow[clearing[payment_type]] += amount  # fees are negative, refunds positive
            flow[fee_account if tx["type"] == "PaymentFee" else fee_refund_account] -= amount
        elif tx["type"] in ("Payout", "FailedPayout"):
            flow = flows[(day, tx["currency"], None)]
            flow[clearing["Card"]] += amount  # payouts are negative, failed payouts positive
            flow[bank] -= amount
    return {g: dict(f) for g, f in flows.items()}


def mapped(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    result = preview(scenario)
    assert not result.errors, [e.message for e in result.errors]
    return result.as_json()["documents"]


def amount_of(doc: dict[str, Any], key: str) -> Decimal:
    return Decimal(doc[key])


# -- invariants -------------------------------------------------------------


def check_documents(documents: list[dict[str, Any]]) -> None:
    keys = [d["key"] for d in documents]
    assert len(keys) == len(set(keys)), "idempotency keys repeat"
    for doc in documents:
        if doc["type"] == "journalEntry":
            total = sum((Decimal(x["netAmount"]) for x in doc["journalLines"]), ZERO)
            assert total == 0, f"journal {doc['key']} is off balance by {total}"
        elif doc["type"] in ("invoice", "creditNote", "bill"):
            lines = doc["lineItems"]
            for line in lines:
                assert Decimal(line["totalAmount"]) == Decimal(line["subTotal"]) + Decimal(
                    line["taxAmount"]
                )
            assert amount_of(doc, "totalAmount") == sum(
                (Decimal(x["totalAmount"]) for x in lines), ZERO
            )
            assert amount_of(doc, "subTotal") == sum((Decimal(x["subTotal"]) for x in lines), ZERO)
            assert amount_of(doc, "totalTaxAmount") == sum(
                (Decimal(x["taxAmount"]) for x in lines), ZERO
            )
        elif doc["type"] == "deposit":
            assert amount_of(doc, "totalAmount") == sum(
                (Decimal(x["totalAmount"]) for x in doc["lineItems"]), ZERO
            )


def check_source_refs(documents: list[dict[str, Any]], scenario: dict[str, Any]) -> None:
    known = {r["id"] for kind in ("orders", "transactions") for r in scenario["commerce"][kind]}
    for doc in documents:
        lines = doc.get("journalLines") or doc.get("lineItems") or [doc]
        for line in lines:
            assert set(line.get("sourceRefs", [])) <= known, line


@SETTINGS
@given(merchant_days())
def test_both_formats_balance_and_move_every_account_alike(scenario: dict[str, Any]) -> None:
    journal = mapped(with_format(scenario, "JournalEntry"))
    invoice = mapped(with_format(scenario, "Invoice"))
    for documents in (journal, invoice):
        check_documents(documents)
        check_source_refs(documents, scenario)
    assert {d["type"] for d in journal} <= {"journalEntry"}
    by_group = movements(invoice)
    for group, book in by_group.items():
        assert book.get(RECEIVABLE, ZERO) == 0, f"receivable of {group} is {book[RECEIVABLE]}"
        assert book.get(PAYABLE, ZERO) == 0, f"payable of {group} is {book[PAYABLE]}"
    collapse = tax_accounts(scenario["configuration"])
    assert merged(movements(journal, collapse_tax=collapse)) == merged(
        movements(invoice, collapse_tax=collapse)
    )


@SETTINGS
@given(merchant_days())
def test_sales_side_credits_equal_order_totals_plus_gratuity(scenario: dict[str, Any]) -> None:
    config = scenario["configuration"]
    books = movements(mapped(scenario))
    sales_side = sales_side_accounts(config)
    shared = sales_side & set(clearing_accounts(config).values())
    for group, flow in expected_flows(scenario).items():
        book = books.get(group, {})
        credited = -sum(
            (v for a, v in book.items() if a in sales_side or a.startswith("TAX:")), ZERO
        )
        if shared:  # redemptions debit the same liability: they are no sales credit
            credited += flow.get("<gift cards redeemed>", ZERO)
        assert credited == flow.get("<sales>", ZERO), group


@SETTINGS
@given(merchant_days())
def test_clearing_accounts_move_by_payments_less_fees_and_payouts(
    scenario: dict[str, Any],
) -> None:
    config = scenario["configuration"]
    books = movements(mapped(scenario))
    sales_side = sales_side_accounts(config)
    watched = {*clearing_accounts(config).values(), "1200", "6100", "6110"}
    flows = expected_flows(scenario)
    for group in set(flows) | set(books):
        flow, book = flows.get(group, {}), books.get(group, {})
        for account_id in sorted(watched):
            expected = flow.get(account_id, ZERO)
            if account_id in sales_side:  # the shared gift card liability
                expected -= flow.get("<gift cards sold>", ZERO)
            assert book.get(account_id, ZERO) == expected, (group, account_id)


@SETTINGS
@given(merchant_days())
def test_a_fully_paid_day_leaves_no_invoice_or_credit_note_open(scenario: dict[str, Any]) -> None:
    """Invoice format (issue 13, exchanges): each invoice's total is what the
    payments and credit notes linked to it settle; each credit note's total is
    its allocations to invoices plus the refund payments against it."""
    documents = mapped(with_format(scenario, "Invoice"))
    settled: dict[str, Decimal] = defaultdict(Decimal)
    for doc in documents:
        if doc["type"] in ("payment", "creditNote"):
            for link in doc["links"]:
                assert Decimal(link["amount"]) > 0, link
                settled[link["id"]] += Decimal(link["amount"])
                if doc["type"] == "creditNote":
                    settled[doc["key"]] += Decimal(link["amount"])
    for doc in documents:
        if doc["type"] in ("invoice", "creditNote"):
            assert settled[doc["key"]] == Decimal(doc["totalAmount"]), doc["key"]


def canonical(documents: list[dict[str, Any]]) -> dict[str, str]:
    """Documents by key, with line and reference order left out."""

    def normal(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: normal(v) for k, v in value.items()}
        if isinstance(value, list):
            items = [normal(v) for v in value]
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
        return value

    return {d["key"]: json.dumps(normal(d), sort_keys=True) for d in documents}


@SETTINGS
@given(merchant_days(), st.randoms(use_true_random=False))
def test_mapping_is_deterministic_and_ignores_record_order(
    scenario: dict[str, Any], rng: random.Random
) -> None:
    first = json.dumps(preview(scenario).as_json())
    assert json.dumps(preview(copy.deepcopy(scenario)).as_json()) == first
    shuffled = copy.deepcopy(scenario)
    commerce = shuffled["commerce"]
    for records in commerce.values():
        rng.shuffle(records)
    for order in commerce["orders"]:
        rng.shuffle(order["orderLineItems"])
        rng.shuffle(order["payments"])
    documents = json.loads(first)["documents"]
    assert canonical(mapped(shuffled)) == canonical(documents)


# -- adjustments ------------------------------------------------------------


@st.composite
def edited_days(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what was posted, what the source says now): some orders and transactions
    edited, the rest unchanged, plus records never seen before."""
    # Amounts in minor units: an adjustment rounds the difference of two
    # versions, which amounts finer than the minor unit would not repeat.
    before = draw(merchant_days(max_orders=6, fine=False))
    commerce = before["commerce"]
    currencies = sorted({before["currency"], *(o["currency"] for o in commerce["orders"])})
    clock = clock_of(before)
    ids = Ids("N")
    # Payments a fee or a settlement names: an edit that leaves the order free
    # (no payment) would leave them naming a payment the source no longer has,
    # which the engine rightly refuses; such an edit is dropped (the order
    # stays as it was).
    named = {
        tx["transactionSourceRef"]["id"]
        for tx in commerce["transactions"]
        if "transactionSourceRef" in tx
    }
    new_orders = []
    for order in commerce["orders"]:
        edited = order
        if order["_kind"] != "exchange" and draw(st.booleans()):
            edited = draw(orders(order["id"], currencies, clock, like=order, fine=False))
            kept = {p["id"] for p in edited["payments"]}
            if ({p["id"] for p in order["payments"]} & named) - kept:
                edited = order
        new_orders.append(edited)
    new_transactions = []
    for tx in commerce["transactions"]:
        if tx["type"] not in ("Payment", "Refund") and draw(st.booleans()):
            units = draw(st.integers(1, 10**4))
            sign = 1 if tx["totalAmount"] > 0 else -1
            changed = tx | {"totalAmount": sign * money(units, tx["currency"])}
            new_transactions.append(changed | {"modifiedDate": clock.stamp(clock.seconds)})
        else:
            new_transactions.append(tx)
    for n in range(draw(st.integers(0, 2))):
        order = draw(orders(f"NEW-{n}", currencies, clock, fine=False))
        new_orders.append(order)
        new_transactions.extend(draw(fee_transactions(order, ids)))
    after = dict(before)
    after["commerce"] = {**commerce, "orders": new_orders, "transactions": new_transactions}
    return before, after


def alone(
    scenario: dict[str, Any], ids: set[str], context: set[str] = frozenset()
) -> dict[str, Any]:
    """The scenario with only the records in `ids` to post; the `context`
    records are there as posted before and unchanged, so they post nothing
    but their payments are known (a fee names its payment)."""
    commerce, posted = dict(scenario["commerce"]), {}
    for kind in ("orders", "transactions"):
        records = scenario["commerce"][kind]
        commerce[kind] = [r for r in records if r["id"] in ids | context]
        posted[kind] = [r for r in records if r["id"] in context]
    return scenario | {"commerce": commerce, "previouslyPosted": posted}


@SETTINGS
@given(edited_days())
def test_adjustments_post_the_difference_between_versions(
    days: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    before, after = days
    rerun = after | {
        "previouslyPosted": {
            "orders": before["commerce"]["orders"],
            "transactions": before["commerce"]["transactions"],
        }
    }
    documents = mapped(rerun)
    check_documents(documents)
    collapse = tax_accounts(after["configuration"])
    adjustments = [d for d in documents if "adjustment" in d.get("flags", [])]
    assert all(d["type"] == "journalEntry" for d in adjustments)

    old = {r["id"]: r for k in ("orders", "transactions") for r in before["commerce"][k]}
    new = [r for k in ("orders", "transactions") for r in after["commerce"][k]]
    edited = {r["id"] for r in new if r["id"] in old and r != old[r["id"]]}
    unchanged = {r["id"] for r in new if r["id"] in old and r == old[r["id"]]}

    def books(scenario: dict[str, Any], keep: set[str], context: set[str] = frozenset()) -> Books:
        documents = mapped(alone(scenario, keep, context))
        return merged(movements(documents, collapse_tax=collapse), by_day=False)

    difference = combined(books(after, edited, unchanged), books(before, edited, unchanged), -1)
    assert merged(movements(adjustments, collapse_tax=collapse), by_day=False) == difference

    # The books after the adjustment run hold what a first posting of the new
    # versions would have put there.
    everything = {r["id"] for k in ("orders", "transactions") for r in after["commerce"][k]}
    posted = merged(movements(mapped(before), collapse_tax=collapse), by_day=False)
    rerun_books = merged(movements(documents, collapse_tax=collapse), by_day=False)
    assert combined(posted, rerun_books) == books(after, everything)


def test_the_generated_periods_reach_dst_days() -> None:
    """Every DST entry of DAYS gives a 47- or 49-hour period at every sync
    hour (the generator reaches the edge, not only its neighbourhood), and a
    skipped or repeated sync hour's day starts where the engine says."""
    for zone, first_day in DAYS[1:]:
        for hour in SYNC_HOURS:
            clock = Clock(zone, first_day, hour)
            assert clock.seconds in (47 * 3600, 49 * 3600), (zone, first_day, hour)
            second = first_day + timedelta(days=1)
            engine_start = Period.from_dates(
                second, second + timedelta(days=1), sync_hour=hour, tz=ZoneInfo(zone)
            ).start
            assert clock.start(second) == engine_start
            just_before = (engine_start - timedelta(seconds=1)).isoformat()
            assert clock.business_day(just_before) == first_day.isoformat()
            assert clock.business_day(engine_start.isoformat()) == second.isoformat()


# -- regressions: engine bugs found by the properties above, as minimal inputs --


def _minimal(
    orders_: list[dict[str, Any]], transactions: list[dict[str, Any]], output_format: str
) -> dict[str, Any]:
    variant = Variant(*(False,) * 8)
    return {
        "timeZone": TIME_ZONE,
        "schedule": {"syncHour": 0},
        "period": {"start": "2026-11-02", "end": "2026-11-03"},
        "commerce": {"orders": orders_, "transactions": transactions, **copy.deepcopy(REFERENCE)},
        "configuration": configuration(variant, output_format),
    }


def _order(oid: str, line: dict[str, Any], tender: str = "Card") -> dict[str, Any]:
    return {
        "id": oid,
        "currency": "GBP",
        "createdDate": "2026-11-02T10:00:00Z",
        "totalAmount": line["totalAmount"],
        "orderLineItems": [line],
        "payments": [
            {"id": f"{oid}-P1", "type": tender, "amount": line["totalAmount"], "status": "Paid"}
        ],
    }


def test_rate_derived_from_amounts_is_per_line_not_per_product() -> None:
    """Lines without taxPercentage take the rate their own amounts give (the
    engine once cached the first line's rate per product)."""
    at_20 = {
        "id": "L1",
        "productRef": {"id": "book"},
        "totalAmount": Decimal("12.00"),
        "totalTaxAmount": Decimal("2.00"),
    }
    at_5 = at_20 | {"totalAmount": Decimal("10.50"), "totalTaxAmount": Decimal("0.50")}
    scenario = _minimal([_order("A", at_20), _order("B", at_5)], [], "Invoice")
    (invoice,) = [d for d in mapped(scenario) if d["type"] == "invoice"]
    lines = {x["taxRateRef"]["id"]: (x["subTotal"], x["taxAmount"]) for x in invoice["lineItems"]}
    assert lines == {"OUTPUT2": ("10.00", "2.00"), "REDUCED": ("10.00", "0.50")}


def test_fee_edit_after_unchanged_order_hits_its_payment_type() -> None:
    """An edited fee is adjusted on its payment's clearing account even when
    the payment's order was posted before and is unchanged (preview once lost
    those payments and fell back to Card)."""
    line = {
        "id": "L1",
        "productRef": {"id": "book"},
        "taxPercentage": Decimal(20),
        "totalAmount": Decimal("12.00"),
        "totalTaxAmount": Decimal("2.00"),
    }
    order = _order("C", line, tender="OnlineCard")
    fee = {
        "id": "F",
        "type": "PaymentFee",
        "currency": "GBP",
        "createdDate": "2026-11-02T10:01:00Z",
        "totalAmount": Decimal("-0.50"),
        "transactionSourceRef": {"id": "C-P1", "type": "Payment"},
    }
    scenario = _minimal([order], [fee | {"totalAmount": Decimal("-0.60")}], "JournalEntry")
    scenario["previouslyPosted"] = {"orders": [order], "transactions": [fee]}
    moved = merged(movements(mapped(scenario)), by_day=False)
    assert moved == {("", "GBP", None): {"6100": Decimal("0.10"), "1110": Decimal("-0.10")}}
