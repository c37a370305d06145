"""The payout reconciliation report of a run (a read: no writes).

From the merchant's stored transactions (`SourceRecord` kind "transaction",
parsed by the mapping engine's `parse_record`), in the order they happened:
every Payment (+), Refund (-), PaymentFee (-) and PaymentFeeRefund (+)
moves money into or out of the clearing account (Codat's signs: money in is
positive); a Payout (negative: to the bank) settles what gathered there
since the previous payout; a FailedPayout (positive) brings it back. The
mapping engine posts every payout against the Card clearing account
(`mapping.posting.post_transaction`), so that is the account reported.

For each payout in the run's period: the payments, refunds and fees it
settles (those since the previous payout, or since the opening balance),
the clearing account's balance after it, and the residual: that balance,
flagged when it is not zero (money left uncleared or over-paid).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import DecimalField, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from commerce_sync.core.models import SourceRecord, SyncRun
from mapping.config import parse_configuration
from mapping.errors import MappingError
from mapping.parsing import parse_record

ZERO = Decimal(0)
SETTLED_TYPES = ("Payment", "Refund", "PaymentFee", "PaymentFeeRefund")
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


def payout_reconciliation(*, run: SyncRun, limit: int = 5000) -> Reconciliation:
    """The report for `run`'s period: two queries (the opening balance summed
    in the database over every earlier transaction, then the period's
    transactions, at most `limit`; more is reported as a problem)."""
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
    transactions = SourceRecord.objects.filter(merchant=merchant, kind="transaction")
    # The opening balance: every earlier movement's total, summed in the database.
    opening = (
        transactions.filter(created_date__lt=run.period_start)
        .annotate(
            total=Cast(
                KeyTextTransform("totalAmount", "payload"),
                DecimalField(max_digits=20, decimal_places=4),
            ),
            currency=KeyTextTransform("currency", "payload"),
            tx_type=KeyTextTransform("type", "payload"),
        )
        .filter(currency=merchant.currency, tx_type__in=SETTLED_TYPES + PAYOUT_TYPES)
        .aggregate(sum=Sum("total"))["sum"]
    )
    balance = Decimal(opening or 0)
    report.opening_balance = balance
    current: list[SettledLine] = []
    rows = list(
        transactions.filter(created_date__gte=run.period_start, created_date__lt=run.period_end)
        .order_by("created_date", "id")
        .values_list("payload", flat=True)[: limit + 1]
    )
    if len(rows) > limit:
        report.problems.append(f"Only the first {limit} transactions of the period are reported")
        rows = rows[:limit]
    for payload in rows:
        tx = _parse(payload, tz, report)
        if tx is None:
            continue
        if tx.currency != merchant.currency:
            report.problems.append(
                f"Transaction {tx.id} is in {tx.currency}, the merchant books {merchant.currency}"
            )
            continue
        if tx.type in SETTLED_TYPES:
            balance += tx.total
            current.append(SettledLine(tx.id, tx.type, tx.total))
        elif tx.type in PAYOUT_TYPES:
            balance += tx.total
            line = PayoutLine(
                id=tx.id, created=tx.created.isoformat(), amount=tx.total, settles=current
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
    report.unsettled = balance if current else ZERO
    return report


def _parse(payload: object, tz: ZoneInfo, report: Reconciliation):
    try:
        return parse_record("transaction", payload, tz)
    except MappingError as error:
        report.problems.extend(issue.message for issue in error.issues)
        return None
