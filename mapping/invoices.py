"""The invoice writer: one book -> the invoice set of a group.

In invoice format a day's sales become an invoice (and its refunds a credit
note) to the configured sales customer, settled by one payment per payment
type; fees become a bill from the fees supplier paid from each clearing
account; fee refunds a deposit into clearing; payouts transfers from
clearing to the bank. Amounts are positive; line taxes go through tax rates.
A credit note that offsets the day's invoice (an exchange) is allocated to
it for what the payments leave open on both (`links` on the credit note).
"""

from __future__ import annotations

from mapping.books import ZERO, Book, GroupKey, Sum, sum_for
from mapping.config import MappingConfig
from mapping.documents import (
    Bill,
    BillPayment,
    Deposit,
    DepositLine,
    Document,
    Invoice,
    InvoiceLine,
    Link,
    Payment,
    Transfer,
)
from mapping.keys import document_header
from mapping.missing import MissingMappings
from mapping.money import quantize


def invoice_set_write(
    group: GroupKey,
    book: Book,
    *,
    config: MappingConfig,
    missing: MissingMappings,
    prefix: str,
) -> list[Document]:
    """Every document of one group in invoice format, in posting order:
    invoice, credit note, payments, fee bill and its payments, fee refund
    deposits, payout transfers. Mappings the book needs but the configuration
    lacks are noted in `missing` and their documents left out."""
    currency = group[1]
    day = group[0].isoformat()
    documents: list[Document] = []
    targets: dict[bool, str] = {}
    customer = None
    if book.sales or book.payments:
        customer = config.sales_customer
        if customer is None:
            missing.sales_customer()
    issued: dict[bool, Invoice] = {}
    for refund, kind in ((False, "invoice"), (True, "creditNote")):
        lines = _invoice_lines(book, currency, refund, config=config, missing=missing)
        if lines and customer is not None:
            what = "Daily sales" if not refund else "Daily refunds"
            doc = Invoice(
                document_header(prefix, group, kind, f"{what} {day}", book),
                customer,
                config.invoice_status,
                lines,
                kind,
            )
            targets[refund] = doc.header.key
            issued[refund] = doc
            documents.append(doc)
    if False in issued and True in issued:
        _allocate_credit_note(issued[False], issued[True], book, currency)
    for (ptype, account, refund), s in book.payments.items():
        value = quantize(s.amount, currency)
        if not value or customer is None:
            continue
        link_key = targets.get(refund)
        links = (
            [Link("CreditNote" if refund else "Invoice", link_key, abs(value))] if link_key else []
        )
        what = "refunds" if refund else "payments"
        header = document_header(
            prefix,
            group,
            "payment",
            f"{ptype} {what} {day}",
            book,
            ptype,
            "refund" if refund else "sale",
        )
        documents.append(
            Payment(header, customer, account, ptype, value, links, list(dict.fromkeys(s.refs)))
        )
    if book.fees:
        documents.extend(_fee_bill(group, book, config=config, missing=missing, prefix=prefix))
    by_clearing: dict[str, list[DepositLine]] = {}
    refund_account = None
    if book.fee_refunds:
        refund_account = config.fee_refund_account()
        if refund_account is None:
            missing.fee_account()
    for (ptype, clearing), s in book.fee_refunds.items():
        value = quantize(s.amount, currency)
        if value and refund_account is not None:
            by_clearing.setdefault(clearing, []).append(
                DepositLine(
                    refund_account,
                    f"{ptype} payment fee refunds",
                    value,
                    list(dict.fromkeys(s.refs)),
                )
            )
    for clearing, deposit_lines in by_clearing.items():
        header = document_header(
            prefix, group, "deposit", f"Payment fee refunds {day}", book, clearing
        )
        documents.append(Deposit(header, clearing, deposit_lines))
    if book.payouts:
        bank = config.payout_account()
        if bank is None:
            missing.payout_account()
        for tx_id, clearing, to_bank, what in book.payouts:
            value = quantize(to_bank, currency)
            if not value or bank is None:
                continue
            source, dest = (clearing, bank) if value > 0 else (bank, clearing)
            header = document_header(prefix, group, "transfer", f"{what} {tx_id}", book, tx_id)
            documents.append(Transfer(header, source, dest, abs(value), [tx_id]))
    return documents


