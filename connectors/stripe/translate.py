"""Stripe objects -> canonical (Codat Commerce shaped) records. Pure: no I/O.

Vendor facts (`../shared/reference/stripe/stripe-subset.spec3.json`, schemas
`charge`, `refund`, `balance_transaction`, `fee`, `payout`; and the folder's
README): amounts are integers in the currency's minor unit, currencies are
lower-case ISO 4217 codes, times are unix seconds. Amounts become `Decimal`
with the currency's ISO 4217 exponent (`mapping.money.from_minor`: JPY 0,
USD 2, KWD 3) and currencies upper-case.

A Stripe charge carries no line items and no tax breakdown: each becomes a
one-line order at the charge's description, all net (no tax component). All
money a merchant takes through Stripe settles into one Stripe balance, so
every payment is of canonical type `Card` (the card clearing account is the
Stripe balance: fees and payouts, which name no sale, clear it too, and it
nets to zero once a payout has swept a day).

Orders:

| Stripe                                  | canonical order                  | why                           |
|-----------------------------------------|----------------------------------|-------------------------------|
| charge, `succeeded`, captured           | one line at the charge's         | the sale; `amount_captured`   |
|                                         | `description`, payment Card Paid | (a partial capture sells less)|
| charge, `pending` (bank debits ...)     | as above, payment Card Paid      | Stripe has credited the       |
|                                         |                                  | balance (pending); a failure  |
|                                         |                                  | is `payment_failure_refund`   |
| charge `failed`, or not captured        | (skipped)                        | no money moved                |
| refund, `succeeded` or `pending`        | `refund-<id>`: one negative line,| money back to the customer    |
|                                         | payment Card                     |                               |
| refund `failed` / `canceled` /          | (skipped)                        | no money moved; a failure     |
| `requires_action`                       |                                  | after the refund was booked   |
|                                         |                                  | comes as `refund_failure`     |
| balance transaction `refund_failure`    | `refund-failure-<id>`: one       | the refund's money came back  |
|                                         | positive line "Refund failed"    |                               |
| balance transaction                     | `payment-failure-<id>`: one      | a pending payment that failed:|
| `payment_failure_refund`                | negative line "Payment failed"   | the sale taken back           |
| balance transaction `adjustment` with   | `dispute-<id>`: one line of the  | a dispute is its own kind: a  |
| reporting_category `dispute`,           | (signed) amount, "Dispute ..."   | sale taken back (or given     |
| `dispute_reversal`                      | payment Card                     | back when won), not a fee     |

Transactions (from balance transactions, `type`):

| Stripe                                  | canonical transaction            | why                           |
|-----------------------------------------|----------------------------------|-------------------------------|
| `charge`, `payment`, `refund`,          | one per `fee_details[]` entry:   | the processing fees the       |
| `payment_refund`, `refund_failure`,     | PaymentFee (fee > 0) or          | amount carries; linked to the |
| `payment_failure_refund`, disputes      | PaymentFeeRefund (< 0), linked   | charge (or refund) by         |
|                                         | to the `source`                  | `transactionSourceRef`        |
| `stripe_fee`, `stripe_fx_fee`,          | PaymentFee / PaymentFeeRefund    | fees no sale carries          |
| `tax_fee`                               | by the sign of `amount`          |                               |
| `adjustment` (not a dispute)            | PaymentFee (amount < 0) or       | a correction of the balance   |
|                                         | PaymentFeeRefund (> 0)           | by Stripe, booked with fees   |
| `payout`                                | (skipped)                        | the payout object carries it  |
| `payout_failure`, `payout_cancel`       | FailedPayout, `+amount`          | the payout came back          |
| anything else (transfers, top-ups,      | problem                          | money with no canonical       |
| reserves, issuing, Connect, ...)        |                                  | transaction: named by id      |

A payout (`GET /v1/payouts`) is a Payout transaction of `-amount` (money
leaves the balance for the bank) on the day it was created, whatever its
status: its failure or cancellation is a later `payout_failure` /
`payout_cancel` balance transaction. What an automatic payout settled
(`GET /v1/balance_transactions?payout=`) must net to zero with the payout
itself; a payout that does not is reported in `Translation.warnings`.

Records that do not fit are never dropped silently: each problem names the
record's id and lands in `Translation.problems`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from connectors.common import Raw, Record, Unfit
from mapping.money import from_minor

LOCATION = {"id": "stripe", "name": "Stripe"}  # one Stripe account, one balance
PAYMENT_TYPE = "Card"  # see the module docstring: the Stripe balance
FEE_CARRIERS = frozenset(["charge", "payment", "refund", "payment_refund", "refund_failure"])
STANDALONE_FEES = frozenset(["stripe_fee", "stripe_fx_fee", "tax_fee"])
PAYOUT_REVERSALS = frozenset(["payout_failure", "payout_cancel"])
# Balance transactions that move a sale's money back, as (order id prefix, title).
REVERSED_MONEY = {
    "refund_failure": ("refund-failure", "Refund failed"),
    "payment_failure_refund": ("payment-failure", "Payment failed"),
}
DISPUTE_CATEGORIES = {"dispute": "Dispute (chargeback)", "dispute_reversal": "Dispute won"}


@dataclass
class Translation:
    orders: list[Record] = field(default_factory=list)
    transactions: list[Record] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def currency_of(raw: Raw) -> str:
    """The object's `currency` upper-cased (Stripe sends "usd")."""
    code = raw.get("currency")
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha():
        raise Unfit(f"currency {code!r} is not a three-letter code")
    return code.upper()


