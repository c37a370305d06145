"""SumUp objects -> canonical (Codat Commerce shaped) records. Pure: no I/O.

Vendor facts (`../shared/reference/sumup/openapi.json`: schemas
`TransactionHistory` = `TransactionBase` + `TransactionMixinHistory`,
`PaymentType`, `TransactionStatus`, `FinancialPayout`; and the folder's
README): amounts are JSON numbers in **major units** (read as `Decimal` by
the client, never float); currencies are upper-case ISO 4217 codes;
`timestamp` is an ISO 8601 date-time; payout records carry a `date` only.

A SumUp transaction has no items and no tax breakdown: each becomes a
one-line order at its `product_summary`, all net (no tax component). Money
SumUp settles is of canonical type `Card` (the card clearing account is the
SumUp balance: payouts, which name no sale, clear it too); cash recorded in
the SumUp app is `Cash`.

Orders (history items by `type` and `status`):

| SumUp                                  | canonical order                    | why                        |
|----------------------------------------|------------------------------------|----------------------------|
| PAYMENT, SUCCESSFUL or REFUNDED        | one line at `product_summary`,     | the sale (a later refund is|
|                                        | payment Paid                       | its own REFUND item)       |
| PAYMENT, PENDING                       | as above, payment Pending          | the engine waits for it    |
| PAYMENT, CANCELLED or FAILED           | (skipped)                          | no money moved             |
| REFUND (not CANCELLED / FAILED)        | one negative line "Refund"         | money back to the customer |
| CHARGE_BACK (not CANCELLED / FAILED)   | one negative line "Chargeback"     | a sale taken back          |

Payment types (`payment_type`): CASH -> Cash; POS, ECOM, RECURRING, MOTO,
BALANCE, BITCOIN, BOLETO, DIRECT_DEBIT, APM -> Card (settled by SumUp into
the balance it pays out); UNKNOWN or anything else -> problem.

Payout records (`FinancialPayout.type`), each dated `date`:

| SumUp                                  | canonical transaction              | why                        |
|----------------------------------------|------------------------------------|----------------------------|
| PAYOUT                                 | Payout `-amount`, and PaymentFee   | sent to the bank; `fee` is |
|                                        | `-fee`                             | what SumUp kept            |
| PAYOUT, status FAILED                  | also FailedPayout `+amount`        | it came back               |
| CHARGE_BACK_DEDUCTION,                 | Payout `+abs(amount)` (taken back  | deducted from what reaches |
| REFUND_DEDUCTION, DD_RETURN_DEDUCTION, | from the bank), and PaymentFee     | the bank to cover refunds, |
| BALANCE_DEDUCTION                      | `-fee`                             | chargebacks, adjustments   |

Reading `amount` of a PAYOUT as the money sent (net of `fee`) and a
deduction as reducing what reaches the bank is this connector's reading of
the description ("Amount of the payout or deduction", "Fee amount
associated with the payout record"); SumUp publishes no worked example.

Records that do not fit are never dropped silently: each problem names the
record's id and lands in `Translation.problems`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from connectors.common import Raw, Record, Unfit
from mapping.money import quantize

LOCATION = {"id": "sumup", "name": "SumUp"}
PAYMENT_TYPES = {
    "CASH": "Cash",
    **{
        kind: "Card"
        for kind in (
            "POS",
            "ECOM",
            "RECURRING",
            "MOTO",
            "BALANCE",
            "BITCOIN",
            "BOLETO",
            "DIRECT_DEBIT",
            "APM",
        )
    },
}
SIGNS = {"PAYMENT": 1, "REFUND": -1, "CHARGE_BACK": -1}
TITLES = {"REFUND": "Refund", "CHARGE_BACK": "Chargeback"}
NO_MONEY = frozenset(["CANCELLED", "FAILED"])
DEDUCTIONS = frozenset(
    ["CHARGE_BACK_DEDUCTION", "REFUND_DEDUCTION", "DD_RETURN_DEDUCTION", "BALANCE_DEDUCTION"]
)


@dataclass
class Translation:
    orders: list[Record] = field(default_factory=list)
    transactions: list[Record] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def money(value: Any, currency: str) -> Decimal:
    """A major-unit amount (already a Decimal or an int) in `currency`; a
    float (the client never makes one) or more decimals than the currency
    has are problems."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise Unfit(f"amount {value!r} is not a decimal number")
    amount = Decimal(value)
    exact = quantize(amount, currency)
    if exact != amount:
        raise Unfit(f"amount {value} has more decimals than {currency} has")
    return exact


