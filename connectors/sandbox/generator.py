"""A deterministic café/shop POS: one merchant-local day of Codat Commerce records.

Everything here is a pure function of the merchant profile and the local date:
the day's RNG is seeded from a string (hashed with SHA-512 by `random`, so the
same seed gives the same stream in every process) and no float ever becomes
money. Amounts are `Decimal` in the currency's minor unit; every order
balances to its lines, service charges and payments, as a real POS would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from mapping.money import quantize

Record = dict[str, Any]

OPENS, CLOSES = time(7), time(19)
PAYOUT_AT = time(6)
# Reference data never changes in the sandbox; a fixed stamp keeps it byte-stable.
REFERENCE_MODIFIED = "2026-01-01T00:00:00Z"
FEE_RATE, FEE_FIXED_GBP = Decimal("0.014"), Decimal("0.20")
DISCOUNT_RATE = Decimal("0.10")
TIP_RATES = (Decimal("0.10"), Decimal("0.125"), Decimal("0.15"))


@dataclass(frozen=True)
class Merchant:
    seed: str
    time_zone: str
    currency: str
    orders_per_day: int = 40
    country: str = "GB"
    location_id: str = "MAIN"
    location_name: str = "Main street"

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", self.currency.upper())


@dataclass(frozen=True)
class MenuItem:
    id: str
    name: str
    category: str
    tax_class: str  # standard | reduced | zero | gift
    base_price: Decimal  # net, in GBP; scaled to other currencies
    weight: int  # how often it is ordered


def _item(key: str, name: str, cat: str, tax: str, price: str, weight: int) -> MenuItem:
    return MenuItem(key, name, cat, tax, Decimal(price), weight)


CATEGORIES = {"coffee": "Coffee", "food": "Food", "retail": "Retail", "gift-cards": "Gift cards"}
MENU = (
    _item("espresso", "Espresso", "coffee", "standard", "2.20", 8),
    _item("flat-white", "Flat white", "coffee", "standard", "2.75", 14),
    _item("latte", "Latte", "coffee", "standard", "3.00", 14),
    _item("tea", "Pot of tea", "coffee", "standard", "2.00", 8),
    _item("croissant", "Croissant (takeaway)", "food", "zero", "2.20", 10),
    _item("sandwich", "Cold sandwich (takeaway)", "food", "zero", "4.80", 8),
    _item("toastie", "Cheese toastie", "food", "standard", "5.50", 6),
    _item("soup", "Soup of the day", "food", "standard", "4.50", 4),
    _item("cake", "Slice of cake", "food", "standard", "3.20", 8),
    _item("kids-juice", "Kids' juice", "food", "reduced", "1.60", 3),
    _item("beans-1kg", "House beans 1kg", "retail", "zero", "18.00", 2),
    _item("book", "Coffee book", "retail", "zero", "12.00", 1),
    _item("keep-cup", "Reusable cup", "retail", "standard", "9.00", 2),
    _item("gift-card-25", "Gift card 25", "gift-cards", "gift", "25.00", 0),
)
GIFT_CARD = next(item for item in MENU if item.tax_class == "gift")
FOR_SALE = tuple(item for item in MENU if item.weight)
DELIVERY_GBP = Decimal("2.50")

# Tax components per class, by country: (id, name, percent). Canada models
# Quebec (GST + QST), the one place where lines carry a component breakdown.
TaxPart = tuple[str, str, str]
_VAT = {"standard": (("VAT", "VAT 20%", "20"),), "reduced": (("VAT5", "VAT 5%", "5"),)}
TAX_TABLE: dict[str, dict[str, tuple[TaxPart, ...]]] = {
    "GB": _VAT,
    "IE": {"standard": (("VAT", "VAT 23%", "23"),), "reduced": (("VAT13", "VAT 13.5%", "13.5"),)},
    "FR": {"standard": (("TVA", "TVA 20%", "20"),), "reduced": (("TVA10", "TVA 10%", "10"),)},
    "DE": {"standard": (("MWST", "MwSt 19%", "19"),), "reduced": (("MWST7", "MwSt 7%", "7"),)},
    "SE": {"standard": (("MOMS", "Moms 25%", "25"),), "reduced": (("MOMS12", "Moms 12%", "12"),)},
    "US": {"standard": (("SALES", "Sales tax", "8.875"),)},
    "CA": {
        "standard": (("GST", "GST", "5"), ("QST", "QST", "9.975")),
        "reduced": (("GST", "GST", "5"),),
    },
    "JP": {"standard": (("CT", "Consumption tax 10%", "10"),), "reduced": (("CT8", "8%", "8"),)},
    "BH": {"standard": (("VAT", "VAT 10%", "10"),), "reduced": (("VAT", "VAT 10%", "10"),)},
}

# Rough units of each currency per GBP, so a latte costs a plausible 570 yen
# rather than 3 yen. Unknown currencies keep the GBP figures.
PRICE_SCALE = {
    "GBP": "1", "EUR": "1.15", "USD": "1.3", "CAD": "1.8", "AUD": "2", "NZD": "2.2",
    "CHF": "1.1", "SEK": "14", "NOK": "14", "DKK": "8.6", "JPY": "190", "KRW": "1800",
    "BHD": "0.5", "KWD": "0.4", "OMR": "0.5", "JOD": "0.9", "ISK": "175",
}  # fmt: skip


def local_price(gbp: Decimal, currency: str) -> Decimal:
    """`gbp` in `currency`, rounded to a shelf-friendly step (1/20 of its magnitude)."""
    raw = gbp * Decimal(PRICE_SCALE.get(currency.upper(), "1"))
    step = Decimal(5).scaleb(raw.adjusted() - 2)
    return quantize((raw / step).to_integral_value(ROUND_HALF_UP) * step, currency)


def tax_parts(country: str, tax_class: str) -> tuple[TaxPart, ...]:
    return TAX_TABLE.get(country.upper(), _VAT).get(tax_class, ())


def itemised(country: str) -> bool:
    """Whether lines carry a per-component `taxes` breakdown."""
    return any(len(parts) > 1 for parts in TAX_TABLE.get(country.upper(), _VAT).values())


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_moment(day: date, at: time, time_zone: str, seconds: int = 0) -> datetime:
    """A wall-clock time on `day` as an aware UTC datetime (fold=0 if ambiguous)."""
    wall = datetime.combine(day, at) + timedelta(seconds=seconds)
    return wall.replace(tzinfo=ZoneInfo(time_zone)).astimezone(UTC)


def reference_data(m: Merchant) -> dict[str, list[Record]]:
    """Menu, categories, location, tax components and payment methods."""
    stamp = {"modifiedDate": REFERENCE_MODIFIED}
    products = []
    for item in MENU:
        percent = sum((Decimal(p[2]) for p in tax_parts(m.country, item.tax_class)), Decimal(0))
        price = local_price(item.base_price, m.currency)
        variant = {"id": item.id, "name": item.name, "isTaxEnabled": bool(percent)}
        variant |= {"vatPercentage": percent, "status": "Published"}
        variant["prices"] = [{"currency": m.currency, "unitPrice": price}]
        products.append(
            {"id": item.id, "name": item.name, "categorization": CATEGORIES[item.category]}
            | {"isGiftCard": item.tax_class == "gift", "productCategoryRef": {"id": item.category}}
            | {"variants": [variant], **stamp}
        )
    components: dict[str, Record] = {}
    if itemised(m.country):
        for parts in TAX_TABLE[m.country.upper()].values():
            for cid, name, percent in parts:
                # Codat gives a component's rate as a fraction (0.05 for 5 %).
                components[cid] = {"id": cid, "name": name, "rate": Decimal(percent) / 100}
                components[cid] |= {"isCompound": False, **stamp}
    methods = ("Card", "Cash", "OnlineCard", "Prepaid")
    return {
        "products": products,
        "productCategories": [
            {"id": cid, "name": name, "ancestorRefs": [], "hasChildren": False, **stamp}
            for cid, name in CATEGORIES.items()
        ],
        "locations": [{"id": m.location_id, "name": m.location_name, **stamp}],
        "taxComponents": list(components.values()),
        "paymentMethods": [{"id": t, "name": t, "status": "Active", **stamp} for t in methods],
    }


# Each acquirer's payout schedule: payment type -> (days after the takings,
# local time of the payout). The card terminal's acquirer pays the next
# morning; the online acquirer runs a rolling T+2 schedule, as online card
# acquirers commonly do.
PAYOUT_SCHEDULE = {"Card": (1, PAYOUT_AT), "OnlineCard": (2, time(6, 30))}
ONLINE_PAYOUT_DAYS = PAYOUT_SCHEDULE["OnlineCard"][0]
# A day whose refunds exceed its takings leaves the acquirer owed money: it is
# taken from the following payouts, looking back at most this many days.
CARRY_DAYS = 7


def generate_day(m: Merchant, day: date) -> tuple[list[Record], list[Record]]:
    """The orders and transactions created on the merchant-local `day`,
    including its payouts, as two acquirers would make them
    (`PAYOUT_SCHEDULE`):

    * at 06:00 the card terminal's acquirer pays out what the previous day's
      Card payments less their fees left (`owed`): a Payout naming nothing,
      so it empties the `card` clearing account;
    * at 06:30 the online acquirer pays out what the OnlineCard payments less
      their fees of two days before left: a Payout naming the payment type it
      pays out in its `subType` ("PaymentType:OnlineCard"; Codat's
      `transactionSourceRef.type` has no such value), so it empties the
      `onlineCard` clearing account.

    Nothing is paid out when that is zero or less; a negative amount is
    carried into the next payouts instead (`owed`). Amounts are Decimal in
    the merchant's currency; the same merchant and day always give the same
    records."""
    orders, transactions = _trading(m, day)
    payouts: list[Record] = []
    for kind, (lag, at) in PAYOUT_SCHEDULE.items():
        amount = owed(m, day - timedelta(days=lag), kind)
        if amount <= 0:
            continue
        moment = iso_z(local_moment(day, at, m.time_zone))
        suffix = "PAYOUT" if kind == "Card" else f"PAYOUT-{kind.upper().removesuffix('CARD')}"
        payout = {"id": f"{_prefix(m, day)}-{suffix}", "createdDate": moment}
        payout |= {"modifiedDate": moment, "type": "Payout", "totalAmount": -amount}
        if kind != "Card":
            payout["subType"] = f"PaymentType:{kind}"
        payouts.append(payout | {"currency": m.currency})
    return orders, payouts + transactions


def owed(m: Merchant, day: date, kind: str = "Card") -> Decimal:
    """What the acquirer of `kind` payments pays out for the takings of
    `day` (on `day` + its lag): that day's `card_net`, less what earlier
    days left owed to the acquirer (negative, up to `CARRY_DAYS` back)."""
    carried = Decimal(0)
    for back in range(CARRY_DAYS, 0, -1):
        carried = min(Decimal(0), _net(m, day - timedelta(days=back), kind) + carried)
    return _net(m, day, kind) + carried


def clearing_after(m: Merchant, day: date, kind: str = "Card") -> Decimal:
    """What the `kind` clearing account holds at the end of `day` when every
    payout so far was posted: the takings not paid out yet (`owed` of `day`
    and, for a longer lag, of the days before it whose payout is still to
    come)."""
    lag = PAYOUT_SCHEDULE[kind][0]
    pending = [owed(m, day - timedelta(days=back), kind) for back in range(1, lag)]
    return owed(m, day, kind) + sum((max(Decimal(0), a) for a in pending), Decimal(0))


@lru_cache(maxsize=4096)
def _net(m: Merchant, day: date, kind: str) -> Decimal:
    return card_net(*_trading(m, day), kind=kind)


def card_net(orders: list[Record], transactions: list[Record], kind: str = "Card") -> Decimal:
    """One day's `kind` payments (Card, OnlineCard) and refunds, less their
    fees plus fee refunds (before anything carried from earlier days)."""
    card = {p["id"]: p["amount"] for o in orders for p in o["payments"] if p["type"] == kind}
    fees = (
        t["totalAmount"]
        for t in transactions
        if t["type"] in ("PaymentFee", "PaymentFeeRefund")
        and t["transactionSourceRef"]["id"] in card
    )
    return sum(card.values(), Decimal(0)) + sum(fees, Decimal(0))


def _prefix(m: Merchant, day: date) -> str:
    return f"SBX-{m.location_id}-{day:%Y%m%d}"


def _trading(m: Merchant, day: date) -> tuple[list[Record], list[Record]]:
    """The day's orders and fee transactions, without the payout."""
    return _Day(m, day).build()