def amount(units: Any, currency: str) -> Decimal:
    """Integer minor units -> Decimal in `currency` (raises Unfit otherwise)."""
    if isinstance(units, bool) or not isinstance(units, int):
        raise Unfit(f"amount {units!r} is not an integer of minor units")
    return from_minor(units, currency)


def moment(raw: Raw, key: str = "created") -> str:
    """A unix-seconds field as an ISO 8601 UTC date-time."""
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unfit(f"{key} {value!r} is not a unix time")
    return datetime.fromtimestamp(value, UTC).isoformat()


def one_line_order(
    *,
    order_id: str,
    number: str,
    payment_id: str,
    description: str,
    total: Decimal,
    currency: str,
    created: str,
) -> Record:
    """A canonical order of one untaxed line of `total` paid by one Card payment."""
    return {
        "id": order_id,
        "orderNumber": number,
        "currency": currency,
        "createdDate": created,
        "modifiedDate": created,  # Stripe objects carry no modification time
        "closedDate": created,
        "locationRef": {"id": LOCATION["id"]},
        "orderLineItems": [
            {
                "id": f"{order_id}-line",
                "description": description,
                "quantity": Decimal(1) if total >= 0 else Decimal(-1),
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
                "id": payment_id,
                "type": PAYMENT_TYPE,
                "amount": total,
                "currency": currency,
                "status": "Paid",
            }
        ],
        "totalAmount": total,
        "totalTaxAmount": Decimal(0),
        "totalDiscount": Decimal(0),
    }


def charge_order(charge: Raw) -> list[Record]:
    """A charge as a one-line order ([] when no money moved)."""
    if charge.get("status") == "failed" or not charge.get("captured"):
        return []
    if charge.get("status") not in ("succeeded", "pending"):
        raise Unfit(f"status {charge.get('status')!r} is not one Stripe defines for charges")
    cur = currency_of(charge)
    captured = amount(charge.get("amount_captured"), cur)
    if not captured:
        return []
    return [
        one_line_order(
            order_id=charge["id"],
            number=str(charge.get("payment_intent") or charge["id"]),
            payment_id=charge["id"],
            description=str(charge.get("description") or f"Stripe charge {charge['id']}"),
            total=captured,
            currency=cur,
            created=moment(charge),
        )
    ]


def refund_order(refund: Raw) -> list[Record]:
    """A refund as a negative one-line order ([] when no money moved)."""
    if refund.get("status") not in ("succeeded", "pending"):
        return []
    cur = currency_of(refund)
    value = amount(refund.get("amount"), cur)
    return [
        one_line_order(
            order_id=f"refund-{refund['id']}",
            number=str(refund.get("charge") or refund["id"]),
            payment_id=refund["id"],
            description=f"Refund of {refund.get('charge') or 'a charge'}"
            + (f" ({refund['reason']})" if refund.get("reason") else ""),
            total=-value,
            currency=cur,
            created=moment(refund),
        )
    ]


def _fees(bt: Raw, cur: str, source: str | None) -> list[Record]:
    """The balance transaction's `fee_details` as fee transactions; their sum
    must be its `fee`."""
    details = bt.get("fee_details") or []
    fee = amount(bt.get("fee", 0), cur)
    found = [amount(d.get("amount"), currency_of(d)) for d in details]
    if sum(found, Decimal(0)) != fee:
        raise Unfit(f"fee {fee} is not the sum of its fee_details ({sum(found, Decimal(0))})")
    records = []
    for index, (detail, value) in enumerate(zip(details, found, strict=True)):
        if not value:
            continue
        record: Record = {
            "id": f"{bt['id']}-fee-{index}",
            "type": "PaymentFee" if value > 0 else "PaymentFeeRefund",
            "currency": currency_of(detail),
            "totalAmount": -value,
            "createdDate": moment(bt),
            "modifiedDate": moment(bt),
        }
        if source:
            record["transactionSourceRef"] = {"id": source, "type": "Payment"}
        records.append(record)
    return records


def _balance_fee(bt: Raw, cur: str) -> Record:
    value = amount(bt.get("amount"), cur)
    return {
        "id": bt["id"],
        "type": "PaymentFee" if value < 0 else "PaymentFeeRefund",
        "currency": cur,
        "totalAmount": value,
        "createdDate": moment(bt),
        "modifiedDate": moment(bt),
    }


