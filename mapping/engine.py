"""The rules engine: a period's canonical records + configuration -> documents.

The entry point of the mapping package. `map_period` runs the phases:

1. posting (`mapping.posting`, with `mapping.taxes`): records are streamed
   once into per-group books of sums (`mapping.books`); orders with a
   payment not settled yet wait (`MappingResult.waiting`);
2. writing: each book becomes a journal entry (`mapping.journal`) or the
   invoice set (`mapping.invoices`), keyed by `mapping.keys`
   (see PRODUCT.md section 5);
3. refusal: errors found in the records, then every mapping the period
   needed that the configuration lacks (`mapping.missing`), refuse the
   whole period.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any

from mapping.books import GroupKey
from mapping.bulk import gc_paused
from mapping.canonical import CommerceData, Order, Transaction
from mapping.config import MappingConfig
from mapping.documents import Document
from mapping.errors import Issue
from mapping.invoices import invoice_set_write
from mapping.journal import journal_write
from mapping.missing import MissingMappings
from mapping.periods import Period
from mapping.posting import PaymentIndex, Posting, has_open_payment


@dataclass(slots=True)
class MappingResult:
    """The documents of a period, or (when `errors` is not empty) none.

    `waiting` holds the ids of the orders left for a later period because a
    payment is not settled yet (each named in a warning too): a sync must
    not count them as posted."""

    documents: list[Document]
    warnings: list[Issue]
    errors: list[Issue]
    waiting: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "documents": [doc.as_json() for doc in self.documents],
            "warnings": [w.as_json() for w in self.warnings],
            "errors": [e.as_json() for e in self.errors],
        }


@dataclass(frozen=True, slots=True)
class Edit:
    """A record posted before (`previous`) that the source has since changed."""

    previous: Order | Transaction
    current: Order | Transaction


def payment_index(orders: Iterable[Order]) -> PaymentIndex:
    """payment id -> (payment type, order location), for fees that name a
    payment; an order's id names its first payment, for fees that name the order."""
    index: PaymentIndex = {}
    for order in orders:
        _index_order(index, order)
    return index


def _index_order(index: PaymentIndex, order: Order) -> None:
    payments = order.payments
    if payments:
        location = order.location_id
        for payment in payments:
            index[payment.id] = (payment.type, location)
        index.setdefault(order.id, (payments[0].type, location))


def map_period(
    data: CommerceData,
    config: MappingConfig,
    period: Period,
    *,
    key_prefix: str,
    late: Iterable[Order | Transaction] = (),
    edits: Iterable[Edit] = (),
    payment_types: PaymentIndex | None = None,
) -> MappingResult:
    """Map one period. Records outside it are left for their own period (and
    reported); `late` records belong to periods already posted and are posted
    on the period's last day, flagged; `edits` post the difference between a
    record's posted and current versions. `payment_types` tells the payment
    type and location of payments from earlier periods (for their fees).
    Never raises for bad data: refusals come back as `errors`."""
    with gc_paused():
        return _map_period(data, config, period, key_prefix, list(late), list(edits), payment_types)


def _map_period(
    data: CommerceData,
    config: MappingConfig,
    period: Period,
    key_prefix: str,
    late: list[Order | Transaction],
    edits: list[Edit],
    payment_types: PaymentIndex | None,
) -> MappingResult:
    missing = MissingMappings()
    posting = Posting(data, config, period, missing)
    posting.warnings.extend(data.notes)
    index = posting.payment_index
    if payment_types:
        index.update(payment_types)
    index.update(payment_index(r for r in late if isinstance(r, Order)))
    index.update(payment_index(e.current for e in edits if isinstance(e.current, Order)))
    last_day = period.last_day
    outside = 0
    # One pass: orders may be a stream. Their payments are indexed on the way,
    # before the transactions (fees) that name them are read.
    for order in data.orders:
        _index_order(index, order)
        if not config.sync_sales:
            continue
        if not period.contains(order.created):
            outside += 1
            continue
        if posting.waits(order):
            continue
        day = posting.day_of(order.created)
        posting.post_order(order, posting.book(day, order.currency, order.location_id), 1)
    for tx in data.transactions:
        if not period.contains(tx.created):
            outside += 1
            continue
        day = posting.day_of(tx.created)
        posting.post_transaction(tx, partial(posting.book, day, tx.currency), 1)
    if outside:
        posting.warnings.append(
            Issue(
                "OutsidePeriod",
                f"{outside} record(s) were created outside the period and are left for their own period",
            )
        )
    for record in late:
        if isinstance(record, Order) and config.sync_sales and posting.waits(record):
            continue
        posting.post_flagged(record, last_day, "", "late", 1)
        posting.warnings.append(
            Issue(
                "LateRecord",
                f"{type(record).__name__} {record.id} arrived after its day was posted; it is posted on {last_day}",
            )
        )
    for edit in edits:
        if edit.previous.id != edit.current.id:
            posting.errors.append(
                Issue("InvalidEdit", f"An edit pairs {edit.previous.id} with {edit.current.id}")
            )
            continue
        current = edit.current
        if isinstance(current, Order) and config.sync_sales and posting.waits(current):
            continue  # the whole edit waits with it
        if not (isinstance(edit.previous, Order) and has_open_payment(edit.previous)):
            # (a version that waited was never posted: nothing to reverse)
            posting.post_flagged(edit.previous, last_day, "adjustment", "adjustment", -1)
        posting.post_flagged(edit.current, last_day, "adjustment", "adjustment", 1)
        posting.warnings.append(
            Issue(
                "Adjustment",
                f"{type(edit.current).__name__} {edit.current.id} changed after it was posted; the difference is posted on {last_day}",
            )
        )
    return _finish(posting, missing, config, key_prefix)


def _finish(
    posting: Posting, missing: MissingMappings, config: MappingConfig, prefix: str
) -> MappingResult:
    """Write every book out, in group order; refuse the period if posting
    found errors or any phase needed a mapping that is missing."""
    for payment_type, count in sorted(posting.zero_tenders.items()):
        posting.warnings.append(
            Issue(
                "ZeroPayment",
                f"{count} {payment_type} payment(s) of 0.00 (a comp or an empty voucher): "
                "no money moved, nothing is posted for them",
            )
        )
    documents: list[Document] = []
    for group in sorted(posting.books, key=_group_order):
        book = posting.books[group]
        if not book.journal:
            documents.extend(
                invoice_set_write(group, book, config=config, missing=missing, prefix=prefix)
            )
        else:
            entry = journal_write(group, book, config=config, missing=missing, prefix=prefix)
            if entry is not None:
                documents.append(entry)
    errors = posting.errors + missing.issues()
    if errors:
        return MappingResult([], posting.warnings, _dedupe(errors), posting.waiting)
    return MappingResult(documents, posting.warnings, [], posting.waiting)


def _group_order(group: GroupKey) -> tuple[date, str, str, str]:
    return (group[0], group[1], group[2] or "", group[3])


def _dedupe(issues: list[Issue]) -> list[Issue]:
    return list(dict.fromkeys(issues))
