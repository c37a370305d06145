"""Lightspeed K-Series objects -> canonical (Codat Commerce shaped) records.
Pure: no I/O.

Vendor facts (`../shared/reference/README.md`, K-Series): amounts are
decimal strings (`"totalNetAmountWithTax": "11.00"`, `"taxAmount":
"1.6667"`), tax lines carry up to 6 decimals; V2 sales are closed
transactions only, sorted by `timeClosed`. The fields read below beyond
those facts (`accountFiscId`, `receiptId`, `salesLines[].taxLines`,
`payments[].type`, `tipAmount`, the Lightspeed Payments record types) are
this connector's reading of the vendor's documentation site; the strict
double (tests/doubles/lightspeed_k_double.py) holds the same shapes.

Every amount must be a decimal string (a JSON number, float or not, is a
problem: K-Series never sends one). Sale, line and payment amounts must fit
the location's currency exactly (more decimals are a problem, never rounded).

Tax rounding. Tax lines carry up to 6 decimals; the books take the
currency's minor unit. For each sale and each tax code, the exact amounts of
all its tax lines are summed and that sum is rounded half away from zero
(the receipt's figure for that code); the cents are then shared among the
tax lines by largest remainder (each line gets its amount rounded down,
and the cents left go to the lines with the largest dropped fractions, the
first such line on a tie). So a sale's tax per code is the rounded exact
total, its lines add up to it, and a line's net is its gross less its
rounded tax. Example: VAT 9 % of 1.486239 and 0.206422 on two lines is
1.692661, booked 1.69 as 1.48 + 0.21 (rounding each line alone would book
1.49 + 0.21 = 1.70).

Orders (one per sale, id `accountFiscId`):

| K-Series sale                          | canonical order                     | why                         |
|----------------------------------------|-------------------------------------|-----------------------------|
| sale with positive lines               | the order, one line per sales line  | the sale                    |
| refund (negative lines and payments,   | the same, negative (a refund order) | money back: the engine books|
| `accountLink.initialAccountId` set)    |                                     | it as a refund              |
| `cancelled` with no payment money      | (skipped)                           | a voided ticket: nothing    |
|                                        |                                     | was sold or paid            |
| `cancelled` with payment money         | problem                             | money moved on a void       |
| a line of zero quantity and amounts    | (skipped)                           | a voided line               |
| lines not adding up to the payments    | problem                             | the sale is inconsistent    |
| (tips aside)                           |                                     |                             |

Lines: `totalNetAmountWithTax` is the line total (after its discount, tax
included); `discountAmount` the discount given (a discount allocation);
`taxLines[]` the taxes (component `taxCode`, amount `taxAmount`; a line's
own `taxAmount`, when sent, must equal their exact sum); `sku` the product
and `accountingGroup` its category.

Payments (`payments[].type`; amount `netAmountWithTax` plus `tipAmount`,
tips summed into the order's gratuity):

| K-Series                 | canonical   | why                                          |
|--------------------------|-------------|----------------------------------------------|
| LIGHTSPEED_PAYMENTS      | Card        | settles into the Lightspeed Payments balance |
| CARD                     | Card        | an external card terminal                    |
| CASH                     | Cash        | the till                                     |
| GIFT_CARD, VOUCHER       | Prepaid     | redeems a liability                          |
| ONLINE                   | OnlineCard  | online ordering                              |
| ON_ACCOUNT               | Invoice     | charged to a customer's account              |
| OTHER                    | Custom      | a merchant-defined method                    |
| anything else            | problem     | named with the sale's id                     |

Lightspeed Payments records (`type`), each at its `createdAt`:

| K-Series                 | canonical transaction               | why                           |
|--------------------------|-------------------------------------|-------------------------------|
| PAYMENT, REFUND          | PaymentFee `-fee` (fee > 0) or      | the processing fee; the money |
|                          | PaymentFeeRefund (fee < 0), linked  | itself is the sale's payment  |
|                          | to the payment (`paymentUuid`, else |                               |
|                          | the sale's `accountFiscId`)         |                               |
| PAYOUT                   | Payout `-amount` (amount > 0), and  | sent to the bank              |
|                          | PaymentFee `-fee` when it has one   |                               |
| PAYOUT_FAILED            | FailedPayout `+amount`              | the payout came back          |
| anything else            | problem                             | named by id                   |

Records that do not fit are never dropped silently: each problem names the
record's id and lands in `Translation.problems`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from connectors.common import Raw, Record, Unfit, guarded
from mapping.money import quantize, quantum

PAYMENT_TYPES = {
    "LIGHTSPEED_PAYMENTS": "Card",
    "CARD": "Card",
    "CASH": "Cash",
    "GIFT_CARD": "Prepaid",
    "VOUCHER": "Prepaid",
    "ONLINE": "OnlineCard",
    "ON_ACCOUNT": "Invoice",
    "OTHER": "Custom",
}
FEE_RECORDS = frozenset(["PAYMENT", "REFUND"])
ZERO = Decimal(0)


@dataclass
class Translation:
    orders: list[Record] = field(default_factory=list)
    transactions: list[Record] = field(default_factory=list)
    products: list[Record] = field(default_factory=list)
    product_categories: list[Record] = field(default_factory=list)
    tax_components: list[Record] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def decimal(value: Any, what: str) -> Decimal:
    """A K-Series decimal string as Decimal; anything else is a problem."""
    if not isinstance(value, str):
        raise Unfit(f"{what} {value!r} is not a decimal string")
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise Unfit(f"{what} {value!r} is not a decimal string") from None
    if not number.is_finite():
        raise Unfit(f"{what} {value!r} is not a finite number")
    return number


def money(value: Any, currency: str, what: str) -> Decimal:
    """A decimal-string amount that must fit `currency` exactly."""
    number = decimal(value, what)
    exact = quantize(number, currency)
    if exact != number:
        raise Unfit(f"{what} {value} has more decimals than {currency} has")
    return exact


def allocate(exact: list[Decimal], currency: str) -> list[Decimal]:
    """`exact` amounts (any number of decimals) rounded to `currency` so that
    they add up to their exact sum rounded half away from zero: each is
    rounded down, and the units left go to the largest dropped fractions
    (the earliest on a tie). Example: [1.486239, 0.206422] in EUR ->
    [1.48, 0.21] (sum 1.69 = round(1.692661))."""
    if not exact:
        return []
    unit = quantum(currency)
    target = quantize(sum(exact, ZERO), currency)
    floors = [x.quantize(unit, rounding=ROUND_FLOOR) for x in exact]
    left = int((target - sum(floors, ZERO)) / unit)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for index in order[:left]:
        floors[index] += unit
    return floors


def instant(text: Any, what: str) -> str:
    if not isinstance(text, str):
        raise Unfit(f"{what} {text!r} is not a date-time")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Unfit(f"{what} {text!r} is not a date-time") from None
    if moment.tzinfo is None:
        raise Unfit(f"{what} {text!r} has no offset")
    return moment.isoformat()


def _payments(sale: Raw, ident: str, currency: str) -> tuple[list[Record], Decimal, Decimal]:
    """Canonical payments, the sum of their amounts without tips, and the tips."""
    records, paid, tips = [], ZERO, ZERO
    for index, payment in enumerate(sale.get("payments") or ()):
        kind = PAYMENT_TYPES.get(str(payment.get("type")))
        if kind is None:
            raise Unfit(f"payment type {payment.get('type')!r} has no canonical payment type")
        amount = money(payment.get("netAmountWithTax"), currency, "payment amount")
        tip = money(payment.get("tipAmount", "0"), currency, "tip")
        paid += amount
        tips += tip
        records.append(
            {
                "id": str(payment.get("uuid") or f"{ident}-payment-{index}"),
                "type": kind,
                "amount": amount + tip,
                "currency": currency,
                "status": "Paid",
            }
        )
    return records, paid, tips


def _lines(sale: Raw, ident: str, currency: str) -> tuple[list[Record], list[Raw]]:
    """Canonical lines (taxes filled in by `sale_order`) and the raw lines kept."""
    kept, records = [], []
    for index, line in enumerate(sale.get("salesLines") or ()):
        quantity = decimal(line.get("quantity"), "quantity")
        gross = money(line.get("totalNetAmountWithTax"), currency, "line amount")
        taxes = line.get("taxLines") or []
        if not isinstance(taxes, list):
            raise Unfit(f"line {line.get('id')} has taxLines that are not a list")
        exact = [decimal(t.get("taxAmount"), "tax amount") for t in taxes]
        if "taxAmount" in line and decimal(line["taxAmount"], "line tax") != sum(exact, ZERO):
            raise Unfit(
                f"line {line.get('id')} has taxAmount {line['taxAmount']} but its tax lines "
                f"add up to {sum(exact, ZERO)}"
            )
        if not quantity and not gross and not any(exact):
            continue  # a voided line
        record: Record = {
            "id": str(line.get("id") or f"{ident}-line-{index}"),
            "description": str(line.get("name") or "Lightspeed sale"),
            "quantity": quantity,
            "totalAmount": gross,
            "discountAllocations": [],
            "taxes": [],
        }
        off = money(line.get("discountAmount", "0"), currency, "discount")
        if off:
            record["discountAllocations"] = [
                {"name": str(line.get("discountName") or "Discount"), "totalAmount": off}
            ]
        if line.get("sku"):
            record["productRef"] = {"id": str(line["sku"])}
        kept.append(line)
        records.append(record)
    return records, kept


def sale_order(sale: Raw, currency: str, location_id: str) -> list[Record]:
    """One sale as a canonical order ([] for a voided ticket); see the table."""
    ident = sale.get("accountFiscId")
    if not ident:
        raise Unfit("has no accountFiscId")
    ident = str(ident)
    payments, paid, tips = _payments(sale, ident, currency)
    if sale.get("cancelled"):
        if paid or tips:
            raise Unfit(f"is cancelled but carries payments of {paid + tips}")
        return []
    closed = instant(sale.get("timeClosed"), "timeClosed")
    lines, raw_lines = _lines(sale, ident, currency)
    gross = sum((x["totalAmount"] for x in lines), ZERO)
    if gross != paid:
        raise Unfit(f"lines total {gross} but payments (tips aside) {paid}")
    # Round taxes per code over the whole sale (see the module docstring).
    by_code: dict[str, list[tuple[int, int, Decimal]]] = {}
    for at, line in enumerate(raw_lines):
        for part, tax in enumerate(line.get("taxLines") or ()):
            code = tax.get("taxCode")
            if not code:
                raise Unfit(f"line {line.get('id')} has a tax line without a taxCode")
            by_code.setdefault(str(code), []).append(
                (at, part, decimal(tax.get("taxAmount"), "tax amount"))
            )
    for code, entries in by_code.items():
        rounded = allocate([amount for _, _, amount in entries], currency)
        for (at, _, _), value in zip(entries, rounded, strict=True):
            lines[at]["taxes"].append(
                {"taxComponentRef": {"id": code, "name": code}, "rate": value}
            )
    for line, raw in zip(lines, raw_lines, strict=True):
        line["totalTaxAmount"] = sum((t["rate"] for t in line["taxes"]), ZERO)
        # One rate is the line's rate; several (a menu taxed on two rates, each
        # on its own part) have no single rate: the engine derives one.
        rates = [decimal(t.get("taxRate"), "tax rate") for t in raw.get("taxLines") or ()]
        if len(rates) <= 1:
            line["taxPercentage"] = rates[0] if rates else ZERO
    link = (sale.get("accountLink") or {}).get("initialAccountId")
    number = str(sale.get("receiptId") or ident)
    return [
        {
            "id": ident,
            "orderNumber": number if not link or link == ident else f"{number} (refund of {link})",
            "currency": currency,
            "createdDate": closed,
            "modifiedDate": closed,
            "closedDate": closed,
            "locationRef": {"id": location_id},
            "orderLineItems": lines,
            "serviceCharges": [],
            "totalGratuity": tips,
            "payments": payments,
            "totalAmount": gross,
            "totalTaxAmount": sum((x["totalTaxAmount"] for x in lines), ZERO),
            "totalDiscount": sum(
                (d["totalAmount"] for x in lines for d in x["discountAllocations"]), ZERO
            ),
        }
    ]


def payments_transactions(record: Raw, currency: str) -> list[Record]:
    """One Lightspeed Payments record (see the table) as canonical transactions."""
    kind = record.get("type")
    ident = record.get("id")
    if not ident:
        raise Unfit("has no id")
    code = record.get("currency") or currency
    if code != currency:
        raise Unfit(f"is in {code}, not the location's {currency}")
    created = instant(record.get("createdAt"), "createdAt")
    amount = money(record.get("amount"), currency, "amount")
    fee = money(record.get("fee", "0"), currency, "fee")
    base = {"currency": currency, "createdDate": created, "modifiedDate": created}
    out: list[Record] = []
    if kind in FEE_RECORDS:
        # The fee belongs to the sale's Lightspeed Payments payment: its
        # clearing account is that payment's (an order's id would name the
        # sale's first payment, which may be cash).
        paid_by, sale = record.get("paymentUuid"), record.get("accountFiscId")
        if paid_by:
            source = {"id": str(paid_by), "type": "Payment"}
        elif sale:
            source = {"id": str(sale), "type": "Order"}
        else:
            source = {"id": str(ident), "type": "Payout"}
        if fee:
            out.append(
                {
                    **base,
                    "id": f"lsp-{ident}-fee",
                    "type": "PaymentFee" if fee > 0 else "PaymentFeeRefund",
                    "totalAmount": -fee,
                    "transactionSourceRef": source,
                }
            )
        return out
    source = {"id": str(ident), "type": "Payout"}
    if kind == "PAYOUT":
        if amount <= 0:
            raise Unfit(f"is a payout of {amount}, not a positive amount")
        out.append(
            {
                **base,
                "id": f"lsp-{ident}",
                "type": "Payout",
                "totalAmount": -amount,
                "transactionSourceRef": source,
            }
        )
        if fee:
            out.append(
                {
                    **base,
                    "id": f"lsp-{ident}-fee",
                    "type": "PaymentFee",
                    "totalAmount": -fee,
                    "transactionSourceRef": source,
                }
            )
        return out
    if kind == "PAYOUT_FAILED":
        return [
            {
                **base,
                "id": f"lsp-{ident}",
                "type": "FailedPayout",
                "totalAmount": abs(amount),
                "transactionSourceRef": source,
            }
        ]
    raise Unfit(f"type {kind!r} is not one this connector knows")


def reference_data(sales: Iterable[Raw]) -> tuple[list[Record], list[Record], list[Record]]:
    """Products (by `sku`), categories (accounting groups) and tax components
    (by `taxCode`, `taxRate` percentage as Codat's fraction) the sales use."""
    products: dict[str, Record] = {}
    categories: dict[str, Record] = {}
    components: dict[str, Record] = {}
    for sale in sales:
        for line in sale.get("salesLines") or ():
            if not isinstance(line, Mapping):
                continue
            group = line.get("accountingGroup") or {}
            group_id = group.get("id") if isinstance(group, Mapping) else None
            if group_id is not None:
                categories.setdefault(
                    str(group_id), {"id": str(group_id), "name": str(group.get("name") or group_id)}
                )
            if line.get("sku"):
                product: Record = {
                    "id": str(line["sku"]),
                    "name": str(line.get("name") or line["sku"]),
                    "isGiftCard": False,
                }
                if group_id is not None:
                    product["productCategoryRef"] = {"id": str(group_id)}
                products.setdefault(product["id"], product)
            for tax in line.get("taxLines") or ():
                code = tax.get("taxCode") if isinstance(tax, Mapping) else None
                if not code:
                    continue
                try:
                    rate: Decimal | None = decimal(tax.get("taxRate"), "tax rate") / 100
                except Unfit:
                    rate = None
                components.setdefault(str(code), {"id": str(code), "name": str(code), "rate": rate})
    return list(products.values()), list(categories.values()), list(components.values())


def translate_location(
    *,
    location_id: str,
    currency: str,
    sales: Iterable[Raw] = (),
    payments: Iterable[Raw] = (),
) -> Translation:
    """One business location's sales and Lightspeed Payments records for a
    period, in the location's `currency`, as canonical records."""
    out = Translation()
    sales = list(sales)
    for sale in sales:
        if not isinstance(sale, Mapping):
            out.problems.append(f"sale {sale!r}: not an object")
            continue
        label = f"sale {sale.get('accountFiscId')}"
        out.orders += guarded(out.problems, label, sale_order, sale, currency, location_id)
    for record in payments:
        if not isinstance(record, Mapping):
            out.problems.append(f"Lightspeed Payments record {record!r}: not an object")
            continue
        label = f"Lightspeed Payments record {record.get('id')}"
        out.transactions += guarded(out.problems, label, payments_transactions, record, currency)
    good = [s for s in sales if isinstance(s, Mapping)]
    out.products, out.product_categories, out.tax_components = reference_data(good)
    return out
