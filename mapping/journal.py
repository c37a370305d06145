"""The journal writer: one book -> one balanced journal entry (or none).

Debits are positive, credits negative. Payments debit their clearing
accounts; sales, refunds and taxes are credited to their accounts (each
sales line also states its own tax, `taxAmount`, for targets that report
VAT per taxed line); fees move
from clearing to the fee account; payouts from clearing to the bank. What the
rounding of each line to the currency's minor unit leaves over goes to the
rounding account, so the entry balances exactly.
"""

from __future__ import annotations

from decimal import Decimal

from mapping.books import ZERO, Book, GroupKey
from mapping.config import MappingConfig
from mapping.documents import JournalEntry, JournalLine
from mapping.keys import document_header
from mapping.missing import MissingMappings
from mapping.money import quantize


def journal_write(
    group: GroupKey,
    book: Book,
    *,
    config: MappingConfig,
    missing: MissingMappings,
    prefix: str,
) -> JournalEntry | None:
    """The journal entry of one group (a day's summary, or its adjustments),
    or None when every line rounds to zero. Accounts the book needs but the
    configuration lacks are noted in `missing` and their lines left out."""
    currency = group[1]
    lines: list[JournalLine] = []

    def add(
        account: str | None,
        amount: Decimal,
        description: str,
        refs: list[str],
        tax: Decimal | None = None,
    ) -> None:
        if account is not None and amount:
            lines.append(JournalLine(account, amount, description, refs, tax or None))

    for (ptype, clearing, refund), s in book.payments.items():
        add(clearing, s.amount, f"{ptype} {'refunds' if refund else 'payments'}", s.refs)
    for (_refund, _kind, account, _rate, label), s in book.sales.items():
        add(account, -s.amount, label, s.refs, -s.tax)  # its tax rides along (`taxAmount`)
    for (account, label), s in book.taxes.items():
        add(account, -s.amount, label, s.refs)
    if book.fees:
        fee_account = config.fee_account()
        if fee_account is None:
            missing.fee_account()
        for (ptype, clearing), s in book.fees.items():
            add(fee_account, s.amount, f"{ptype} payment fees", s.refs)
            add(clearing, -s.amount, f"{ptype} payment fees", s.refs)
    if book.fee_refunds:
        refund_account = config.fee_refund_account()
        if refund_account is None:
            missing.fee_account()
        for (ptype, clearing), s in book.fee_refunds.items():
            add(refund_account, -s.amount, f"{ptype} payment fee refunds", s.refs)
            add(clearing, s.amount, f"{ptype} payment fee refunds", s.refs)
    if book.payouts:
        bank = config.payout_account()
        if bank is None:
            missing.payout_account()
        for tx_id, clearing, to_bank, what in book.payouts:
            label = f"{what} {tx_id}"
            add(bank, to_bank, label, [tx_id])
            add(clearing, -to_bank, label, [tx_id])
    for line in lines:
        line.net_amount = quantize(line.net_amount, currency)
        if line.tax_amount is not None:
            line.tax_amount = quantize(line.tax_amount, currency) or None
        line.source_refs = list(dict.fromkeys(line.source_refs))
    lines = [line for line in lines if line.net_amount]
    residual = sum((line.net_amount for line in lines), ZERO)
    if residual:
        rounding = config.rounding_account()
        if rounding is None:
            missing.sales_account("sales", "sales")
        add(rounding, -residual, "Rounding", [])
    if not lines:
        return None
    title = "Adjustments" if group[3] else "Daily sales summary"
    header = document_header(prefix, group, "journal", f"{title} {group[0].isoformat()}", book)
    return JournalEntry(header, lines)
