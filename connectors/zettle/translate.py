"""Zettle purchases and finance transactions as Codat Commerce records. Pure.

Zettle amounts are integer minor units (the Finance API sends them as
strings); prices on purchase rows include VAT, as on a European till. Every
record that does not fit the canonical model is reported by id in
`Translation.problems` (the sync must stop and say so) or `warnings` (kept
out of the books on purpose, but visible); nothing is dropped silently.

Payment types (Purchase API `payments[].type` -> Codat payment type):

| Zettle                               | Codat      | why                                   |
|--------------------------------------|------------|---------------------------------------|
| IZETTLE_CARD, IZETTLE_MANUAL_CARD    | Card       | card present or keyed at the till     |
| IZETTLE_CARD_ONLINE, PAYMENT_LINK    | OnlineCard | card not present (links, online)      |
| IZETTLE_CASH                         | Cash       |                                       |
| IZETTLE_INVOICE                      | Invoice    | settled later by the customer         |
| GIFTCARD                             | Prepaid    | redeems a liability sold earlier      |
| STORE_CREDIT                         | StoreCredit|                                       |
| SWISH / VIPPS / MOBILE_PAY           | Swish / Vipps / Mobile |                           |
| PAYPAL, PAYPAL_QRC                   | Paypal     |                                       |
| CUSTOM                               | Custom     | a merchant-defined tender             |

Finance transactions (LIQUID account, `originatorTransactionType`):

| Zettle              | Codat            | sign (as it moves the Zettle balance)  |
|---------------------|------------------|----------------------------------------|
| PAYMENT_FEE, < 0    | PaymentFee       | - (a fee charged)                      |
| PAYMENT_FEE, > 0    | PaymentFeeRefund | + (fee given back on a refund)         |
| PAYOUT              | Payout           | - to the bank; + back from PayPal      |
| FAILED_PAYOUT       | FailedPayout     | + (the payout came back)               |
| PAYMENT             | —                | mirrors order payments; not repeated   |
| anything else       | —                | a warning naming the transaction       |
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from mapping.money import from_minor

Record = dict[str, Any]

PAYMENT_TYPES: dict[str, str] = {
    "IZETTLE_CARD": "Card",
    "IZETTLE_MANUAL_CARD": "Card",
    "IZETTLE_CARD_ONLINE": "OnlineCard",
    "PAYMENT_LINK": "OnlineCard",
    "IZETTLE_CASH": "Cash",
    "IZETTLE_INVOICE": "Invoice",
    "GIFTCARD": "Prepaid",
    "STORE_CREDIT": "StoreCredit",
    "SWISH": "Swish",
    "VIPPS": "Vipps",
    "MOBILE_PAY": "Mobile",
    "PAYPAL": "Paypal",
    "PAYPAL_QRC": "Paypal",
    "CUSTOM": "Custom",
}
# Payment transactions only mirror order payments, which orders already carry.
MIRRORED_TYPES = frozenset(["PAYMENT"])
GIFT_CARD_ROW_TYPES = frozenset(["GIFTCARD", "GIFT_CARD"])
CUSTOM_AMOUNT_ID = "custom-amount"  # rows typed at the till without a library product


@dataclass
class Translation:
    orders: list[Record] = field(default_factory=list)
    transactions: list[Record] = field(default_factory=list)
    products: dict[str, Record] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # the sync cannot go on
    warnings: list[str] = field(default_factory=list)  # left out on purpose


class _Unfit(Exception):
    """A record that cannot become a canonical one; the message names why."""


class _Unbooked(_Unfit):
    """A finance transaction of a kind a sales sync does not post."""


def utc_text(value: str) -> str:
    """A Zettle timestamp as ISO 8601 UTC with `Z`. Zettle writes offsets as
    `+0000` (or none at all in the Finance API, where times are UTC)."""
    text = value.strip()
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _minor(value: Any, name: str) -> int:
    """An integer minor-unit amount; refuse floats and fractions (money in
    minor units is whole, and a float would be a sign of a misread field)."""
    if isinstance(value, bool) or value is None:
        raise _Unfit(f"{name} is missing or not an amount")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    raise _Unfit(f"{name} {value!r} is not a whole number of minor units")


def _quantity(value: Any) -> Decimal:
    try:
        return Decimal(str(value if value is not None else 1))
    except ArithmeticError:
        raise _Unfit(f"quantity {value!r} is not a number") from None


def _spread(total: int, weights: list[int]) -> list[int]:
    """Split `total` minor units over `weights` in proportion, exactly, with
    the remainder going to the largest fractions (a cart discount has to be
    carried by rows to keep each row's total honest)."""
    base = sum(weights)
    if not total or not base:
        return [0] * len(weights)
    shares = [total * w // base for w in weights]
    rest = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: -((total * weights[i]) % base))
    for i in order[:rest]:
        shares[i] += 1
    return shares


def _row_discount(row: Record, gross: int) -> int:
    """A row's own discount in minor units (positive). Zettle gives either a
    fixed amount per discounted unit or a percentage of the row."""
    discount = row.get("discount")
    if not discount:
        return 0
    if discount.get("amount") is not None:
        times = _quantity(discount.get("quantity", 1))
        return int(_minor(discount["amount"], "discount.amount") * times)
    if discount.get("percentage") is not None:
        # Zettle computes it on the row's price; round half up as the till does.
        share = Decimal(gross) * Decimal(str(discount["percentage"])) / 100
        return int(share.quantize(Decimal(1), rounding="ROUND_HALF_UP"))
    return 0


def _cart_discount(purchase: Record, gross: int) -> int:
    total = 0
    for discount in purchase.get("discounts") or []:
        if discount.get("amount") is not None:
            times = _quantity(discount.get("quantity", 1))
            total += int(_minor(discount["amount"], "discounts[].amount") * times)
        elif discount.get("percentage") is not None:
            share = Decimal(gross) * Decimal(str(discount["percentage"])) / 100
            total += int(share.quantize(Decimal(1), rounding="ROUND_HALF_UP"))
    return total


def _sign(value: int) -> int:
    return -1 if value < 0 else 1


def _lines(purchase: Record, currency: str, tr: Translation) -> tuple[list[Record], int, int]:
    """Canonical lines, their total and their discount, all in minor units."""
    rows = purchase.get("products") or []
    if not rows:
        raise _Unfit("has no products")
    grosses, own = [], []
    for index, row in enumerate(rows):
        exact = _minor(row.get("unitPrice"), f"products[{index}].unitPrice") * _quantity(
            row.get("quantity")
        )
        if exact != exact.to_integral_value():
            # Zettle rounds such rows itself; guessing its rounding would book wrong figures.
            raise _Unfit(f"products[{index}] comes to a fraction of a minor unit ({exact})")
        gross = int(exact)
        grosses.append(gross)
        own.append(_sign(gross) * _row_discount(row, abs(gross)))
    after_own = [g - d for g, d in zip(grosses, own, strict=True)]
    cart = _cart_discount(purchase, abs(sum(after_own)))
    cart_shares = _spread(cart * _sign(sum(after_own)), after_own)
    lines, total, discounts = [], 0, 0
    for index, row in enumerate(rows):
        line_total = after_own[index] - cart_shares[index]
        taxable = row.get("rowTaxableAmount")
        if taxable is None:
            raise _Unfit(f"products[{index}] has no rowTaxableAmount (net of VAT)")
        tax = line_total - _minor(taxable, f"products[{index}].rowTaxableAmount")
        discount = own[index] + cart_shares[index]
        product_id = _product(row, tr)
        line: Record = {
            "id": str(row.get("id", index)),
            "productRef": {"id": product_id},
            "description": row.get("name") or "",
            "quantity": _quantity(row.get("quantity")),
            "unitPrice": from_minor(_minor(row["unitPrice"], "unitPrice"), currency),
            "taxPercentage": Decimal(str(row.get("vatPercentage", 0))),
            "totalTaxAmount": from_minor(tax, currency),
            "totalAmount": from_minor(line_total, currency),
        }
        if discount:
            line["discountAllocations"] = [
                {
                    "name": _discount_name(row, purchase),
                    "totalAmount": from_minor(discount, currency),
                }
            ]
        lines.append(line)
        total += line_total
        discounts += discount
    return lines, total, discounts


def _discount_name(row: Record, purchase: Record) -> str:
    named = [(row.get("discount") or {}).get("name")]
    named += [d.get("name") for d in purchase.get("discounts") or []]
    return ", ".join(n for n in named if n) or "Discount"


def _product(row: Record, tr: Translation) -> str:
    """The row's product id, and the product itself into the reference data."""
    product_id = row.get("productUuid") or CUSTOM_AMOUNT_ID
    if row.get("variantUuid") and row.get("variantName"):
        product_id = f"{product_id}:{row['variantUuid']}"
    is_gift = str(row.get("type", "")).upper() in GIFT_CARD_ROW_TYPES
    record: Record = {
        "id": product_id,
        "name": row.get("name")
        or ("Custom amount" if product_id == CUSTOM_AMOUNT_ID else product_id),
        "isGiftCard": is_gift,
    }
    tr.products.setdefault(product_id, record)
    return product_id


def _payments(purchase: Record, currency: str) -> tuple[list[Record], int, int]:
    payments, paid, gratuity = [], 0, 0
    for index, payment in enumerate(purchase.get("payments") or []):
        kind = payment.get("type")
        pid = payment.get("uuid") or payment.get("uuid1")
        if kind not in PAYMENT_TYPES:
            raise _Unfit(f"payment {pid or index} has unknown payment type {kind!r}")
        if not pid:
            raise _Unfit(f"payments[{index}] has no uuid")
        amount = _minor(payment.get("amount"), f"payment {pid} amount")
        payments.append(
            {
                "id": str(pid),
                "type": PAYMENT_TYPES[kind],
                "amount": from_minor(amount, currency),
                "currency": currency,
                "status": "Paid",
            }
        )
        paid += amount
        gratuity += _minor(payment.get("gratuityAmount") or 0, f"payment {pid} gratuityAmount")
    return payments, paid, gratuity


def purchase_id(purchase: Record) -> str | None:
    value = purchase.get("purchaseUUID1") or purchase.get("purchaseUUID")
    return None if value is None else str(value)


def order_from_purchase(purchase: Record, tr: Translation, *, location_id: str | None) -> Record:
    """One purchase (sale or refund) as a canonical order; raises `_Unfit`."""
    currency = purchase.get("currency")
    if not isinstance(currency, str) or len(currency) != 3:
        raise _Unfit("has no currency")
    currency = currency.upper()
    if not purchase.get("timestamp"):
        raise _Unfit("has no timestamp")
    lines, total, discount = _lines(purchase, currency, tr)
    payments, paid, gratuity = _payments(purchase, currency)
    amount = _minor(purchase.get("amount"), "amount")
    vat = _minor(purchase.get("vatAmount") or 0, "vatAmount")
    # Zettle's purchase amount is what was taken, tips included; the rows must
    # add up to it less the tips, and the payments to all of it.
    if total + gratuity != amount or paid != amount:
        raise _Unfit(
            f"does not add up: rows {total} + tips {gratuity}, payments {paid}, amount {amount} (minor units)"
        )
    line_tax = sum(Decimal(str(line["totalTaxAmount"])) for line in lines)
    if line_tax != from_minor(vat, currency):
        raise _Unfit(f"row VAT {line_tax} differs from vatAmount {from_minor(vat, currency)}")
    created = utc_text(purchase["timestamp"])
    refund = amount < 0 or bool(purchase.get("refund"))
    order: Record = {
        "id": purchase_id(purchase),
        "orderNumber": str(
            purchase.get("globalPurchaseNumber") or purchase.get("purchaseNumber") or ""
        ),
        "country": purchase.get("country"),
        "currency": currency,
        "createdDate": created,
        "modifiedDate": created,  # a purchase never changes; a refund is a new purchase
        "closedDate": created,
        "totalAmount": from_minor(total, currency),
        "totalTaxAmount": from_minor(vat, currency),
        "totalDiscount": from_minor(discount, currency),
        "totalGratuity": from_minor(gratuity, currency),
        "totalRefund": from_minor(total if refund else 0, currency),
        "orderLineItems": lines,
        "serviceCharges": [],
        "payments": payments,
    }
    if location_id:
        order["locationRef"] = {"id": location_id}
    original = purchase.get("refundsPurchaseUUID1")
    if original:
        # Codat has no field for "refund of"; keep the link where readers look.
        order["supplementalData"] = {"content": {"zettle": {"refundsPurchaseUUID1": str(original)}}}
    return order


def transaction_from_finance(item: Record, *, currency: str) -> Record | None:
    """A Finance API account transaction; None when orders already carry it.
    Finance transactions have no id of their own: the type and originating
    uuid name one (a payment's fee shares its uuid with the payment)."""
    kind = item.get("originatorTransactionType")
    origin = item.get("originatorTransactionUuid")
    if not origin:
        raise _Unfit("has no originatorTransactionUuid")
    if kind in MIRRORED_TYPES:
        return None
    amount = _minor(item.get("amount"), "amount")
    if not item.get("timestamp"):
        raise _Unfit("has no timestamp")
    record: Record = {
        "id": f"{kind}:{origin}",
        "createdDate": utc_text(item["timestamp"]),
        "modifiedDate": utc_text(item["timestamp"]),
        "totalAmount": from_minor(amount, currency),
        "currency": currency,
    }
    if kind == "PAYMENT_FEE":
        record["type"] = "PaymentFee" if amount <= 0 else "PaymentFeeRefund"
        record["transactionSourceRef"] = {"id": str(origin), "type": "Payment"}
    elif kind == "PAYOUT":
        record["type"] = "Payout"
    elif kind == "FAILED_PAYOUT":
        record["type"] = "FailedPayout"
    else:
        raise _Unbooked(f"is of a type ({kind!r}) that sales syncs do not post")
    return record


def translate(
    purchases: list[Record],
    finance: list[Record],
    *,
    currency: str,
    location_id: str | None = None,
) -> Translation:
    """Everything read for a period, as canonical records plus what did not fit.
    `currency` is the merchant's: Finance API transactions carry none."""
    tr = Translation()
    for index, purchase in enumerate(purchases):
        name = purchase_id(purchase) or f"#{index} (no purchaseUUID1)"
        try:
            tr.orders.append(order_from_purchase(purchase, tr, location_id=location_id))
        except (_Unfit, ArithmeticError, ValueError, TypeError, KeyError) as error:
            tr.problems.append(f"Zettle purchase {name} {error}")
    seen: Counter[str] = Counter()
    for index, item in enumerate(finance):
        name = item.get("originatorTransactionUuid") or f"#{index}"
        try:
            record = transaction_from_finance(item, currency=currency)
        except _Unbooked as error:
            # Advances, adjustments, cashback ... are real but outside what a
            # sales sync posts: visible as warnings, not a failed sync.
            tr.warnings.append(f"Zettle finance transaction {name} {error}")
            continue
        except _Unfit as error:
            tr.problems.append(f"Zettle finance transaction {name} {error}")
            continue
        except (ArithmeticError, ValueError, TypeError) as error:
            tr.problems.append(f"Zettle finance transaction {name}: {error}")
            continue
        if record is None:
            continue
        seen[record["id"]] += 1
        if seen[record["id"]] > 1:  # the same fee twice: keep both, ids stay unique and stable
            record["id"] = f"{record['id']}:{seen[record['id']]}"
        tr.transactions.append(record)
    return tr