def _allocate_credit_note(
    invoice: Invoice, credit_note: Invoice, book: Book, currency: str
) -> None:
    """Allocate the day's credit note to its invoice for what payments leave
    open on both (an exchange: goods returned against goods bought), so that
    a fully paid day leaves neither open in receivables. The allocation is a
    link on the credit note: `{"type": "Invoice", "id": <invoice key>,
    "amount": ...}`."""
    paid = {False: ZERO, True: ZERO}
    for (_ptype, _account, refund), s in book.payments.items():
        paid[refund] += abs(quantize(s.amount, currency))
    open_invoice = invoice.total - paid[False]
    open_credit = credit_note.total - paid[True]
    amount = min(open_invoice, open_credit)
    if amount > 0:
        credit_note.links.append(Link("Invoice", invoice.header.key, amount))


def _invoice_lines(
    book: Book, currency: str, refund: bool, *, config: MappingConfig, missing: MissingMappings
) -> list[InvoiceLine]:
    """The invoice's (or, `refund`, the credit note's) lines, positive, with
    a rounding line for what rounding each line leaves over."""
    sign = -1 if refund else 1
    lines: list[InvoiceLine] = []
    exact = ZERO
    for (is_refund, _kind, account, rate, label), s in book.sales.items():
        if is_refund != refund:
            continue
        exact += (s.amount + s.tax) * sign
        sub, tax = quantize(s.amount * sign, currency), quantize(s.tax * sign, currency)
        if sub or tax:
            lines.append(InvoiceLine(account, rate, label, sub, tax, list(dict.fromkeys(s.refs))))
    residual = quantize(exact, currency) - sum((line.total for line in lines), ZERO)
    if residual:
        rounding = config.rounding_account()
        if rounding is None:
            missing.sales_account("sales", "sales")
        else:
            zero_rate = config.zero_rate()
            if zero_rate is None:
                missing.zero_rate()
            lines.append(InvoiceLine(rounding, zero_rate, "Rounding", residual, ZERO, []))
    return lines


def _fee_bill(
    group: GroupKey,
    book: Book,
    *,
    config: MappingConfig,
    missing: MissingMappings,
    prefix: str,
) -> list[Document]:
    """The day's payment fees as a bill from the fees supplier, and one bill
    payment per clearing account they were taken from."""
    currency = group[1]
    day = group[0].isoformat()
    supplier = config.fees_supplier
    if supplier is None:
        missing.fees_supplier()
    fee_account = config.fee_account()
    if fee_account is None:
        missing.fee_account()
    if supplier is None or fee_account is None:
        return []
    lines = []
    paid_from: dict[str, Sum] = {}
    for (ptype, clearing), s in book.fees.items():
        value = quantize(s.amount, currency)
        if value:
            refs = list(dict.fromkeys(s.refs))
            lines.append(
                InvoiceLine(
                    fee_account,
                    config.default_zero_rate,
                    f"{ptype} payment fees",
                    value,
                    ZERO,
                    refs,
                )
            )
            paid = sum_for(paid_from, clearing)
            paid.amount += value
            paid.refs.extend(refs)
    if not lines:
        return []
    bill = Bill(
        document_header(prefix, group, "bill", f"Payment fees {day}", book), supplier, lines
    )
    documents: list[Document] = [bill]
    for clearing, paid in paid_from.items():
        header = document_header(
            prefix, group, "billPayment", f"Payment fees paid {day}", book, clearing
        )
        link = Link("Bill", bill.header.key, paid.amount)
        documents.append(BillPayment(header, supplier, clearing, paid.amount, [link], paid.refs))
    return documents
