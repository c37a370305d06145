"""The balanced journal lines of a document (the `preview_sync` JSON shape)
that an accounting target writes as a general journal rather than as an
entity of its own. Pure: no HTTP; the platform's accounts (and, where it
keeps them on a line, its parties) come in through `LedgerRefs`. Each
target's translator maps the `JournalLine`s to its own JSON (MYOB's
`Amount`/`IsCredit`, Sage's `debit`/`credit`, Exact's signed `AmountFC`).

Lines per document kind (amount positive for a debit, negative for a
credit; they sum to zero whenever the document itself balances):

* journalEntry: one line per journal line (`netAmount`), its own
  description or else the document's.
* payment: debit the payment's account, credit the receivable account
  (a negative payment, money back, is the same with the signs turned).
* billPayment: debit the payable account, credit the payment's account.
* bill (only where `LedgerRefs.tax_paid` is given): debit each line's
  account with its net amount and the tax-paid account of its tax code with
  its tax, credit the payable account with the total.
* deposit (fee refunds): debit the deposit's account with the total,
  credit each line's account with its amount.
* transfer (payouts): debit the receiving account, credit the sending one.
* any other kind: no lines (the caller says the platform cannot take it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from commerce_sync.errors import DocumentRejected


@dataclass(frozen=True)
class JournalLine:
    """One journal line: the platform's account id, the amount (Decimal in
    the document's currency, positive for a debit, negative for a credit),
    its words, and the platform's id of the customer or supplier on it
    (only on the receivable or payable line, and only where the target
    asked for parties)."""

    account: str
    amount: Decimal
    description: str
    party: str | None = None


@dataclass(frozen=True)
class LedgerRefs:
    """How one target resolves what the lines name, each callable raising
    the target's own error for what its books lack:

    * account: our account id (an `accountRef` id) -> the platform's id;
    * receivable / payable: the control accounts money in and bills settle
      against;
    * tax_paid: a tax code -> the account that takes the tax paid on bills;
      None where bills are not written as journals (then a bill has no lines);
    * customer / supplier: a `customerRef` / `supplierRef` id -> the party
      put on the receivable / payable line; None leaves lines without one
      (and never reads the document's party);
    * tax_word: how the platform names tax in the bill-line error ("tax",
      "VAT")."""

    account: Callable[[str], str]
    receivable: Callable[[], str]
    payable: Callable[[], str]
    tax_paid: Callable[[str], str] | None = None
    customer: Callable[[str], str] | None = None
    supplier: Callable[[str], str] | None = None
    tax_word: str = "tax"


def journal_lines(document: dict[str, Any], refs: LedgerRefs) -> list[JournalLine]:
    """The journal lines of `document` (see the module docstring), in order.
    Raises `DocumentRejected` for a bill line with tax but no tax code, and
    whatever `refs` raises for an account or party it cannot resolve."""
    kind = document["type"]
    text = str(document.get("description") or "")
    if kind == "journalEntry":
        return [
            JournalLine(
                refs.account(line["accountRef"]["id"]),
                Decimal(line["netAmount"]),
                str(line.get("description") or text),
            )
            for line in document["journalLines"]
        ]
    if kind == "payment":
        total = Decimal(document["totalAmount"])
        customer = refs.customer(document["customerRef"]["id"]) if refs.customer else None
        return [
            JournalLine(refs.account(document["accountRef"]["id"]), total, text),
            JournalLine(refs.receivable(), -total, text, customer),
        ]
    if kind == "billPayment":
        total = Decimal(document["totalAmount"])
        supplier = refs.supplier(document["supplierRef"]["id"]) if refs.supplier else None
        return [
            JournalLine(refs.payable(), total, text, supplier),
            JournalLine(refs.account(document["accountRef"]["id"]), -total, text),
        ]
    if kind == "bill" and refs.tax_paid is not None:
        return _bill(document, refs, refs.tax_paid, text)
    if kind == "deposit":
        lines = [
            JournalLine(
                refs.account(document["accountRef"]["id"]), Decimal(document["totalAmount"]), text
            )
        ]
        for item in document["lineItems"]:
            lines.append(
                JournalLine(
                    refs.account(item["accountRef"]["id"]),
                    -Decimal(item["totalAmount"]),
                    item["description"],
                )
            )
        return lines
    if kind == "transfer":
        amount = Decimal(document["amount"])
        return [
            JournalLine(refs.account(document["toAccountRef"]["id"]), amount, text),
            JournalLine(refs.account(document["fromAccountRef"]["id"]), -amount, text),
        ]
    return []


def _bill(
    document: dict[str, Any], refs: LedgerRefs, tax_paid: Callable[[str], str], text: str
) -> list[JournalLine]:
    supplier = refs.supplier(document["supplierRef"]["id"]) if refs.supplier else None
    lines: list[JournalLine] = []
    total = Decimal(0)
    for item in document["lineItems"]:
        net, tax = Decimal(item["subTotal"]), Decimal(item.get("taxAmount") or 0)
        lines.append(JournalLine(refs.account(item["accountRef"]["id"]), net, item["description"]))
        if tax:
            code = (item.get("taxRateRef") or {}).get("id")
            if not code:
                raise DocumentRejected(
                    f"Bill line {item['description']!r} has {refs.tax_word} "
                    f"but no {refs.tax_word} code"
                )
            lines.append(JournalLine(tax_paid(code), tax, item["description"]))
        total += net + tax
    lines.append(JournalLine(refs.payable(), -total, text, supplier))
    return lines