class _Day:
    def __init__(self, m: Merchant, day: date) -> None:
        self.m, self.day, self.cur = m, day, m.currency
        # Seeded, not secret: the same merchant-day must come out identical.
        self.rng = random.Random(f"{m.seed}:{m.location_id}:{day.isoformat()}")  # noqa: S311
        self.zero = quantize(Decimal(0), self.cur)
        self.transactions: list[Record] = []

    def build(self) -> tuple[list[Record], list[Record]]:
        rng, target = self.rng, max(self.m.orders_per_day, 0)
        count = rng.randint(round(target * 0.8), round(target * 1.2))
        open_seconds = (CLOSES.hour - OPENS.hour) * 3600
        seconds = sorted(rng.randrange(open_seconds) for _ in range(count))
        specials = ["gift"] * rng.choice((0, 1, 1, 1, 2))
        specials += ["prepaid"] * rng.choice((0, 1, 1, 1, 2))
        specials += ["refund"] * rng.choice((0, 1, 1, 1, 2))
        kinds = ["sale"] * count
        for index, kind in zip(
            rng.sample(range(count), min(count, len(specials))), specials, strict=False
        ):
            kinds[index] = kind
        orders = [
            self._order(n, s, kind)
            for n, (s, kind) in enumerate(zip(seconds, kinds, strict=True), 1)
        ]
        return orders, sorted(self.transactions, key=lambda t: (t["createdDate"], t["id"]))

    # -- orders -----------------------------------------------------------

    def _order(self, number: int, second: int, kind: str) -> Record:
        moment = local_moment(self.day, OPENS, self.m.time_zone, second)
        oid = f"{_prefix(self.m, self.day)}-{number:04d}"
        if kind == "sale":
            tender = self._tender()
        elif kind == "gift":
            tender = self.rng.choice(("Card", "Cash"))
        else:
            tender = "Prepaid" if kind == "prepaid" else "Card"
        if kind == "gift":
            lines = [self._line(oid, 1, GIFT_CARD, 1, discounted=False)]
        elif kind == "refund":
            item = self.rng.choices(FOR_SALE, [i.weight for i in FOR_SALE])[0]
            lines = [self._line(oid, 1, item, -self.rng.randint(1, 2), discounted=False)]
        else:
            lines = self._lines(oid)
        charges = [self._delivery()] if tender == "OnlineCard" and self.rng.random() < 0.5 else []
        total = self._sum(x["totalAmount"] for x in lines + charges)
        tax = self._sum(x["totalTaxAmount"] for x in lines)
        tax += self._sum(c["taxAmount"] for c in charges)
        # Tips are left on card sales only; cash tips never reach the till.
        tippable = kind == "sale" and tender in ("Card", "OnlineCard", "Split")
        tip = self._tip(total) if tippable else self.zero
        discounts = (d["totalAmount"] for x in lines for d in x.get("discountAllocations", ()))
        stamp = iso_z(moment)
        order: Record = {"id": oid, "orderNumber": oid, "country": self.m.country}
        order |= {"currency": self.cur, "createdDate": stamp, "modifiedDate": stamp}
        order |= {"closedDate": stamp, "totalAmount": total, "totalTaxAmount": tax}
        order |= {"totalDiscount": self._sum(discounts), "totalGratuity": tip}
        order |= {"totalRefund": total if kind == "refund" else self.zero}
        order |= {"orderLineItems": lines, "serviceCharges": charges}
        order["payments"] = self._payments(oid, tender, total, tip, moment)
        order["locationRef"] = {"id": self.m.location_id}
        return order

    def _tender(self) -> str:
        choices = ("Card", "Cash", "OnlineCard", "Split")
        return self.rng.choices(choices, weights=(60, 25, 10, 5))[0]

    def _lines(self, oid: str) -> list[Record]:
        count = self.rng.choices((1, 2, 3, 4, 5), weights=(35, 30, 18, 10, 7))[0]
        items = self.rng.choices(FOR_SALE, [i.weight for i in FOR_SALE], k=count)
        return [
            self._line(oid, n, item, self.rng.choices((1, 2, 3), (70, 22, 8))[0])
            for n, item in enumerate(items, 1)
        ]

    def _line(
        self, oid: str, n: int, item: MenuItem, quantity: int, *, discounted: bool | None = None
    ) -> Record:
        unit = local_price(item.base_price, self.cur)
        if discounted is None:
            discounted = self.rng.random() < 0.1
        discount = quantize(quantity * unit * DISCOUNT_RATE, self.cur) if discounted else None
        net = quantity * unit - (discount or self.zero)
        line: Record = {"id": f"{oid}-L{n}", "productRef": {"id": item.id, "name": item.name}}
        line |= {"quantity": quantity, "unitPrice": unit}
        line |= self._taxed(net, tax_parts(self.m.country, item.tax_class), "totalTaxAmount")
        if discount is not None:
            line["discountAllocations"] = [{"name": "10% off", "totalAmount": discount}]
        return line

    def _delivery(self) -> Record:
        net = local_price(DELIVERY_GBP, self.cur)
        charge: Record = {"description": "Delivery", "quantity": 1, "type": "Shipping"}
        return charge | self._taxed(net, tax_parts(self.m.country, "standard"), "taxAmount")

    def _taxed(self, net: Decimal, parts: tuple[TaxPart, ...], tax_key: str) -> Record:
        """Tax fields for `net`: each component rounded on its own, as POS systems do."""
        amounts = [quantize(net * Decimal(p[2]) / 100, self.cur) for p in parts]
        tax = self._sum(amounts)
        fields: Record = {"taxPercentage": sum((Decimal(p[2]) for p in parts), Decimal(0))}
        fields |= {tax_key: tax, "totalAmount": net + tax}
        if itemised(self.m.country) and parts:
            fields["taxes"] = [
                {"taxComponentRef": {"id": cid, "name": name}, "rate": amount}
                for (cid, name, _), amount in zip(parts, amounts, strict=True)
            ]
        return fields

    def _tip(self, total: Decimal) -> Decimal:
        if self.rng.random() >= 0.2:
            return self.zero
        return quantize(total * self.rng.choice(TIP_RATES), self.cur)

    # -- payments and fees ------------------------------------------------

    def _payments(
        self, oid: str, tender: str, total: Decimal, tip: Decimal, moment: datetime
    ) -> list[Record]:
        due = total + tip
        if tender in ("Split", "Prepaid"):
            # Split: part cash, rest card. Prepaid: a gift card covers all or part.
            first = "Cash" if tender == "Split" else "Prepaid"
            full = tender == "Prepaid" and self.rng.random() < 0.5
            share = due if full else quantize(total * self.rng.randint(30, 70) / 100, self.cur)
            parts = [(first, share), ("Card", due - share)]
        else:
            parts = [(tender, due)]
        payments = []
        for kind, amount in [p for p in parts if not p[1].is_zero()] or parts[:1]:
            pid = f"{oid}-P{len(payments) + 1}"
            payments.append(
                {"id": pid, "type": kind, "amount": amount, "currency": self.cur}
                | {"status": "Paid", "paymentMethodRef": {"id": kind}}
            )
            self._fees(pid, kind, amount, moment)
        return payments

    def _fees(self, pid: str, kind: str, amount: Decimal, moment: datetime) -> None:
        if kind not in ("Card", "OnlineCard"):
            return
        if amount > 0:
            fixed = local_price(FEE_FIXED_GBP, self.cur)
            self._transaction(f"{pid}-FEE", "PaymentFee", -(amount * FEE_RATE + fixed), pid, moment)
        elif amount < 0 and self.rng.random() < 0.5:
            # Some processors return the percentage part of the fee on a refund.
            self._transaction(f"{pid}-FEEREF", "PaymentFeeRefund", -amount * FEE_RATE, pid, moment)

    def _transaction(
        self, tid: str, kind: str, amount: Decimal, pid: str, moment: datetime
    ) -> None:
        stamp = iso_z(moment + timedelta(minutes=1))
        amount = quantize(amount, self.cur)
        if amount.is_zero():
            return
        record = {"id": tid, "createdDate": stamp, "modifiedDate": stamp, "type": kind}
        record |= {"totalAmount": amount, "currency": self.cur}
        self.transactions.append(record | {"transactionSourceRef": {"id": pid, "type": "Payment"}})

    def _sum(self, amounts: Any) -> Decimal:
        return sum(amounts, self.zero)