def currency_of(raw: Raw) -> str:
    code = raw.get("currency")
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha():
        raise Unfit(f"currency {code!r} is not a three-letter code")
    return code.upper()


def _instant(text: Any) -> str:
    if not isinstance(text, str):
        raise Unfit(f"timestamp {text!r} is not a date-time")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise Unfit(f"timestamp {text!r} has no offset")
    return moment.isoformat()


def transaction_order(item: Raw) -> list[Record]:
    """One history item as a one-line order ([] when no money moved)."""
    kind, status = item.get("type") or "PAYMENT", item.get("status")
    if status in NO_MONEY:
        return []
    if kind not in SIGNS:
        raise Unfit(f"type {kind!r} is not one SumUp defines")
    payment_type = PAYMENT_TYPES.get(str(item.get("payment_type")))
    if payment_type is None:
        raise Unfit(f"payment type {item.get('payment_type')!r} has no canonical payment type")
    ident = item.get("id") or item.get("transaction_id")
    if not ident:
        raise Unfit("has no id")
    cur = currency_of(item)
    total = SIGNS[kind] * money(item.get("amount"), cur)
    created = _instant(item.get("timestamp"))
    description = str(item.get("product_summary") or TITLES.get(kind) or "SumUp sale")
    if kind in TITLES:
        description = f"{TITLES[kind]} {item.get('transaction_code') or ''}".strip()
    return [
        {
            "id": str(ident),
            "orderNumber": str(item.get("transaction_code") or ident),
            "currency": cur,
            "createdDate": created,
            "modifiedDate": created,
            "closedDate": created,
            "locationRef": {"id": LOCATION["id"]},
            "orderLineItems": [
                {
                    "id": f"{ident}-line",
                    "description": description,
                    "quantity": Decimal(SIGNS[kind]),
                    "totalAmount": total,
                    "totalTaxAmount": Decimal(0),
                    "discountAllocations": [],
                    "taxes": [],
                }
            ],
            "serviceCharges": [],
            "totalGratuity": Decimal(0),
            "payments": [
                {
                    "id": str(ident),
                    "type": payment_type,
                    "amount": total,
                    "currency": cur,
                    "status": "Pending" if status == "PENDING" else "Paid",
                }
            ],
            "totalAmount": total,
            "totalTaxAmount": Decimal(0),
            "totalDiscount": Decimal(0),
        }
    ]


def payout_transactions(record: Raw, booked_at: str) -> list[Record]:
    """One payout or deduction record (see the table), dated `booked_at`
    (the ISO instant the adapter gives the record's `date`)."""
    kind = record.get("type")
    if kind != "PAYOUT" and kind not in DEDUCTIONS:
        raise Unfit(f"type {kind!r} is not one SumUp defines")
    cur = currency_of(record)
    value = money(record.get("amount"), cur)
    fee = money(record.get("fee", 0), cur)
    ident = f"payout-{record.get('id')}"
    base = {
        "currency": cur,
        "createdDate": booked_at,
        "modifiedDate": booked_at,
        "transactionSourceRef": {"id": ident, "type": "Payout"},
    }
    out: list[Record] = []
    if kind == "PAYOUT":
        out.append({**base, "id": ident, "type": "Payout", "totalAmount": -value})
        if record.get("status") == "FAILED":
            out.append(
                {**base, "id": f"{ident}-failed", "type": "FailedPayout", "totalAmount": value}
            )
    else:
        out.append({**base, "id": ident, "type": "Payout", "totalAmount": abs(value)})
    if fee:
        out.append(
            {
                **base,
                "id": f"{ident}-fee",
                "type": "PaymentFee" if fee > 0 else "PaymentFeeRefund",
                "totalAmount": -fee,
            }
        )
    return out


def _guarded(problems: list[str], label: str, build: Any, *args: Any) -> list[Record]:
    try:
        return list(build(*args))
    except Unfit as unfit:
        problems.append(f"{label}: {unfit}")
    except (KeyError, TypeError, ValueError, ArithmeticError) as error:
        problems.append(f"{label}: malformed ({type(error).__name__}: {error})")
    return []


def translate_period(
    *, history: Iterable[Raw] = (), payouts: Iterable[tuple[Raw, str]] = ()
) -> Translation:
    """The period's history items and its payout records, each payout
    record with the instant it is booked at, as canonical records."""
    out = Translation()
    for item in history:
        label = f"transaction {item.get('id') or item.get('transaction_code')}"
        out.orders += _guarded(out.problems, label, transaction_order, item)
    for record, booked_at in payouts:
        label = f"payout record {record.get('id')}"
        out.transactions += _guarded(out.problems, label, payout_transactions, record, booked_at)
    return out
