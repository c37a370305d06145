"""The payout reconciliation report of a run (a read: no writes).

From the merchant's stored records (`SourceRecord`, parsed by the mapping
engine's `parse_record`), in the order they happened, as the engine posts
them (`mapping.posting`): an order's settled payments
into the Card clearing account (status Paid) are payments (+) or refunds (-); PaymentFee
(-) and PaymentFeeRefund (+) transactions move fees; a Payout (negative:
to the bank) settles what gathered there since the previous payout; a
FailedPayout (positive) brings it back. Payment and Refund transactions are
not counted: their orders carry them (the engine's rule). The engine posts
every payout against the Card clearing account, so that is the account
reported; the opening balance is what came in after the last payout before
the period.

For each payout in the run's period: the payments, refunds and fees it
settles (those since the previous payout, or since the opening balance),
the clearing account's balance after it, and the residual: that balance,
flagged when it is not zero (money left uncleared or over-paid).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Max
from django.db.models.fields.json import KeyTextTransform

from commerce_sync.core.models import SourceRecord, SyncRun
from mapping.canonical import Order
from mapping.config import parse_configuration
from mapping.errors import MappingError
from mapping.parsing import parse_record
from mapping.posting import SETTLED

ZERO = Decimal(0)
FEE_TYPES = ("PaymentFee", "PaymentFeeRefund")
SETTLED_PAYMENTS = SETTLED  # the payment statuses the engine posts
PAYOUT_TYPES = ("Payout", "FailedPayout")


@dataclass
class SettledLine:
    """One transaction a payout settles: id, Codat type, signed amount."""

    id: str
    type: str
    amount: Decimal


@dataclass
class PayoutLine:
    """One payout: its id, when, the signed amount (negative: to the bank),
    the lines it settles and their totals per type, the clearing balance
    after it and whether that residual is not zero."""

    id: str
    created: str
    amount: Decimal
    settles: list[SettledLine] = field(default_factory=list)
    payments: Decimal = ZERO
    refunds: Decimal = ZERO
    fees: Decimal = ZERO
    balance_after: Decimal = ZERO

    @property
    def residual(self) -> Decimal:
        return self.balance_after

    @property
    def flagged(self) -> bool:
        return self.balance_after != ZERO


@dataclass
class Reconciliation:
    """The report: clearing account name, currency, the balance before the
    period's first movement, the payouts, problems reading records, and what
    is still in clearing after the period's last payout (not flagged: it
    waits for the next payout)."""

    clearing_account: str | None
    currency: str
    opening_balance: Decimal = ZERO
    payouts: list[PayoutLine] = field(default_factory=list)
    unsettled: Decimal = ZERO
    problems: list[str] = field(default_factory=list)


def payout_reconciliation(*, run: SyncRun, limit: int = 20000) -> Reconciliation:
    """The report for `run`'s period. Three queries: the last payout before
    the period, the records since it up to the period (the opening balance),
    the period's records (at most `limit` in all; more is reported as a
    problem and left out)."""
    merchant = run.merchant
    tz = ZoneInfo(merchant.time_zone)
    clearing = None
    config = getattr(merchant, "sync_configuration", None)
    if config is not None:
        try:
            clearing = parse_configuration(config.document).clearing_account("Card")
        except MappingError:
            clearing = None
    report = Reconciliation(clearing_account=clearing, currency=merchant.currency)
    if config is not None:
        try:
            mapping_config = parse_configuration(config.document)
        except MappingError:
            mapping_config = None
    else:
        mapping_config = None

    def into_clearing(payment_type: str) -> bool:
        if mapping_config is None or clearing is None:
            return payment_type == "Card"
        return mapping_config.clearing_account(payment_type) == clearing

    records = SourceRecord.objects.filter(merchant=merchant)
    last_payout = (
        records.filter(kind="transaction", created_date__lt=run.period_start)
        .annotate(tx_type=KeyTextTransform("type", "payload"))
        .filter(tx_type__in=PAYOUT_TYPES)
        .aggregate(at=Max("created_date"))["at"]
    )
    earlier = records.filter(created_date__lt=run.period_start)
    if last_payout is not None:
        earlier = earlier.filter(created_date__gt=last_payout)
    rows = list(earlier.order_by("created_date", "id").values_list("kind", "payload")[: limit + 1])
    opening = len(rows)
    rows += list(
        records.filter(created_date__gte=run.period_start, created_date__lt=run.period_end)
        .order_by("created_date", "id")
        .values_list("kind", "payload")[: limit + 1 - len(rows)]
    )
    if len(rows) > limit:
        report.problems.append(f"Only the first {limit} records are reported")
        rows = rows[:limit]
    balance = ZERO
    current: list[SettledLine] = []
    for index, (kind, payload) in enumerate(rows):
        if index == opening:
            report.opening_balance = balance
            current = []
        record = _parse(kind, payload, tz, report)
        if record is None:
            continue
        if record.currency != merchant.currency:
            report.problems.append(
                f"{kind.title()} {record.id} is in {record.currency}, "
                f"the merchant books {merchant.currency}"
            )
            continue
        if isinstance(record, Order):
            for payment in record.payments:
                if payment.status in SETTLED_PAYMENTS and into_clearing(payment.type):
                    balance += payment.amount
                    kind_name = "Refund" if payment.amount < 0 else "Payment"
                    current.append(
                        SettledLine(f"{record.id}/{payment.id}", kind_name, payment.amount)
                    )
        elif record.type in FEE_TYPES:
            balance += record.total
            current.append(SettledLine(record.id, record.type, record.total))
        elif record.type in PAYOUT_TYPES and index >= opening:
            balance += record.total
            line = PayoutLine(
                id=record.id,
                created=record.created.isoformat(),
                amount=record.total,
                settles=current,
            )
            for settled in current:
                if settled.type == "Payment":
                    line.payments += settled.amount
                elif settled.type == "Refund":
                    line.refunds += settled.amount
                else:
                    line.fees += settled.amount
            line.balance_after = balance
            report.payouts.append(line)
            current = []
    if opening == len(rows):
        report.opening_balance = balance
    report.unsettled = balance if current else ZERO
    return report


def _parse(kind: str, payload: object, tz: ZoneInfo, report: Reconciliation) -> Any:
    try:
        return parse_record(kind, payload, tz)
    except MappingError as error:
        report.problems.extend(issue.message for issue in error.issues)
        return None
