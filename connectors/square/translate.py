"""Square objects -> canonical (Codat Commerce shaped) records. Pure: no I/O.

Square money is `{"amount": <int minor units>, "currency": "GBP"}`; amounts
become `Decimal` with the currency's ISO 4217 exponent (JPY 0, BHD 3).

Tender / payment type table (Square -> canonical `payments[].type`):

| Square                                   | canonical  | why                                   |
|------------------------------------------|------------|---------------------------------------|
| CARD (any brand but Square gift card)    | Card       | settles into the Square balance       |
| CASH                                     | Cash       | the till                              |
| SQUARE_GIFT_CARD / card brand gift card  | Prepaid    | redeems a liability, no money moves   |
| WALLET (Apple/Google Pay, Cash App Pay)  | OnlineCard | card-like, settles into the balance   |
| THIRD_PARTY_CARD, BANK_ACCOUNT,          | Custom     | money that does not pass through the  |
| BUY_NOW_PAY_LATER, SQUARE_ACCOUNT,       |            | card clearing: the merchant maps a    |
| OTHER, EXTERNAL                          |            | `custom` account for it               |
| NO_SALE                                  | (skipped)  | a drawer opening, always zero         |
| anything else                            | problem    | reported with the order's id          |

Payout entry table (ListPayoutEntries `type` -> canonical transaction). An
entry's money is its `net_amount_money` (`gross_amount_money` +
`fee_amount_money` when net is absent), signed as it moves the Square
balance; a fee entry's transaction type follows that sign (balance down:
PaymentFee, up: PaymentFeeRefund). Fee entries name no payment, so they hit
the card clearing account; their `transactionSourceRef` is the payout.

| Square entry type                                  | canonical        | why                             |
|----------------------------------------------------|------------------|---------------------------------|
| DEPOSIT_FEE, FEE, TAX_ON_FEE, THIRD_PARTY_FEE,     | PaymentFee       | fees taken from the balance     |
| PAID_SERVICE_FEE, SUBSCRIPTION_FEE,                |                  | that no payment or refund       |
| GIFT_CARD_LOAD_FEE, UNDO_GIFT_CARD_LOAD_FEE_REFUND,|                  | carries                         |
| LOCAL_OFFERS_FEE                                   |                  |                                 |
| DEPOSIT_FEE_REVERSED, THIRD_PARTY_FEE_REFUND,      | PaymentFeeRefund | those fees given back, and      |
| PAID_SERVICE_FEE_REFUND, SUBSCRIPTION_FEE_REFUND,  |                  | free processing credited        |
| SUBSCRIPTION_FEE_PAID_REFUND,                      |                  |                                 |
| GIFT_CARD_LOAD_FEE_REFUND, FREE_PROCESSING         |                  |                                 |
| CHARGE, REFUND                                     | (skipped)        | the payment / refund (orders)   |
|                                                    |                  | and its `processing_fee`: the   |
|                                                    |                  | same money, already translated  |
| PROCESSING_FEE, PROCESSING_FEE_REFUND,             | (skipped)        | gross settlement: the payment's |
| UNDO_PROCESSING_FEE_REFUND                         |                  | or refund's `processing_fee`,   |
|                                                    |                  | withdrawn separately            |
| RETURNED_PAYOUT                                    | (skipped)        | the FailedPayout of that payout |
| any type, net zero                                 | (skipped)        | no money moved                  |
| anything else (disputes, reserves, savings,        | problem          | money with no canonical         |
| capital, transfers, adjustments, ...)              |                  | transaction: named, not dropped |

A payout's own `payout_fee[]` is not read: the same money is its
DEPOSIT_FEE entries.

Records that do not fit are never dropped silently: each problem names the
record's id and lands in `Translation.problems`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connectors.common import Raw, Record, Unfit
from mapping.money import from_minor

TENDER_TYPES = {
    "CARD": "Card",
    "CASH": "Cash",
    "SQUARE_GIFT_CARD": "Prepaid",
    "WALLET": "OnlineCard",
    "THIRD_PARTY_CARD": "Custom",
    "BANK_ACCOUNT": "Custom",
    "BUY_NOW_PAY_LATER": "Custom",
    "SQUARE_ACCOUNT": "Custom",
    "OTHER": "Custom",
    "EXTERNAL": "Custom",  # Payments API source_type for cheques, other terminals ...
}
SKIPPED_TENDERS = frozenset(["NO_SALE"])
GIFT_CARD_PRODUCT = {"id": "square-gift-card", "name": "Square gift card", "isGiftCard": True}
GIFT_CARD_BRAND = "SQUARE_GIFT_CARD"

# Payout entries: see the table above.
ENTRY_FEES = frozenset(
    [
        "DEPOSIT_FEE",
        "FEE",
        "TAX_ON_FEE",
        "THIRD_PARTY_FEE",
        "PAID_SERVICE_FEE",
        "SUBSCRIPTION_FEE",
        "GIFT_CARD_LOAD_FEE",
        "UNDO_GIFT_CARD_LOAD_FEE_REFUND",
        "LOCAL_OFFERS_FEE",
        "DEPOSIT_FEE_REVERSED",
        "THIRD_PARTY_FEE_REFUND",
        "PAID_SERVICE_FEE_REFUND",
        "SUBSCRIPTION_FEE_REFUND",
        "SUBSCRIPTION_FEE_PAID_REFUND",
        "GIFT_CARD_LOAD_FEE_REFUND",
        "FREE_PROCESSING",
    ]
)
ENTRIES_CARRIED_ELSEWHERE = frozenset(
    [
        "CHARGE",
        "REFUND",
        "PROCESSING_FEE",
        "PROCESSING_FEE_REFUND",
        "UNDO_PROCESSING_FEE_REFUND",
        "RETURNED_PAYOUT",
    ]
)


@dataclass
class Translation:
    orders: list[Record] = field(default_factory=list)
    transactions: list[Record] = field(default_factory=list)
    products: list[Record] = field(default_factory=list)
    product_categories: list[Record] = field(default_factory=list)
    locations: list[Record] = field(default_factory=list)
    tax_components: list[Record] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def money(value: Raw | None, currency: str | None = None) -> Decimal:
    """A Square Money object as a Decimal (absent money is zero)."""
    if not value:
        return Decimal(0)
    code = value.get("currency") or currency
    if not code:
        raise Unfit("an amount has no currency")
    units = value.get("amount", 0)
    if isinstance(units, bool) or not isinstance(units, int):
        raise Unfit(f"amount {units!r} is not an integer of minor units")
    return from_minor(units, code)


def _quantity(text: Any) -> Decimal:
    try:
        return Decimal(str(text))
    except ArithmeticError:
        raise Unfit(f"quantity {text!r} is not a number") from None


def payment_type(payment: Raw) -> str:
    """The canonical type of a Payments API payment (source_type + card brand)."""
    source = payment.get("source_type")
    card = (payment.get("card_details") or {}).get("card") or {}
    if source == "CARD" and card.get("card_brand") == GIFT_CARD_BRAND:
        return "Prepaid"
    if source not in TENDER_TYPES:
        raise Unfit(f"payment {payment.get('id')} has unknown source type {source!r}")
    return TENDER_TYPES[source]


# -- orders ----------------------------------------------------------------


def _order_currency(order: Raw) -> str:
    for key in ("total_money", "net_amount_due_money", "total_tax_money"):
        code = (order.get(key) or {}).get("currency")
        if code and code != "UNKNOWN_CURRENCY":
            return str(code)
    for line in order.get("line_items") or ():
        code = (line.get("total_money") or {}).get("currency")
        if code:
            return str(code)
    raise Unfit("has no currency")


def _tax_parts(
    applied: Iterable[Raw], taxes: Mapping[str, Raw], currency: str, sign: int
) -> tuple[list[Record], Decimal]:
    """`taxes[]` components (amount in `rate`, as Codat names it) and the summed percentage."""
    parts, percentage = [], Decimal(0)
    for entry in applied:
        tax = taxes.get(entry.get("tax_uid")) or {}
        component = tax.get("catalog_object_id") or entry.get("tax_uid")
        parts.append(
            {
                "taxComponentRef": {"id": component, "name": tax.get("name") or component},
                "rate": sign * money(entry.get("applied_money"), currency),
            }
        )
        if tax.get("percentage"):
            percentage += Decimal(tax["percentage"])
    return parts, percentage


def _line(line: Raw, taxes: Mapping[str, Raw], discounts: Mapping[str, Raw], cur: str, sign: int):
    parts, percentage = _tax_parts(line.get("applied_taxes") or (), taxes, cur, sign)
    if line.get("item_type") == "GIFT_CARD":
        product = GIFT_CARD_PRODUCT["id"]  # a liability sold, not revenue
    else:
        product = line.get("catalog_object_id")  # the variation: products are variations
    record: Record = {
        "id": line.get("uid") or line.get("source_line_item_uid"),
        "description": " ".join(filter(None, [line.get("name"), line.get("variation_name")])),
        "quantity": sign * _quantity(line.get("quantity")),
        "unitPrice": money(line.get("base_price_money"), cur),
        "taxPercentage": percentage,
        "totalTaxAmount": sign * money(line.get("total_tax_money"), cur),
        # Square's line total already holds discounts and (additive or inclusive) tax.
        "totalAmount": sign * money(line.get("total_money"), cur),
        "discountAllocations": [
            {
                "name": (discounts.get(d.get("discount_uid")) or {}).get("name") or "Discount",
                "totalAmount": sign * money(d.get("applied_money"), cur),
            }
            for d in line.get("applied_discounts") or ()
        ],
        "taxes": parts,
    }
    if product:
        record["productRef"] = {"id": product}
    return record


def _charges(charges: Iterable[Raw], taxes: Mapping[str, Raw], cur: str, sign: int):
    """Service charges, and the automatic gratuities among them (which are tips)."""
    records, gratuity = [], Decimal(0)
    for charge in charges:
        total = sign * money(charge.get("total_money"), cur)
        if charge.get("type") == "AUTO_GRATUITY" and not charge.get("applied_taxes"):
            gratuity += total
            continue
        parts, percentage = _tax_parts(charge.get("applied_taxes") or (), taxes, cur, sign)
        records.append(
            {
                "description": charge.get("name") or "Service charge",
                "type": "Generic",
                "quantity": sign,
                "totalAmount": total,
                "taxAmount": sign * money(charge.get("total_tax_money"), cur),
                "taxPercentage": percentage,
                "taxes": parts,
            }
        )
    return records, gratuity


def _tenders(order: Raw, cur: str) -> tuple[list[Record], Decimal]:
    payments, tips = [], Decimal(0)
    for tender in order.get("tenders") or ():
        kind = tender.get("type")
        if kind in SKIPPED_TENDERS:
            continue
        if kind not in TENDER_TYPES:
            raise Unfit(f"tender {tender.get('id')} has unknown type {kind!r}")
        tips += money(tender.get("tip_money"), cur)
        payments.append(
            {
                # The payment id, so fee transactions can name the payment they belong to.
                "id": tender.get("payment_id") or tender.get("id"),
                "type": TENDER_TYPES[kind],
                "amount": money(tender.get("amount_money"), cur),  # includes the tip
                "currency": cur,
                "status": "Paid",
            }
        )
    return payments, tips


def _base(order: Raw, cur: str) -> Record:
    record: Record = {
        "id": order["id"],
        "orderNumber": order.get("reference_id") or order["id"],
        "currency": cur,
        "createdDate": order.get("created_at"),
        "modifiedDate": order.get("updated_at") or order.get("created_at"),
        "closedDate": order.get("closed_at"),
    }
    if order.get("location_id"):
        record["locationRef"] = {"id": order["location_id"]}
    return record


def _totals(record: Record) -> Record:
    lines, charges = record["orderLineItems"], record["serviceCharges"]
    # Codat's order total excludes gratuity; computed from the parts Square itemised.
    record["totalAmount"] = sum((x["totalAmount"] for x in lines + charges), Decimal(0))
    record["totalTaxAmount"] = sum((x["totalTaxAmount"] for x in lines), Decimal(0)) + sum(
        (x["taxAmount"] for x in charges), Decimal(0)
    )
    record["totalDiscount"] = sum(
        (d["totalAmount"] for x in lines for d in x["discountAllocations"]), Decimal(0)
    )
    return record


def sale_order(order: Raw) -> Record:
    """One Square order (its sold part) as a canonical order."""
    cur = _order_currency(order)
    taxes = {t.get("uid"): t for t in order.get("taxes") or ()}
    discounts = {d.get("uid"): d for d in order.get("discounts") or ()}
    charges, auto_gratuity = _charges(order.get("service_charges") or (), taxes, cur, 1)
    payments, tips = _tenders(order, cur)
    record = _base(order, cur)
    record["orderLineItems"] = [
        _line(x, taxes, discounts, cur, 1) for x in order.get("line_items") or ()
    ]
    record["serviceCharges"] = charges
    record["totalGratuity"] = (tips or money(order.get("total_tip_money"), cur)) + auto_gratuity
    record["payments"] = payments
    return _totals(record)


def return_order(order: Raw, refund_types: Mapping[str, str]) -> Record:
    """A Square return order: negative lines, taxes and refund payments.
    `refund_types` gives each refunded payment's canonical type by payment id."""
    cur = _order_currency(order)
    record = _base(order, cur)
    lines: list[Record] = []
    charges: list[Record] = []
    tips = Decimal(0)
    for ret in order.get("returns") or ():
        taxes = {t.get("uid"): t for t in ret.get("return_taxes") or ()}
        discounts = {d.get("uid"): d for d in ret.get("return_discounts") or ()}
        lines += [_line(x, taxes, discounts, cur, -1) for x in ret.get("return_line_items") or ()]
        more, auto = _charges(ret.get("return_service_charges") or (), taxes, cur, -1)
        charges += more
        tips += auto - sum(
            (money(t.get("applied_money"), cur) for t in ret.get("return_tips") or ()), Decimal(0)
        )
    payments = []
    for refund in order.get("refunds") or ():
        if refund.get("status") in ("REJECTED", "FAILED"):
            continue  # no money went back
        paid_by = refund.get("tender_id")
        if paid_by not in refund_types:
            raise Unfit(f"refund {refund.get('id')} names payment {paid_by} whose type is unknown")
        payments.append(
            {
                "id": refund.get("id"),
                "type": refund_types[paid_by],
                "amount": -money(refund.get("amount_money"), cur),
                "currency": cur,
                "status": "Paid",
            }
        )
    record.update(orderLineItems=lines, serviceCharges=charges, totalGratuity=tips)
    record["payments"] = payments
    return _totals(record)


