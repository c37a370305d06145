"""Payout reconciliation: does each payout equal what it settles?

A payout (a Codat commerce transaction of type `Payout`, negative: money
leaving the processor for the bank) empties the clearing account that card
payments fill. Between two payouts that account receives the settled
payments (positive), refunds (negative payments), payment fees (negative)
and fee refunds (positive) of every payment type cleared through it, and a
`FailedPayout` puts money back. A payout should take exactly that balance
out; whatever it leaves (or overdraws) is its **residual**, which support
must see (a missing fee, a refund the point of sale never sent, a processor
hold).

The figures come from the stored source records (`SourceRecord`, the
records as read by the syncs), parsed by the mapping engine's own readers,
so they agree with what was posted:

* a payout empties the clearing account of the payment type it names
  (`subType` "PaymentType:<type>", e.g. the sandbox's online acquirer's
  `OnlineCard`), else the merchant's configured `Card` clearing account (as
  the engine posts payouts); each clearing account is counted on its own:
  a payment counts when its type's clearing account is that one (without a
  configuration: `Card` payments only, in the `Card` account); only settled
  payments count (`Paid`, as the engine); a `FailedPayout` goes back to the
  account its `subType` names, else the card one;
* only the card clearing account's payouts get a residual (and alerts):
  a card terminal pays out each morning what came in up to that moment.
  Other accounts' payouts (an online acquirer paying two days later)
  settle takings on a delay the records do not state, so they are not
  matched one by one: their report shows each payout and the account's
  balance after it (what waits), with `residual` None;
* a fee belongs to the payment (or order) its `transactionSourceRef` names,
  `Card` when that is unknown, as the engine does;
* a payout settles what was created after the previous payout, up to and
  including its own instant. The first payout ever read has no known start,
  so it is reported with `residual=None` (nothing to compare).

`payout_reports` gives the same figures for a sync run's page (the portal's
payout reconciliation report), one report per clearing account that
payouts empty (the card one always, first): the payouts of a period, the
clearing balance at its start and what waits in clearing after its last
payout.

Amounts are `Decimal` in the payout's currency; records in another currency
are left out and counted in `other_currency`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from commerce_sync.core.models import Merchant, SourceRecord
from mapping.canonical import PAYMENT_TYPES, Order, Transaction
from mapping.config import MappingConfig, parse_configuration
from mapping.errors import MappingError
from mapping.parsing import parse_record
from mapping.posting import NAMES_PAYMENT_TYPE, SETTLED

ZERO = Decimal(0)
PAYOUT = "Payout"


@dataclass
class SettledLine:
    """One movement a payout settles: `id` (`order/payment` for a payment
    or refund, else the transaction id), `type` (`Payment`, `Refund`,
    `PaymentFee`, `PaymentFeeRefund` or `FailedPayout`), the signed `amount`
    in the payout's currency and when it was `created` (UTC)."""

    id: str
    type: str
    amount: Decimal
    created: datetime


