"""Clover objects -> canonical (Codat Commerce shaped) records. Pure: no I/O.

Vendor facts (the SDK data classes in
../shared/reference/clover/sdk-v3-models, their field docs, the two real
order responses in `samples/`, and docs.clover.com "Clover tender
reference"): money is integer cents of the order's `currency` (read with
the currency's ISO 4217 exponent into `Decimal`); times are epoch
milliseconds (UTC); collections are `{"elements": [...]}`. Tax rates are
integers where 100 % = 10,000,000 (`TaxableAmountRate.rate`: "100% =
1e7"), so the sample's `"rate": 825000` is 8.25 %; percentage discounts and
service charges carry `percentageDecimal`, percent times 10,000 (12.5 % =
125000), or a whole `percentage`. `Order.total` is the order's price in
cents with tax and service charge, without tips.

How an order's lines are priced (this connector's reading of those docs;
it reproduces both sample orders' `total` to the cent):

1. a line is `price` (times `unitQty` / 1000 for an item priced per unit,
   half up) plus its modifications' `amount`s, less its own discounts
   (`amount`, as a positive or a negative number of cents, or a percentage
   of the line, half up);
2. order discounts (`Order.discounts`) come off the revenue lines' sum and
   are shared among those lines in proportion (largest remainder), a
   percentage one rounded half up on the sum;
3. the service charge (`Order.serviceCharge.percentageDecimal`) is that
   percentage of the discounted revenue lines, half up, untaxed;
4. tax is worked per tax rate on the order: the discounted amounts of the
   lines carrying that rate, times the rate, rounded half up once, then
   shared among those lines (largest remainder). For a VAT order
   (`isVat`), prices include their tax: the tax is the gross amount times
   rate / (1e7 + the line's rates). `taxRemoved` orders carry none;
5. the lines and the service charge must add up to `Order.total`; an order
   that does not is reported, never posted with a guessed figure.

Orders (one per Clover order, read when created or modified in the period):

| Clover                                        | canonical                     | why                                   |
|-----------------------------------------------|-------------------------------|---------------------------------------|
| line item, `isRevenue` true or absent         | order line at its product     | sold goods                            |
| line item, `isRevenue` false                  | line at the gift card product | gift card loads (and donations) are   |
|                                               | (`isGiftCard`)                | owed, not earned: a liability         |
| line item `exchanged`                         | problem                       | exchange lines are not read yet       |
| line/order discounts                          | `discountAllocations`         | the line totals are net of them       |
| `serviceCharge`                               | service charge (Generic)      | an added charge, untaxed              |
| tax rates of a line                           | `taxes[]` by tax rate id      | one component per Clover tax rate     |
| tax rate with a flat `taxAmount`, no `rate`   | problem                       | flat fees are not read yet            |
| payment, result SUCCESS, AUTH_COMPLETED,      | payment Paid                  | money taken                           |
| VOID_FAILED                                   |                               |                                       |
| payment AUTH, PENDING, INITIATED,             | payment Pending               | the order waits until it settles      |
| OFFLINE_RETRYING                              |                               |                                       |
| payment FAIL / VOIDED, VOIDING                | payment Failed / Cancelled    | no money moved: warned, not posted    |
| payment `tipAmount`                           | in the payment, and gratuity  | tips are owed to staff                |
| payment `cashbackAmount`                      | card payment + cash payment   | cash handed out of the till, taken    |
|                                               | of minus the same             | on the card: nets to zero             |
| unpaid remainder of the order                 | payment Pending (`Unknown`)   | an open tab waits until it is paid    |
| `testMode` order                              | (skipped)                     | Clover processes no money for it      |
| a voided line (removed from the order)        | (absent)                      | Clover drops it from `lineItems`; its |
|                                               |                               | payments, if any, carry the result    |

Refunds and credits (read by their creation time):

| Clover                          | canonical                                 | why                             |
|---------------------------------|-------------------------------------------|---------------------------------|
| refund (of a payment)           | order `refund-<id>`: one negative line    | `amount` includes tax and tip;  |
|                                 | (amount - tax - tip), its tax by          | paid back with the refunded     |
|                                 | `taxableAmountRates`, gratuity -tip,      | payment's tender                |
|                                 | payment of -amount                        |                                 |
| refund `voided` or status FAIL  | (skipped)                                 | no money went back              |
| credit (manual refund)          | order `credit-<id>`, as a refund, paid    | money given back with no        |
|                                 | with the credit's tender                  | payment to refer to             |

Tenders (`Tender.labelKey` -> canonical `payments[].type`):

| Clover labelKey                                     | canonical | why                                  |
|-----------------------------------------------------|-----------|--------------------------------------|
| com.clover.tender.cash                              | Cash      | the till                             |
| com.clover.tender.credit, com.clover.tender.debit_card | Card   | settled by the merchant's acquirer   |
| com.clover.tender.gift_card,                        | Prepaid   | redeems a liability, no money moves  |
| com.clover.tender.external_gift_card                |           |                                      |
| com.clover.tender.check, .external_payment,         | Custom    | money outside the card clearing: the |
| .external_pin_debit, com.clover.paypal,             |           | merchant maps a `custom` account     |
| com.clover.venmo, a merchant's own tender (no       |           |                                      |
| labelKey, or one outside `com.clover.`)             |           |                                      |
| any other `com.clover.` key                         | problem   | reported with the record's id        |

Deposits and fees: Clover's REST API publishes no deposit, settlement or
processing-fee objects (none among the SDK data classes; the acquirer's
statements carry them). Card money therefore stays in the card clearing
account; the merchant's deposit, net of fees, is matched against that
account from the bank feed in the accounting software.

Records that do not fit are never dropped silently: each problem names the
record's id and lands in `Translation.problems`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connectors.common import Raw, Record, Unfit, guarded
from mapping.money import from_minor

RATE_SCALE = 10_000_000  # 100 % (TaxableAmountRate.rate: "100% = 1e7")
PERCENT_DECIMAL_SCALE = 1_000_000  # percentageDecimal: percent x 10,000
UNIT_QTY_SCALE = 1000  # unitQty: fixed point, 3 decimals
GIFT_CARD_PRODUCT = {"id": "clover-gift-card", "name": "Clover gift card", "isGiftCard": True}
TENDERS = {
    "com.clover.tender.cash": "Cash",
    "com.clover.tender.credit": "Card",
    "com.clover.tender.credit_card": "Card",
    "com.clover.tender.debit_card": "Card",
    "com.clover.tender.gift_card": "Prepaid",
    "com.clover.tender.external_gift_card": "Prepaid",
    "com.clover.tender.check": "Custom",
    "com.clover.tender.external_payment": "Custom",
    "com.clover.tender.external_pin_debit": "Custom",
    "com.clover.paypal": "Custom",
    "com.clover.venmo": "Custom",
}
PAID = frozenset(["SUCCESS", "AUTH_COMPLETED", "VOID_FAILED"])
PENDING = frozenset(["AUTH", "PENDING", "INITIATED", "OFFLINE_RETRYING"])
NO_MONEY = {"FAIL": "Failed", "VOIDED": "Cancelled", "VOIDING": "Cancelled"}


@dataclass
class Translation:
    orders: list[Record] = field(default_factory=list)
    tax_components: list[Record] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# -- small readers ---------------------------------------------------------------


def cents(value: Any, what: str) -> int:
    """An integer number of cents (absent is 0); anything else is Unfit."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unfit(f"{what} {value!r} is not an integer number of cents")
    return value