def unlinked_refund(refund: Raw, kind: str) -> Record:
    """A refund with no return order (an amount-only refund): one negative line,
    no tax information to split out, so it is all net."""
    cur = (refund.get("amount_money") or {}).get("currency")
    if not cur:
        raise Unfit("has no currency")
    value = money(refund.get("amount_money"))
    record = _base(
        {
            "id": f"refund-{refund['id']}",
            "created_at": refund.get("created_at"),
            "updated_at": refund.get("updated_at"),
            "location_id": refund.get("location_id"),
        },
        cur,
    )
    record["orderLineItems"] = [
        {
            "id": refund["id"],
            "description": refund.get("reason") or "Refund",
            "quantity": Decimal(-1),
            "totalAmount": -value,
            "totalTaxAmount": Decimal(0),
            "discountAllocations": [],
            "taxes": [],
        }
    ]
    record["serviceCharges"] = []
    record["totalGratuity"] = Decimal(0)
    record["payments"] = [
        {"id": refund["id"], "type": kind, "amount": -value, "currency": cur, "status": "Paid"}
    ]
    return _totals(record)


# -- transactions --------------------------------------------------------------


def fee_transactions(source: Raw, payment_id: str, key: str) -> list[Record]:
    """`processing_fee` entries of a payment or a refund. A positive fee was
    charged (PaymentFee, balance down); a negative one was given back
    (PaymentFeeRefund, balance up). Linked to the payment so the fee hits that
    payment type's clearing account."""
    records = []
    for index, fee in enumerate(source.get("processing_fee") or ()):
        charged = money(fee.get("amount_money"))
        if not charged:
            continue
        records.append(
            {
                "id": f"{key}-fee-{index}",
                "type": "PaymentFee" if charged > 0 else "PaymentFeeRefund",
                "currency": fee["amount_money"]["currency"],
                "totalAmount": -charged,
                # The day of the sale or refund, not of a later effective date,
                # so the fee lands in the period that read it.
                "createdDate": source.get("created_at"),
                "modifiedDate": source.get("updated_at") or source.get("created_at"),
                "transactionSourceRef": {"id": payment_id, "type": "Payment"},
            }
        )
    return records


