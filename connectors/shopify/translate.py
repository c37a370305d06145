"""Shopify GraphQL results -> Codat-shaped commerce records (pure functions).

Amounts come from the `shopMoney` side of each MoneyBag (the shop's own
currency, the one the books are kept in) as exact Decimals.

Payment types, by the transaction's gateway:

| gateway                     | Codat payment type                                |
|-----------------------------|---------------------------------------------------|
| shopify_payments            | Card for point-of-sale orders, OnlineCard otherwise |
| gift_card                   | Prepaid (a gift card redemption)                   |
| cash, manual                | Cash                                               |
| paypal                      | Paypal                                             |
| anything else               | reported with the transaction id                   |

Only successful SALE and CAPTURE transactions pay an order (an authorization
moves no money); CHANGE, the cash handed back at a till, is a negative cash
payment. REFUND transactions are read from each refund, which becomes an order
of its own with negative quantities, amounts and payments, dated when the
refund was made. Tips are `totalTipReceivedSet`: the payments include them,
the lines do not.

Processing fees come from Shopify Payments balance transactions: a positive
fee is a PaymentFee (negative, it leaves the balance) linked to the order
transaction it was charged on; a negative fee (returned on a refund) is a
PaymentFeeRefund. Payouts issued in the period are Payouts (negative); a
failed one is followed by a FailedPayout that puts the money back.

Whatever does not fit (unknown gateway, no currency, a list Shopify cut short,
a refund not covered by refunded lines) goes to `problems`, naming the record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

Record = dict[str, Any]
ZERO = Decimal(0)

_GATEWAYS = {"gift_card": "Prepaid", "cash": "Cash", "manual": "Cash", "paypal": "Paypal"}
_PAYING_KINDS = {"SALE": Decimal(1), "CAPTURE": Decimal(1), "CHANGE": Decimal(-1)}
# Balance transaction types whose money is already accounted for elsewhere:
# charges and refunds mirror order payments, transfers are the payouts.
_KNOWN_BALANCE_TYPES = {
    "CHARGE",
    "REFUND",
    "TRANSFER",
    "TRANSFER_FAILURE",
    "TRANSFER_CANCEL",
    "TRANSFER_REFUND",
}
GIFT_CARD_PRODUCT = "shopify-gift-card"  # for gift card lines without a product


class _Unfit(Exception):
    """One record does not fit the model; the message names the problem."""


@dataclass
class Translation:
    orders: list[Record] = field(default_factory=list)
    transactions: list[Record] = field(default_factory=list)
    products: dict[str, Record] = field(default_factory=dict)
    tax_components: dict[str, Record] = field(default_factory=dict)
    locations: dict[str, Record] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    skipped_test_records: list[str] = field(default_factory=list)


def _instant(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _decimal(value: Any, what: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise _Unfit(f"{what} is not a number: {value!r}") from None
    if not result.is_finite():
        raise _Unfit(f"{what} is not a number: {value!r}")
    return result


def _money(bag: Any, what: str) -> Decimal:
    """The shop-currency amount of a MoneyBag (absent counts as zero)."""
    if not bag:
        return ZERO
    return _decimal((bag.get("shopMoney") or {}).get("amount"), what)


def _total(values: Iterable[Decimal]) -> Decimal:
    return sum(values, ZERO)


def _percent_text(value: Any) -> str:
    text = format(_decimal(value, "ratePercentage").normalize(), "f")
    return text


class _Translator:
    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self.out = Translation()

    def inside(self, moment: Any) -> bool:
        return moment is not None and self.start <= _instant(moment) < self.end

    # -- tax lines --------------------------------------------------------

    def taxes(self, tax_lines: list[Record], scale: Decimal = Decimal(1)) -> list[Record]:
        """One Codat tax entry per Shopify tax line; `rate` holds the amount."""
        entries = []
        for line in tax_lines:
            title = str(line.get("title") or "Tax")
            percent = _percent_text(line.get("ratePercentage") or 0)
            cid = f"{title.lower().replace(' ', '-')}-{percent}"
            self.out.tax_components.setdefault(
                # Codat gives a component's rate as a fraction (0.05 for 5 %).
                cid,
                {"id": cid, "name": f"{title} {percent}%", "rate": Decimal(percent) / 100},
            )
            amount = _money(line.get("priceSet"), "taxLines.priceSet") * scale
            entries.append({"taxComponentRef": {"id": cid, "name": title}, "rate": amount})
        return entries

    def taxed_fields(
        self, gross: Decimal, tax_lines: list[Record], included: bool, tax_key: str
    ) -> Record:
        """`gross` is what Shopify shows (tax inside it when the shop's prices
        include tax); Codat's totalAmount always includes the tax."""
        taxes = self.taxes(tax_lines)
        tax = _total(t["rate"] for t in taxes)
        fields: Record = {tax_key: tax, "totalAmount": gross if included else gross + tax}
        fields["taxPercentage"] = _total(
            _decimal(t.get("ratePercentage") or 0, "ratePercentage") for t in tax_lines
        )
        if taxes:
            fields["taxes"] = taxes
        return fields

    # -- products and payments --------------------------------------------

    def product_ref(self, item: Record) -> Record | None:
        product = item.get("product") or {}
        pid = product.get("id") or (GIFT_CARD_PRODUCT if item.get("isGiftCard") else None)
        if pid is None:
            return None  # a custom sale: no product, plain revenue
        name = product.get("title") or item.get("title") or pid
        self.out.products.setdefault(
            pid, {"id": pid, "name": name, "isGiftCard": bool(item.get("isGiftCard"))}
        )
        return {"id": pid, "name": name}

    def payment(self, order: Record, txn: Record, sign: Decimal, currency: str) -> Record:
        gateway = str(txn.get("gateway") or "").strip().lower()
        if gateway == "shopify_payments":
            kind = "Card" if order.get("sourceName") == "pos" else "OnlineCard"
        elif gateway in _GATEWAYS:
            kind = _GATEWAYS[gateway]
        else:
            raise _Unfit(f"transaction {txn.get('id')}: unknown payment gateway {gateway!r}")
        amount = sign * _money(txn.get("amountSet"), "amountSet")
        return {"id": txn["id"], "type": kind, "amount": amount, "currency": currency}

    # -- orders -------------------------------------------------------------

    def order(self, order: Record) -> None:
        oid = order.get("id")
        if order.get("test"):
            self.out.skipped_test_records.append(str(oid))
            return
        try:
            currency = order.get("currencyCode")
            if not currency:
                raise _Unfit("the order has no currency")
            for key in ("lineItems", "shippingLines"):
                if ((order.get(key) or {}).get("pageInfo") or {}).get("hasNextPage"):
                    raise _Unfit(f"Shopify returned only part of its {key}")
            records = []
            if self.inside(order.get("createdAt")):
                records.append(self.sale(order, currency))
            for refund in order.get("refunds") or []:
                if self.inside(refund.get("createdAt")):
                    records.append(self.refund(order, refund, currency))
        except (_Unfit, KeyError, TypeError, ValueError, AttributeError) as exc:
            self.out.problems.append(f"order {oid}: {_describe(exc)}")
            return
        self.out.orders += records

    def base(self, order: Record, rid: str, number: str, created: str, currency: str) -> Record:
        record: Record = {"id": rid, "orderNumber": number, "currency": currency}
        record |= {"createdDate": created, "modifiedDate": order.get("updatedAt") or created}
        location = order.get("retailLocation")
        if location and location.get("id"):
            self.out.locations.setdefault(
                location["id"], {"id": location["id"], "name": location.get("name") or ""}
            )
            record["locationRef"] = {"id": location["id"]}
        return record

    def sale(self, order: Record, currency: str) -> Record:
        included = bool(order.get("taxesIncluded"))
        lines = []
        for item in order["lineItems"]["nodes"]:
            quantity = int(item["quantity"])
            unit = _money(item.get("originalUnitPriceSet"), "originalUnitPriceSet")
            allocations = [
                {
                    "name": _discount_name(a.get("discountApplication") or {}),
                    "totalAmount": _money(a.get("allocatedAmountSet"), "allocatedAmountSet"),
                }
                for a in item.get("discountAllocations") or []
            ]
            gross = unit * quantity - _total(a["totalAmount"] for a in allocations)
            line: Record = {"id": item["id"], "quantity": quantity, "unitPrice": unit}
            if (ref := self.product_ref(item)) is not None:
                line["productRef"] = ref
            line |= self.taxed_fields(gross, item.get("taxLines") or [], included, "totalTaxAmount")
            if allocations:
                line["discountAllocations"] = allocations
            lines.append(line)
        charges = []
        for shipping in (order.get("shippingLines") or {}).get("nodes") or []:
            gross = _money(shipping.get("discountedPriceSet"), "discountedPriceSet")
            charge: Record = {"description": shipping.get("title") or "Shipping", "quantity": 1}
            charge |= {"type": "Shipping"}
            charge |= self.taxed_fields(
                gross, shipping.get("taxLines") or [], included, "taxAmount"
            )
            charges.append(charge)
        payments = [
            self.payment(order, t, _PAYING_KINDS[t["kind"]], currency)
            for t in order.get("transactions") or []
            if t.get("status") == "SUCCESS" and t.get("kind") in _PAYING_KINDS
        ]
        record = self.base(
            order, order["id"], order.get("name") or order["id"], order["createdAt"], currency
        )
        record["totalAmount"] = _total(x["totalAmount"] for x in lines + charges)
        record["totalTaxAmount"] = _total(x["totalTaxAmount"] for x in lines) + _total(
            c["taxAmount"] for c in charges
        )
        record["totalDiscount"] = _total(
            a["totalAmount"] for x in lines for a in x.get("discountAllocations", ())
        )
        record["totalGratuity"] = _money(order.get("totalTipReceivedSet"), "totalTipReceivedSet")
        record["totalRefund"] = ZERO
        record |= {"orderLineItems": lines, "serviceCharges": charges, "payments": payments}
        return record

    def refund(self, order: Record, refund: Record, currency: str) -> Record:
        included = bool(order.get("taxesIncluded"))
        for key in ("refundLineItems", "refundShippingLines", "transactions"):
            if ((refund.get(key) or {}).get("pageInfo") or {}).get("hasNextPage"):
                raise _Unfit(f"refund {refund['id']}: Shopify returned only part of its {key}")
        lines = []
        for index, item in enumerate(refund["refundLineItems"]["nodes"]):
            original = item.get("lineItem") or {}
            subtotal = _money(item.get("subtotalSet"), "subtotalSet")
            tax = _money(item.get("totalTaxSet"), "totalTaxSet")
            line: Record = {
                "id": f"{refund['id']}-L{index + 1}",
                "quantity": -int(item["quantity"]),
            }
            if (ref := self.product_ref(original)) is not None:
                line["productRef"] = ref
            line |= {
                "totalTaxAmount": -tax,
                "totalAmount": -(subtotal if included else subtotal + tax),
            }
            line |= self.refund_taxes(original.get("taxLines") or [], tax)
            lines.append(line)
        charges = []
        for shipping in (refund.get("refundShippingLines") or {}).get("nodes") or []:
            subtotal = _money(shipping.get("subtotalAmountSet"), "subtotalAmountSet")
            tax = _money(shipping.get("taxAmountSet"), "taxAmountSet")
            original = shipping.get("shippingLine") or {}
            charge: Record = {"description": original.get("title") or "Shipping", "quantity": -1}
            charge |= {"type": "Shipping", "taxAmount": -tax}
            charge["totalAmount"] = -(subtotal if included else subtotal + tax)
            charge |= self.refund_taxes(original.get("taxLines") or [], tax)
            charges.append(charge)
        payments = [
            self.payment(order, t, Decimal(-1), currency)
            for t in (refund.get("transactions") or {}).get("nodes") or []
            if t.get("status") == "SUCCESS" and t.get("kind") == "REFUND"
        ]
        total = _total(x["totalAmount"] for x in lines + charges)
        paid = _total(p["amount"] for p in payments)
        if paid != total:
            raise _Unfit(
                f"refund {refund['id']}: {-paid} refunded but the refunded lines come to {-total}"
            )
        number = f"{order.get('name') or order['id']}-refund"
        record = self.base(order, refund["id"], number, refund["createdAt"], currency)
        record |= {"totalAmount": total, "totalRefund": total, "totalGratuity": ZERO}
        record["totalTaxAmount"] = _total(x["totalTaxAmount"] for x in lines) + _total(
            c["taxAmount"] for c in charges
        )
        record |= {"orderLineItems": lines, "serviceCharges": charges, "payments": payments}
        return record

    def refund_taxes(self, tax_lines: list[Record], refunded_tax: Decimal) -> Record:
        """Shopify gives a refunded line's tax as one figure: split it over the
        original line's tax components in proportion to their amounts, the
        last one taking the rounding remainder, so that the parts add up."""
        entries = self.taxes(tax_lines)
        whole = _total(e["rate"] for e in entries)
        if not entries or whole == 0:
            return {}
        exponent = refunded_tax.as_tuple().exponent
        step = Decimal(1).scaleb(exponent if isinstance(exponent, int) else -2)
        left = refunded_tax
        for entry in entries[:-1]:
            share = (refunded_tax * entry["rate"] / whole).quantize(step)
            entry["rate"], left = -share, left - share
        entries[-1]["rate"] = -left
        percent = _total(
            _decimal(t.get("ratePercentage") or 0, "ratePercentage") for t in tax_lines
        )
        return {"taxes": entries, "taxPercentage": percent}

    # -- Shopify Payments ---------------------------------------------------

    def balance_transaction(self, node: Record) -> None:
        bid = node.get("id")
        if node.get("test"):
            self.out.skipped_test_records.append(str(bid))
            return
        if not self.inside(node.get("transactionDate")):
            return
        try:
            kind = node.get("type")
            if kind not in _KNOWN_BALANCE_TYPES:
                raise _Unfit(f"balance transaction type {kind!r} is not supported")
            fee = _decimal(node["fee"]["amount"], "fee.amount")
            currency = node["fee"]["currencyCode"]
        except (_Unfit, KeyError, TypeError) as exc:
            self.out.problems.append(f"balance transaction {bid}: {_describe(exc)}")
            return
        if fee == 0:
            return  # nothing beyond what order payments and payouts already carry
        record: Record = {"id": bid, "createdDate": node["transactionDate"]}
        record |= {"modifiedDate": node["transactionDate"], "currency": currency}
        record |= {"type": "PaymentFee" if fee > 0 else "PaymentFeeRefund", "totalAmount": -fee}
        if node.get("sourceOrderTransactionId"):
            source = f"gid://shopify/OrderTransaction/{node['sourceOrderTransactionId']}"
            record["transactionSourceRef"] = {"id": source, "type": "Payment"}
        self.out.transactions.append(record)

    def payout(self, node: Record) -> None:
        pid = node.get("id")
        if not self.inside(node.get("issuedAt")) or node.get("status") == "CANCELED":
            return  # a cancelled payout never left the balance
        try:
            net = _decimal(node["net"]["amount"], "net.amount")
            currency = node["net"]["currencyCode"]
        except (_Unfit, KeyError, TypeError) as exc:
            self.out.problems.append(f"payout {pid}: {_describe(exc)}")
            return
        # A withdrawal pulls money from the bank into the balance.
        signed = net if node.get("transactionType") == "WITHDRAWAL" else -net
        record: Record = {"id": pid, "createdDate": node["issuedAt"], "currency": currency}
        record |= {"modifiedDate": node["issuedAt"], "type": "Payout", "totalAmount": signed}
        self.out.transactions.append(record)
        if node.get("status") == "FAILED":
            self.out.transactions.append(
                record | {"id": f"{pid}/failed", "type": "FailedPayout", "totalAmount": -signed}
            )


def _discount_name(application: Record) -> str:
    return str(application.get("title") or application.get("code") or "Discount")


def _describe(exc: Exception) -> str:
    if isinstance(exc, _Unfit):
        return str(exc)
    return f"unexpected shape ({type(exc).__name__}: {exc})"


def translate(
    *,
    orders: Iterable[Record],
    balance_transactions: Iterable[Record] = (),
    payouts: Iterable[Record] = (),
    start: datetime,
    end: datetime,
) -> Translation:
    """The Codat records of [start, end) in Shopify's answers."""
    translator = _Translator(start, end)
    for order in orders:
        translator.order(order)
    for node in balance_transactions:
        translator.balance_transaction(node)
    for node in payouts:
        translator.payout(node)
    translator.out.transactions.sort(key=lambda t: (t["createdDate"], t["id"]))
    return translator.out