def elements(raw: Raw, key: str) -> list[Raw]:
    """A collection field (`{"elements": [...]}`) as a list; absent is []."""
    value = raw.get(key)
    if value is None:
        return []
    found = value.get("elements") if isinstance(value, Mapping) else None
    if found is None:
        return []
    if not isinstance(found, list):
        raise Unfit(f"{key} is not a list of elements")
    return found


def instant(millis: Any, what: str = "createdTime") -> str:
    """Epoch milliseconds as an ISO 8601 UTC instant."""
    if isinstance(millis, bool) or not isinstance(millis, int):
        raise Unfit(f"{what} {millis!r} is not epoch milliseconds")
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat()


def currency_of(raw: Raw) -> str:
    code = raw.get("currency")
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha():
        raise Unfit(f"currency {code!r} is not a three-letter code")
    return code.upper()


def half_up(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def share(total: int, weights: list[int]) -> list[int]:
    """`total` cents split in proportion to `weights` (largest remainder),
    so the parts add up to `total` exactly."""
    whole = sum(weights)
    if not whole:
        return [0] * len(weights)
    exact = [Decimal(total) * w / whole for w in weights]
    parts = [int(x) for x in exact]  # toward zero
    left = total - sum(parts)
    step = 1 if left > 0 else -1
    order = sorted(range(len(weights)), key=lambda i: -abs(exact[i] - parts[i]))
    for i in order[: abs(left)]:
        parts[i] += step
    return parts


def tender_type(tender: Raw | None, owner: str) -> str:
    """The canonical payment type of a Clover tender (the table above)."""
    if not isinstance(tender, Mapping):
        raise Unfit(f"{owner} names no tender")
    key = tender.get("labelKey")
    if not key or not str(key).startswith("com.clover."):
        return "Custom"  # the merchant's own tender
    if key not in TENDERS:
        raise Unfit(f"{owner} has tender {key!r}, which has no canonical payment type")
    return TENDERS[str(key)]


def _discount_off(discount: Raw, base: int, where: str) -> int:
    """Cents a discount takes off `base` (a positive number)."""
    if discount.get("amount") is not None:
        return abs(cents(discount.get("amount"), f"{where} discount amount"))
    if discount.get("percentageDecimal") is not None:
        scaled = cents(discount.get("percentageDecimal"), f"{where} discount percentageDecimal")
        return half_up(Decimal(base) * scaled / PERCENT_DECIMAL_SCALE)
    if discount.get("percentage") is not None:
        whole = cents(discount.get("percentage"), f"{where} discount percentage")
        return half_up(Decimal(base) * whole / 100)
    raise Unfit(f"{where} has a discount {discount.get('id')} with neither amount nor percentage")


# -- orders ------------------------------------------------------------------------


@dataclass
class _Line:
    raw: Raw
    revenue: bool
    quantity: Decimal
    gross: int  # price with modifications, before discounts
    discount: int = 0  # line and order discounts, positive cents
    rates: list[Raw] = field(default_factory=list)
    tax: dict[str, int] = field(default_factory=dict)  # rate id -> cents

    @property
    def net(self) -> int:
        return self.gross - self.discount


def _priced(line: Raw) -> _Line:
    lid = line.get("id")
    where = f"line {lid}"
    if line.get("exchanged"):
        raise Unfit(f"{where} was exchanged; exchanges are not read yet")
    price = cents(line.get("price"), f"{where} price")
    quantity = Decimal(1)
    if line.get("unitQty") is not None:
        units = cents(line.get("unitQty"), f"{where} unitQty")
        quantity = Decimal(units) / UNIT_QTY_SCALE
        price = half_up(Decimal(price) * units / UNIT_QTY_SCALE)
    for modification in elements(line, "modifications"):
        price += cents(modification.get("amount"), f"{where} modification amount")
    out = _Line(
        raw=line, revenue=line.get("isRevenue") is not False, quantity=quantity, gross=price
    )
    for discount in elements(line, "discounts"):
        out.discount += _discount_off(discount, price, where)
    if line.get("discountAmount") is not None and not elements(line, "discounts"):
        out.discount += abs(cents(line.get("discountAmount"), f"{where} discountAmount"))
    if out.revenue:
        for rate in elements(line, "taxRates"):
            if not rate.get("rate") and rate.get("taxAmount"):
                raise Unfit(
                    f"{where} has the flat tax {rate.get('id')}; flat taxes are not read yet"
                )
            if rate.get("rate"):
                cents(rate.get("rate"), f"{where} tax rate")
                out.rates.append(rate)
    return out


def _order_discounts(order: Raw, lines: list[_Line]) -> int:
    revenue = [x for x in lines if x.revenue]
    base = sum(x.net for x in revenue)
    off = sum(_discount_off(d, base, "order") for d in elements(order, "discounts"))
    if off > base:
        raise Unfit(f"its discounts ({off} cents) exceed what the lines cost ({base} cents)")
    for line, part in zip(revenue, share(off, [x.net for x in revenue]), strict=True):
        line.discount += part
    return off


def _taxes(order: Raw, lines: list[_Line]) -> dict[str, Raw]:
    """Fill each line's tax by rate id (the method in the module docstring);
    the rates used, by id."""
    if order.get("taxRemoved"):
        for line in lines:
            line.rates = []
        return {}
    vat = bool(order.get("isVat"))
    used: dict[str, Raw] = {}
    exact: dict[str, list[tuple[_Line, Decimal]]] = {}
    for line in lines:
        together = sum(int(r["rate"]) for r in line.rates)
        for rate in line.rates:
            rid = str(rate.get("id") or rate.get("name"))
            used.setdefault(rid, rate)
            if vat:
                part = Decimal(line.net) * int(rate["rate"]) / (RATE_SCALE + together)
            else:
                part = Decimal(line.net) * int(rate["rate"]) / RATE_SCALE
            exact.setdefault(rid, []).append((line, part))
    for rid, parts in exact.items():
        total = half_up(sum((p for _, p in parts), Decimal(0)))
        weights = [half_up(p * 1000) for _, p in parts]
        for (line, _), amount in zip(parts, share(total, weights), strict=True):
            line.tax[rid] = amount
    return used


def _payments(order: Raw, cur: str) -> tuple[list[Record], int, int]:
    """(canonical payments, tips in cents, cents paid or pending without tips)."""
    out: list[Record] = []
    tips = paid = 0
    for payment in elements(order, "payments"):
        pid = payment.get("id")
        owner = f"payment {pid}"
        result = payment.get("result") or "SUCCESS"
        if result in PAID:
            status = "Paid"
        elif result in PENDING:
            status = "Pending"
        elif result in NO_MONEY:
            status = NO_MONEY[result]
        else:
            raise Unfit(f"{owner} has result {result!r}, which has no canonical payment status")
        kind = tender_type(payment.get("tender"), owner)
        amount = cents(payment.get("amount"), f"{owner} amount")
        tip = cents(payment.get("tipAmount"), f"{owner} tipAmount")
        cashback = cents(payment.get("cashbackAmount"), f"{owner} cashbackAmount")
        if status in ("Paid", "Pending"):
            tips += tip
            paid += amount
        out.append(
            {
                "id": str(pid),
                "type": kind,
                "amount": from_minor(amount + tip + cashback, cur),
                "currency": cur,
                "status": status,
            }
        )
        if cashback and status in ("Paid", "Pending"):
            out.append(
                {
                    "id": f"{pid}-cashback",
                    "type": "Cash",
                    "amount": from_minor(-cashback, cur),
                    "currency": cur,
                    "status": status,
                }
            )
    return out, tips, paid


def _tax_parts(line: _Line, rates: Mapping[str, Raw], cur: str, sign: int) -> list[Record]:
    return [
        {
            "taxComponentRef": {"id": rid, "name": str(rates[rid].get("name") or rid)},
            "rate": from_minor(sign * amount, cur),
        }
        for rid, amount in line.tax.items()
    ]


def sale_order(order: Raw, location_id: str) -> list[Record]:
    """One Clover order as a canonical order ([] for a test-mode order)."""
    if order.get("testMode"):
        return []
    oid = str(order["id"])
    cur = currency_of(order)
    vat = bool(order.get("isVat"))
    lines = [_priced(x) for x in elements(order, "lineItems")]
    _order_discounts(order, lines)
    rates = _taxes(order, lines)
    revenue_net = sum(x.net for x in lines if x.revenue)
    charge = 0
    service = order.get("serviceCharge")
    if isinstance(service, Mapping) and service.get("percentageDecimal"):
        scaled = cents(service.get("percentageDecimal"), "serviceCharge percentageDecimal")
        charge = half_up(Decimal(revenue_net) * scaled / PERCENT_DECIMAL_SCALE)
    records: list[Record] = []
    due = charge
    for line in lines:
        tax = sum(line.tax.values())
        total = line.net if vat else line.net + tax
        due += total
        raw = line.raw
        name = str(raw.get("name") or "Item")
        record: Record = {
            "id": str(raw.get("id")),
            "description": name,
            "quantity": line.quantity,
            "unitPrice": from_minor(cents(raw.get("price"), "price"), cur),
            "totalAmount": from_minor(total, cur),
            "totalTaxAmount": from_minor(tax, cur),
            "discountAllocations": (
                [{"name": "Discounts", "totalAmount": from_minor(line.discount, cur)}]
                if line.discount
                else []
            ),
            "taxes": _tax_parts(line, rates, cur, 1),
        }
        if not line.revenue:
            record["productRef"] = {"id": GIFT_CARD_PRODUCT["id"]}
        elif isinstance(raw.get("item"), Mapping) and raw["item"].get("id"):
            record["productRef"] = {"id": f"item-{raw['item']['id']}"}
        records.append(record)
    total = cents(order.get("total"), "total")
    if due != total:
        raise Unfit(
            f"its lines, discounts, taxes and service charge come to {from_minor(due, cur)} "
            f"but Clover's total is {from_minor(total, cur)}"
        )
    payments, tips, paid = _payments(order, cur)
    if paid < total:
        payments.append(
            {
                "id": f"{oid}-unpaid",
                "type": "Unknown",
                "amount": from_minor(total - paid, cur),
                "currency": cur,
                "status": "Pending",
            }
        )
    created = instant(order.get("createdTime"))
    charges = []
    if charge:
        charges.append(
            {
                "description": str(service.get("name") or "Service charge"),  # type: ignore[union-attr]
                "type": "Generic",
                "quantity": 1,
                "totalAmount": from_minor(charge, cur),
                "taxAmount": from_minor(0, cur),
                "taxPercentage": Decimal(0),
                "taxes": [],
            }
        )
    return [
        {
            "id": oid,
            "orderNumber": str(order.get("title") or oid),
            "currency": cur,
            "createdDate": created,
            # Clover moves `modifiedTime` when a refund is added (its own
            # record): the content, hashed by the sync, tells real edits.
            "modifiedDate": created,
            "closedDate": created,
            "locationRef": {"id": location_id},
            "orderLineItems": records,
            "serviceCharges": charges,
            "totalGratuity": from_minor(tips, cur),
            "payments": payments,
            "totalAmount": from_minor(total, cur),
            "totalTaxAmount": sum((r["totalTaxAmount"] for r in records), Decimal(0)),
            "totalDiscount": sum(
                (d["totalAmount"] for r in records for d in r["discountAllocations"]), Decimal(0)
            ),
        }
    ]


def _given_back(
    *,
    ident: str,
    title: str,
    cur: str,
    created: str,
    amount: int,
    tax: int,
    tip: int,
    rates: list[Raw],
    kind: str,
    location_id: str,
) -> Record:
    """A refund or credit as a negative one-line order (see the table)."""
    parts = []
    by_rate = sum(cents(r.get("taxAmount"), "taxAmount") for r in rates)
    if rates and by_rate == tax:
        parts = [
            {
                "taxComponentRef": {
                    "id": str(r.get("id") or r.get("name")),
                    "name": str(r.get("name") or r.get("id")),
                },
                "rate": from_minor(-cents(r.get("taxAmount"), "taxAmount"), cur),
            }
            for r in rates
            if r.get("taxAmount")
        ]
    net = amount - tax - tip
    return {
        "id": ident,
        "orderNumber": ident,
        "currency": cur,
        "createdDate": created,
        "modifiedDate": created,
        "closedDate": created,
        "locationRef": {"id": location_id},
        "orderLineItems": [
            {
                "id": f"{ident}-line",
                "description": title,
                "quantity": Decimal(-1),
                "totalAmount": from_minor(-(net + tax), cur),
                "totalTaxAmount": from_minor(-tax, cur),
                "discountAllocations": [],
                "taxes": parts,
            }
        ],
        "serviceCharges": [],
        "totalGratuity": from_minor(-tip, cur),
        "payments": [
            {
                "id": ident,
                "type": kind,
                "amount": from_minor(-amount, cur),
                "currency": cur,
                "status": "Paid",
            }
        ],
        "totalAmount": from_minor(-(net + tax), cur),
        "totalTaxAmount": from_minor(-tax, cur),
        "totalDiscount": Decimal(0),
    }


def refund_order(refund: Raw, orders: Mapping[str, Raw], location_id: str) -> list[Record]:
    """A refund of a payment, paid back with that payment's tender ([] when
    it moved no money). `orders` holds the refunded payment's order by id."""
    if refund.get("voided") or refund.get("status") == "FAIL":
        return []
    rid = str(refund["id"])
    order_id = (refund.get("orderRef") or {}).get("id")
    order = orders.get(str(order_id))
    if order is None:
        raise Unfit(f"its order {order_id} was not found")
    payment_id = (refund.get("payment") or {}).get("id")
    payment = next((p for p in elements(order, "payments") if p.get("id") == payment_id), None)
    if payment is None:
        raise Unfit(f"its payment {payment_id} is not on order {order_id}")
    tender = refund.get("overrideMerchantTender") or payment.get("tender")
    cur = currency_of(order)
    return [
        _given_back(
            ident=f"refund-{rid}",
            title=f"Refund of order {order.get('title') or order_id}",
            cur=cur,
            created=instant(refund.get("createdTime")),
            amount=cents(refund.get("amount"), "amount"),
            tax=cents(refund.get("taxAmount"), "taxAmount"),
            tip=cents(refund.get("tipAmount"), "tipAmount"),
            rates=elements(refund, "taxableAmountRates"),
            kind=tender_type(tender, f"refund {rid}"),
            location_id=location_id,
        )
    ]


def credit_order(credit: Raw, currency: str, location_id: str) -> list[Record]:
    """A credit (a manual refund) in the merchant's `currency` ([] when voided or failed)."""
    if credit.get("voided") or credit.get("result") in NO_MONEY:
        return []
    cid = str(credit["id"])
    return [
        _given_back(
            ident=f"credit-{cid}",
            title=str(credit.get("reason") or "Manual refund"),
            cur=currency,
            created=instant(credit.get("createdTime")),
            amount=cents(credit.get("amount"), "amount"),
            tax=cents(credit.get("taxAmount"), "taxAmount"),
            tip=0,
            rates=elements(credit, "taxRates"),
            kind=tender_type(credit.get("tender"), f"credit {cid}"),
            location_id=location_id,
        )
    ]


def tax_components(orders: Iterable[Raw]) -> list[Record]:
    """The tax rates the orders' lines carry, by id, rate as a fraction."""
    found: dict[str, Record] = {}
    for order in orders:
        for line in elements(order, "lineItems"):
            for rate in elements(line, "taxRates"):
                rid = str(rate.get("id") or rate.get("name"))
                value = rate.get("rate")
                found.setdefault(
                    rid,
                    {
                        "id": rid,
                        "name": str(rate.get("name") or rid),
                        "rate": (
                            Decimal(value) / RATE_SCALE
                            if isinstance(value, int) and not isinstance(value, bool)
                            else None
                        ),
                    },
                )
    return list(found.values())


# -- a period ----------------------------------------------------------------------


def translate_period(
    *,
    orders: Iterable[Raw] = (),
    refunds: Iterable[Raw] = (),
    credits: Iterable[Raw] = (),
    refunded_orders: Iterable[Raw] = (),
    currency: str,
    location_id: str,
) -> Translation:
    """The period's orders, refunds and credits as canonical records.
    `refunded_orders` are orders of earlier periods the refunds refer to:
    read for their payments' tenders only. `currency` is the merchant's
    (credits carry none)."""
    orders = list(orders)
    out = Translation()
    by_id = {str(o.get("id")): o for o in [*refunded_orders, *orders]}
    for order in orders:
        out.orders += guarded(
            out.problems, f"order {order.get('id')}", sale_order, order, location_id
        )
    for refund in refunds:
        out.orders += guarded(
            out.problems, f"refund {refund.get('id')}", refund_order, refund, by_id, location_id
        )
    for credit in credits:
        out.orders += guarded(
            out.problems, f"credit {credit.get('id')}", credit_order, credit, currency, location_id
        )
    try:
        out.tax_components = tax_components(orders)
    except Unfit as unfit:
        out.problems.append(f"tax rates: {unfit}")
    return out