def payout_transactions(payout: Raw) -> list[Record]:
    """A payout takes its amount out of the Square balance. A failed one is the
    payout plus its reversal, so a payout first read as SENT and later as
    FAILED nets to zero across the two syncs (the Payout record is unchanged)."""
    cur = (payout.get("amount_money") or {}).get("currency")
    if not cur:
        raise Unfit("has no currency")
    value = money(payout["amount_money"])  # positive: to the bank
    base = {
        "currency": cur,
        "createdDate": payout.get("created_at"),
        "modifiedDate": payout.get("created_at"),
        "transactionSourceRef": {"id": payout["id"], "type": "Payout"},
    }
    records = [{"id": payout["id"], "type": "Payout", "totalAmount": -value, **base}]
    if payout.get("status") == "FAILED":
        records.append(
            {
                **base,
                "id": f"{payout['id']}-failed",
                "type": "FailedPayout",
                "totalAmount": value,
                "modifiedDate": payout.get("updated_at") or payout.get("created_at"),
            }
        )
    return records


def payout_entry_transactions(entry: Raw, payout: Raw) -> list[Record]:
    """One payout entry: a fee transaction for money only the entry carries
    (the table above), nothing for money the payments and refunds carry."""
    kind = entry.get("type")
    if kind in ENTRIES_CARRIED_ELSEWHERE:
        return []
    net = entry.get("net_amount_money")
    if net:
        moved, cur = money(net), net.get("currency")
    else:
        gross, fee = entry.get("gross_amount_money"), entry.get("fee_amount_money")
        moved = money(gross) + money(fee)
        cur = (gross or {}).get("currency") or (fee or {}).get("currency")
    if not moved:
        return []
    if kind not in ENTRY_FEES:
        raise Unfit(f"type {kind!r} moves money with no canonical transaction")
    if not cur:
        raise Unfit("has no currency")
    # The payout's day, not the entry's effective date, so the fee lands in
    # the period that read the payout (as the payout itself does).
    return [
        {
            "id": entry["id"],
            "type": "PaymentFee" if moved < 0 else "PaymentFeeRefund",
            "currency": cur,
            "totalAmount": moved,
            "createdDate": payout.get("created_at"),
            "modifiedDate": payout.get("created_at"),
            "transactionSourceRef": {"id": payout["id"], "type": "Payout"},
        }
    ]