def balance_transaction(bt: Raw) -> tuple[list[Record], list[Record]]:
    """(orders, transactions) of one balance transaction: see the tables."""
    kind = bt.get("type")
    cur = currency_of(bt)
    source = bt.get("source") if isinstance(bt.get("source"), str) else None
    if kind == "payout":
        return [], []
    if kind in PAYOUT_REVERSALS:
        record = {
            "id": bt["id"],
            "type": "FailedPayout",
            "currency": cur,
            "totalAmount": amount(bt.get("amount"), cur),
            "createdDate": moment(bt),
            "modifiedDate": moment(bt),
        }
        if source:
            record["transactionSourceRef"] = {"id": source, "type": "Payout"}
        return [], [record]
    if kind in STANDALONE_FEES:
        return [], [_balance_fee(bt, cur)]
    if kind == "adjustment" and bt.get("reporting_category") in DISPUTE_CATEGORIES:
        title = DISPUTE_CATEGORIES[bt["reporting_category"]]
        value = amount(bt.get("amount"), cur)
        order = one_line_order(
            order_id=f"dispute-{bt['id']}",
            number=str(source or bt["id"]),
            payment_id=bt["id"],
            description=f"{title} {source or ''}".strip(),
            total=value,
            currency=cur,
            created=moment(bt),
        )
        return [order], _fees(bt, cur, bt["id"])
    if kind == "adjustment":
        return [], [_balance_fee(bt, cur), *_fees(bt, cur, None)]
    if kind in REVERSED_MONEY:
        prefix, title = REVERSED_MONEY[kind]
        value = amount(bt.get("amount"), cur)
        order = one_line_order(
            order_id=f"{prefix}-{bt['id']}",
            number=str(source or bt["id"]),
            payment_id=bt["id"],
            description=f"{title} {source or ''}".strip(),
            total=value,
            currency=cur,
            created=moment(bt),
        )
        return [order], _fees(bt, cur, bt["id"])
    if kind in FEE_CARRIERS:
        return [], _fees(bt, cur, source)
    raise Unfit(f"type {kind!r} moves money with no canonical transaction")


def payout_transaction(payout: Raw) -> Record:
    """A payout: `-amount` leaves the Stripe balance for the bank."""
    cur = currency_of(payout)
    return {
        "id": payout["id"],
        "type": "Payout",
        "currency": cur,
        "totalAmount": -amount(payout.get("amount"), cur),
        "createdDate": moment(payout),
        "modifiedDate": moment(payout),
        "transactionSourceRef": {"id": payout["id"], "type": "Payout"},
    }


def settlement_gap(payout: Raw, settled: Iterable[Raw]) -> Decimal:
    """What the balance transactions an automatic payout settled (its own
    included) leave over: zero when the payout sweeps exactly them."""
    cur = currency_of(payout)
    return sum((amount(bt.get("net"), cur) for bt in settled), Decimal(0))


def _guarded(problems: list[str], label: str, build: Any, *args: Any) -> Any:
    try:
        return build(*args)
    except Unfit as unfit:
        problems.append(f"{label}: {unfit}")
    except (KeyError, TypeError, ValueError, ArithmeticError) as error:
        problems.append(f"{label}: malformed ({type(error).__name__}: {error})")
    return None


def translate_period(
    *,
    charges: Iterable[Raw] = (),
    refunds: Iterable[Raw] = (),
    balance_transactions: Iterable[Raw] = (),
    payouts: Iterable[Raw] = (),
    settled: Mapping[str, Iterable[Raw]] | None = None,
) -> Translation:
    """Everything one period read from Stripe, as canonical records.
    `settled` gives, by payout id, the balance transactions each automatic
    payout settled (for the reconciliation check only: their money is
    translated in the period that created them)."""
    out = Translation()
    for charge in charges:
        made = _guarded(out.problems, f"charge {charge.get('id')}", charge_order, charge)
        out.orders += made or []
    for refund in refunds:
        made = _guarded(out.problems, f"refund {refund.get('id')}", refund_order, refund)
        out.orders += made or []
    for bt in balance_transactions:
        made = _guarded(
            out.problems, f"balance transaction {bt.get('id')}", balance_transaction, bt
        )
        if made:
            out.orders += made[0]
            out.transactions += made[1]
    for payout in payouts:
        label = f"payout {payout.get('id')}"
        record = _guarded(out.problems, label, payout_transaction, payout)
        if record:
            out.transactions.append(record)
        those = (settled or {}).get(str(payout.get("id")))
        if those is None:
            continue
        gap = _guarded(out.problems, label, settlement_gap, payout, those)
        if gap:
            out.warnings.append(
                f"{label}: the balance transactions it settled leave {gap} "
                f"{str(payout.get('currency')).upper()} unexplained"
            )
    return out