@dataclass
class PayoutReconciliation:
    """One payout and what it settles.

    * `payout_id`, `created` (UTC), `currency`, `amount` (the payout's
      signed total, negative for money sent to the bank);
    * `clearing_account`: the account id it empties (None without a configuration);
    * `opening`: True for the first payout read (its start is unknown);
    * `payments`, `refunds`, `fees`, `fee_refunds`, `failed_payouts`: the
      signed sums settled, with the ids of the records in `payment_ids`,
      `refund_ids`, `fee_ids` (payment ids are `order/payment`), and every
      movement with its amount in `settles` (oldest first);
    * `residual`: payments + refunds + fees + fee refunds + failed payouts +
      amount, zero when the payout matches; None for the opening payout;
    * `balance_after`: the clearing account's balance right after the
      payout, counted from the first payout read (the running residual;
      zero right after the opening payout, by definition);
    * `other_currency`: records left out for being in another currency;
      `unreadable`: records that no longer parse (their syncs failed).
    """

    payout_id: str
    created: datetime
    currency: str
    amount: Decimal
    clearing_account: str | None
    opening: bool = False
    payments: Decimal = ZERO
    refunds: Decimal = ZERO
    fees: Decimal = ZERO
    fee_refunds: Decimal = ZERO
    failed_payouts: Decimal = ZERO
    payment_ids: list[str] = field(default_factory=list)
    refund_ids: list[str] = field(default_factory=list)
    fee_ids: list[str] = field(default_factory=list)
    settles: list[SettledLine] = field(default_factory=list)
    residual: Decimal | None = None
    balance_after: Decimal | None = None
    other_currency: int = 0
    unreadable: list[str] = field(default_factory=list)

    @property
    def paid_out(self) -> Decimal:
        """What the payout sent to the bank, positive (`-amount`)."""
        return -self.amount

    @property
    def flagged(self) -> bool:
        """Whether the payout leaves a residual (not for the opening payout)."""
        return self.residual is not None and self.residual != ZERO

    def as_json(self) -> dict[str, Any]:
        """The figures as JSON-ready strings and lists (amounts as decimal strings)."""

        def text(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {
            "payoutId": self.payout_id,
            "created": self.created.isoformat(),
            "currency": self.currency,
            "amount": text(self.amount),
            "clearingAccount": self.clearing_account,
            "opening": self.opening,
            "payments": text(self.payments),
            "refunds": text(self.refunds),
            "fees": text(self.fees),
            "feeRefunds": text(self.fee_refunds),
            "failedPayouts": text(self.failed_payouts),
            "residual": text(self.residual),
            "balanceAfter": text(self.balance_after),
            "paymentIds": list(self.payment_ids),
            "refundIds": list(self.refund_ids),
            "feeIds": list(self.fee_ids),
        }


@dataclass
class PayoutReport:
    """The payout reconciliation of a period, for a person to read.

    * `clearing_account` (None without a configuration) and `currency` (the
      first payout's, else the merchant's);
    * `payouts`: `payout_residuals` of the period, oldest first;
    * `opening_balance`: what the clearing account held at the period's
      start, counted since the last payout before it (since the first
      record read when there is none);
    * `unsettled`: the clearing account's balance at the period's end: the
      last payout's `balance_after` (what payouts left) plus what came in
      after it and waits for the next payout (only the latter when the
      period has no payout);
    * `problems`: sentences naming records left out (unreadable, or in
      another currency);
    * `matched`: whether each payout gets a residual (the card account's
      report) or only the balance after it (other accounts: see the module
      docstring).
    """

    matched: bool
    clearing_account: str | None
    currency: str
    payouts: list[PayoutReconciliation] = field(default_factory=list)
    opening_balance: Decimal = ZERO
    unsettled: Decimal = ZERO
    problems: list[str] = field(default_factory=list)


def _config(merchant: Merchant) -> MappingConfig | None:
    row = getattr(merchant, "sync_configuration", None)
    if row is None:
        return None
    try:
        return parse_configuration(row.document)
    except MappingError:
        return None


def _zone(merchant: Merchant) -> ZoneInfo:
    row = getattr(merchant, "sync_configuration", None)
    return ZoneInfo(row.time_zone if row is not None else merchant.time_zone)


def payout_residuals(
    *, merchant: Merchant, start: datetime, end: datetime
) -> list[PayoutReconciliation]:
    """Every payout of the card clearing account of `merchant` created in
    [start, end) (aware datetimes), oldest first, with what it settles and
    its residual (see the module docstring for the rules; other accounts'
    payouts have no residual). Reads the stored source records: two small
    queries to find the payouts and the one before them, then the records
    between the first boundary and the last payout (a day or so each).
    Raises nothing for bad data: unreadable records are listed."""
    config = _config(merchant)
    results, _tail = _read(
        merchant=merchant,
        start=start,
        end=end,
        tail=False,
        config=config,
        clearing=_clearing(config, "Card"),
        names=None,
    )
    return results


def payout_reports(*, merchant: Merchant, start: datetime, end: datetime) -> list[PayoutReport]:
    """The payout reconciliation of [start, end) (aware datetimes), one
    `PayoutReport` per clearing account that payouts empty: the card
    clearing account's first (always there, as the engine posts payouts to
    it; the same `PayoutReconciliation`s as `payout_residuals`, so a page
    and the alerts agree on every residual), then each other account a
    payout has ever named (e.g. an online acquirer's; `matched` False: no
    residuals, see the module docstring), each with its opening balance and
    what waits in it after the last payout.
    Raises nothing for bad data: left-out records are named in `problems`."""
    config = _config(merchant)
    return [
        _report(merchant=merchant, start=start, end=end, config=config, clearing=c, names=n)
        for c, n in _clearing_groups(merchant, config)
    ]


def payout_report(*, merchant: Merchant, start: datetime, end: datetime) -> PayoutReport:
    """The card clearing account's report of `payout_reports`."""
    return payout_reports(merchant=merchant, start=start, end=end)[0]


def _report(
    *,
    merchant: Merchant,
    start: datetime,
    end: datetime,
    config: MappingConfig | None,
    clearing: str | None,
    names: frozenset[str] | None,
) -> PayoutReport:
    results, tail = _read(
        merchant=merchant,
        start=start,
        end=end,
        tail=True,
        config=config,
        clearing=clearing,
        names=names,
    )
    assert tail is not None  # noqa: S101 - asked for
    first = results[0] if results else tail
    report = PayoutReport(
        matched=names is None,
        clearing_account=tail.clearing_account,
        currency=first.currency,
        payouts=results,
        opening_balance=sum((line.amount for line in first.settles if line.created < start), ZERO),
        unsettled=sum(
            (line.amount for line in tail.settles),
            results[-1].balance_after or ZERO if results else ZERO,
        ),
    )
    for result in [*results, tail]:
        report.problems.extend(
            f"Record {name} no longer reads (its sync failed); it is left out"
            for name in result.unreadable
        )
        if result.other_currency:
            report.problems.append(
                f"{result.other_currency} record(s) settled "
                + (f"by payout {result.payout_id}" if result.payout_id else "after the last payout")
                + f" are not in {result.currency} and are left out"
            )
    return report


def _clearing_groups(
    merchant: Merchant, config: MappingConfig | None
) -> list[tuple[str | None, frozenset[str] | None]]:
    """The clearing accounts payouts empty, as (account, the `subType`s of
    the payouts and failed payouts that name it): the card clearing account
    first, with None for its names (every payout that names no other
    account), then each other account some stored payout names, by account.
    Without a configuration only the card one ("Card")."""
    card = _clearing(config, "Card")
    others: dict[str, set[str]] = {}
    for payment_type in PAYMENT_TYPES:
        account = _clearing(config, payment_type)
        if account is not None and account != card:
            others.setdefault(account, set()).add(NAMES_PAYMENT_TYPE + payment_type)
    named = set(
        SourceRecord.objects.filter(
            merchant=merchant,
            kind=SourceRecord.Kind.TRANSACTION,
            payload__type=PAYOUT,
            payload__subType__in=sorted(set().union(*others.values())) if others else [],
        )
        .values_list("payload__subType", flat=True)
        .distinct()
    )
    return [(card, None)] + [
        (account, frozenset(names)) for account, names in sorted(others.items()) if names & named
    ]


def _read(
    *,
    merchant: Merchant,
    start: datetime,
    end: datetime,
    tail: bool,
    config: MappingConfig | None,
    clearing: str | None,
    names: frozenset[str] | None,
) -> tuple[list[PayoutReconciliation], PayoutReconciliation | None]:
    """The payouts of one clearing account (`names`: the `subType`s that
    name it; None: the card one, every payout naming no other account) in
    [start, end) reconciled, and with `tail` the movements after the last
    of them (or after the last payout before `end` when the period has
    none) up to `end`, gathered in a pseudo-payout of amount 0."""
    all_payouts = SourceRecord.objects.filter(
        merchant=merchant, kind=SourceRecord.Kind.TRANSACTION, payload__type=PAYOUT
    )
    elsewhere = sorted(_other_names(config, clearing))
    if names is None:
        transactions = all_payouts.exclude(
            pk__in=all_payouts.filter(payload__subType__in=elsewhere).values("pk")
        )
    else:
        transactions = all_payouts.filter(payload__subType__in=sorted(names))
    payouts = list(
        transactions.filter(created_date__gte=start, created_date__lt=end).order_by(
            "created_date", "source_id"
        )
    )
    if not payouts and not tail:
        return [], None
    before = (
        transactions.filter(created_date__lt=payouts[0].created_date if payouts else end)
        .order_by("-created_date", "-source_id")
        .values_list("created_date", flat=True)
        .first()
    )
    first_start = before
    rows = SourceRecord.objects.filter(merchant=merchant)
    if tail:
        rows = rows.filter(created_date__lt=end)
    else:
        rows = rows.filter(created_date__lte=payouts[-1].created_date)
    if first_start is not None:
        rows = rows.filter(created_date__gt=first_start)
    tz = _zone(merchant)
    return _reconcile(
        payouts=[(p.source_id, p.payload) for p in payouts],
        records=(
            (r.kind, r.source_id, r.created_date, r.payload)
            for r in rows.order_by("created_date", "id").iterator()
        ),
        opening_known=first_start is not None,
        config=config,
        clearing=clearing,
        names=names,
        elsewhere=frozenset(elsewhere),
        tz=tz,
        tail_currency=merchant.currency if tail else None,
        tail_start=end,
    )


def _other_names(config: MappingConfig | None, clearing: str | None) -> set[str]:
    """The `subType`s ("PaymentType:<type>") of payment types cleared
    elsewhere than `clearing`: a payout or failed payout naming one belongs
    to that other account."""
    return {NAMES_PAYMENT_TYPE + t for t in PAYMENT_TYPES if _clearing(config, t) != clearing}


def _names_this_account(
    sub_type: object, names: frozenset[str] | None, elsewhere: frozenset[str]
) -> bool:
    """Whether a payout or failed payout with this `subType` belongs to the
    account of `names` (None: the card account, which takes every one not
    naming another account)."""
    if names is None:
        return sub_type not in elsewhere
    return sub_type in names


def _clearing(config: MappingConfig | None, payment_type: str) -> str | None:
    if config is None:
        return "Card" if payment_type == "Card" else None
    return config.clearing_account(payment_type)


def _reconcile(
    *,
    payouts: list[tuple[str, dict[str, Any]]],
    records: Iterable[tuple[str, str, datetime, dict[str, Any]]],
    opening_known: bool,
    config: MappingConfig | None,
    clearing: str | None,
    names: frozenset[str] | None,
    elsewhere: frozenset[str],
    tz: ZoneInfo,
    tail_currency: str | None = None,
    tail_start: datetime | None = None,
) -> tuple[list[PayoutReconciliation], PayoutReconciliation | None]:
    """Split the records between the payouts of the `clearing` account
    (pure but for parsing): the payments of types it clears, their fees,
    and the failed payouts that name it (`names`, or for the card account,
    None: every one whose `subType` is not in `elsewhere`); with
    `tail_currency`, what comes after the last payout goes to a trailing
    pseudo-payout (amount 0, in the last payout's currency, else that one)."""
    parsed_payouts: list[Transaction] = []
    for _source_id, payload in payouts:
        tx = parse_record("transaction", payload, tz)
        assert isinstance(tx, Transaction)  # noqa: S101 - kind "transaction" parses to one
        parsed_payouts.append(tx)
    results = [
        PayoutReconciliation(
            payout_id=tx.id,
            created=tx.created,
            currency=tx.currency,
            amount=tx.total,
            clearing_account=clearing if config is not None else None,
            opening=index == 0 and not opening_known,
        )
        for index, tx in enumerate(parsed_payouts)
    ]
    tail: PayoutReconciliation | None = None
    buckets = list(results)
    if tail_currency is not None:
        tail = PayoutReconciliation(
            payout_id="",
            created=tail_start or parsed_payouts[-1].created,
            currency=parsed_payouts[-1].currency if parsed_payouts else tail_currency,
            amount=ZERO,
            clearing_account=clearing if config is not None else None,
        )
        buckets.append(tail)
    boundaries = [tx.created for tx in parsed_payouts]
    payout_ids = {tx.id for tx in parsed_payouts}

    def slot(moment: datetime) -> int:
        for index, boundary in enumerate(boundaries):
            if moment <= boundary:
                return index
        return len(buckets) - 1

    orders: list[tuple[int, Order]] = []
    fees: list[tuple[int, Transaction]] = []
    payment_types: dict[str, str] = {}
    for kind, source_id, created, payload in records:
        if kind == SourceRecord.Kind.TRANSACTION and source_id in payout_ids:
            continue
        index = slot(created)
        try:
            record = parse_record(kind, payload, tz)
        except MappingError:
            buckets[index].unreadable.append(f"{kind}:{source_id}")
            continue
        if isinstance(record, Order):
            orders.append((index, record))
            for payment in record.payments:
                payment_types[payment.id] = payment.type
            if record.payments:
                payment_types.setdefault(record.id, record.payments[0].type)
        elif record.type in ("PaymentFee", "PaymentFeeRefund") or (
            record.type == "FailedPayout"
            and _names_this_account(payload.get("subType"), names, elsewhere)
        ):
            fees.append((index, record))

    for index, order in orders:
        result = buckets[index]
        for payment in order.payments:
            if payment.status not in SETTLED or _clearing(config, payment.type) != clearing:
                continue
            if payment.currency != result.currency:
                result.other_currency += 1
                continue
            line_id = f"{order.id}/{payment.id}"
            if payment.amount >= 0:
                result.payments += payment.amount
                result.payment_ids.append(line_id)
                kind_name = "Payment"
            else:
                result.refunds += payment.amount
                result.refund_ids.append(line_id)
                kind_name = "Refund"
            result.settles.append(SettledLine(line_id, kind_name, payment.amount, order.created))
    for index, tx in fees:
        result = buckets[index]
        if tx.type != "FailedPayout":
            payment_type = payment_types.get(tx.source_id or "", "Card")
            if _clearing(config, payment_type) != clearing:
                continue
        if tx.currency != result.currency:
            result.other_currency += 1
            continue
        if tx.type == "PaymentFee":
            result.fees += tx.total
        elif tx.type == "PaymentFeeRefund":
            result.fee_refunds += tx.total
        else:
            result.failed_payouts += tx.total
        result.fee_ids.append(tx.id)
        result.settles.append(SettledLine(tx.id, tx.type, tx.total, tx.created))
    for result in buckets:
        result.settles.sort(key=lambda line: line.created)

    balance = ZERO
    for result in results:
        if result.opening:
            result.balance_after = balance
            continue
        movement = (
            result.payments
            + result.refunds
            + result.fees
            + result.fee_refunds
            + result.failed_payouts
            + result.amount
        )
        balance += movement
        result.balance_after = balance
        if names is None:  # the card account's payouts settle up to their own instant
            result.residual = movement
    return results, tail