# -- reference data ------------------------------------------------------------


def locations(raw: Iterable[Raw]) -> list[Record]:
    return [{"id": x["id"], "name": x.get("name") or x["id"]} for x in raw]


def catalog(objects: Iterable[Raw]) -> tuple[list[Record], list[Record]]:
    """Categories, and products: one per item variation (orders name the
    variation), each with its item's category."""
    categories, products = [], [dict(GIFT_CARD_PRODUCT)]
    for obj in objects:
        if obj.get("is_deleted"):
            continue
        if obj.get("type") == "CATEGORY":
            data = obj.get("category_data") or {}
            categories.append({"id": obj["id"], "name": data.get("name") or obj["id"]})
        elif obj.get("type") == "ITEM":
            item = obj.get("item_data") or {}
            category = (
                (item.get("reporting_category") or {}).get("id")
                or next((c.get("id") for c in item.get("categories") or ()), None)
                or item.get("category_id")
            )
            for variation in item.get("variations") or ():
                name = (variation.get("item_variation_data") or {}).get("name")
                product: Record = {
                    "id": variation["id"],
                    "name": " ".join(filter(None, [item.get("name"), name and f"({name})"])),
                    "isGiftCard": False,
                }
                if category:
                    product["productCategoryRef"] = {"id": category}
                products.append(product)
    return categories, products


def tax_components(orders: Iterable[Raw]) -> list[Record]:
    """The taxes the period's orders applied, by catalog id (ad hoc taxes by uid)."""
    found: dict[str, Record] = {}
    for order in orders:
        for tax in order.get("taxes") or ():
            key = tax.get("catalog_object_id") or tax.get("uid")
            rate = tax.get("percentage")
            found.setdefault(
                key,
                {
                    "id": key,
                    "name": tax.get("name") or key,
                    # Square's percentage ("7.25") as Codat's fraction (0.0725).
                    "rate": None if rate is None else Decimal(rate) / 100,
                },
            )
    return list(found.values())


# -- a period ------------------------------------------------------------------


def _guarded(problems: list[str], label: str, build: Any, *args: Any) -> list[Record]:
    """Run one record's translation; a misfit becomes a problem naming the record."""
    try:
        result = build(*args)
    except Unfit as unfit:
        problems.append(f"{label}: {unfit}")
        return []
    except (KeyError, TypeError, ValueError, ArithmeticError) as error:
        problems.append(f"{label}: malformed ({type(error).__name__}: {error})")
        return []
    return result if isinstance(result, list) else [result]


def translate_period(
    *,
    orders: Iterable[Raw] = (),
    payments: Iterable[Raw] = (),
    older_payments: Iterable[Raw] = (),
    refunds: Iterable[Raw] = (),
    payouts: Iterable[Raw] = (),
    payout_entries: Mapping[str, Iterable[Raw]] | None = None,
    location_list: Iterable[Raw] = (),
    catalog_objects: Iterable[Raw] = (),
) -> Translation:
    """Everything one period read from Square, as canonical records.
    `older_payments` are payments from earlier periods that refunds refer to:
    read for their type only, their fees belong to their own period.
    `payout_entries` are each payout's entries, by payout id."""
    orders, payments, refunds = list(orders), list(payments), list(refunds)
    out = Translation()
    kinds: dict[str, str] = {}
    for payment in [*payments, *older_payments]:
        for kind in _guarded(out.problems, f"payment {payment.get('id')}", payment_type, payment):
            kinds[payment["id"]] = kind
    for order in orders:
        for tender in order.get("tenders") or ():
            if tender.get("type") in TENDER_TYPES:
                kinds.setdefault(
                    tender.get("payment_id") or tender.get("id"), TENDER_TYPES[tender["type"]]
                )

    linked: set[str] = set()
    for order in orders:
        label = f"order {order.get('id')}"
        if order.get("line_items") or not order.get("returns"):
            out.orders += _guarded(out.problems, label, sale_order, order)
        if order.get("returns"):
            linked.update(r.get("id") for r in order.get("refunds") or ())
            made = _guarded(out.problems, label, return_order, order, kinds)
            if order.get("line_items"):  # an exchange: the sale keeps the order's id
                for record in made:
                    record["id"] = f"{record['id']}-return"
            out.orders += made
    for refund in refunds:
        label = f"refund {refund.get('id')}"
        if refund.get("status") != "COMPLETED":
            continue  # pending, rejected or failed: no money moved
        if refund["id"] not in linked:
            kind = kinds.get(refund.get("payment_id"))
            if kind is None:
                out.problems.append(f"{label}: payment {refund.get('payment_id')} was not found")
            else:
                out.orders += _guarded(out.problems, label, unlinked_refund, refund, kind)
        out.transactions += _guarded(
            out.problems, label, fee_transactions, refund, refund.get("payment_id"), refund["id"]
        )
    for payment in payments:
        if payment.get("status") in ("COMPLETED", "APPROVED"):
            out.transactions += _guarded(
                out.problems,
                f"payment {payment.get('id')}",
                fee_transactions,
                payment,
                payment["id"],
                payment["id"],
            )
    for payout in payouts:
        out.transactions += _guarded(
            out.problems, f"payout {payout.get('id')}", payout_transactions, payout
        )
        for entry in (payout_entries or {}).get(payout.get("id"), ()):
            out.transactions += _guarded(
                out.problems,
                f"payout entry {entry.get('id')}",
                payout_entry_transactions,
                entry,
                payout,
            )
    out.locations = locations(location_list)
    out.product_categories, out.products = catalog(catalog_objects)
    out.tax_components = tax_components(orders)
    return out
