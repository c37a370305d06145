"""Documents as Beancount text. Pure: no file is read or written here.

Two parts: `build_entry` turns one document into balanced postings (or
refuses it), and the `render_*` helpers print Beancount directives. Reading
the ledger back is `connectors.beancount.ledger`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import regex
from beancount.core import account as bc_account
from beancount.core.amount import CURRENCY_RE

from commerce_sync.errors import DocumentRejected

# Opens are dated before any plausible document so every posting finds its account active.
OPEN_DATE = date(2000, 1, 1)
RECEIVABLE_ROOT = "Assets:Receivable"
PAYABLE_ROOT = "Liabilities:Payable"
KEY_META = "push-key"
TYPE_META = "doc-type"
TAX_RATE_META = "tax-rate"

LABELS = {
    "invoice": "Invoice",
    "creditNote": "Credit note",
    "payment": "Payment",
    "bill": "Bill",
    "billPayment": "Bill payment",
    "deposit": "Deposit",
    "transfer": "Transfer",
    "journalEntry": "Journal entry",
}


@dataclass(frozen=True)
class Posting:
    account: str
    amount: Decimal
    role: str = "Account"  # how a refusal names it: "Account" or "Tax rate"
    description: str = ""  # the document line's own words ("Sales 20 %"), as preview_sync shows


@dataclass
class Entry:
    """One document, ready to print as a transaction."""

    doc_type: str
    date: date
    currency: str
    narration: str
    postings: list[Posting] = field(default_factory=list)
    # Control accounts this entry uses, with the metadata to open each one with.
    controls: dict[str, dict[str, str]] = field(default_factory=dict)

    def add(
        self, account: str, amount: Decimal, role: str = "Account", description: Any = None
    ) -> None:
        if amount:  # a zero posting moves nothing
            text = description.strip() if isinstance(description, str) else ""
            self.postings.append(Posting(account, amount, role, text))


# -- reading document fields ------------------------------------------------


def _amount(
    obj: Mapping[str, Any], name: str, where: str, default: Decimal | None = None
) -> Decimal:
    value = obj.get(name)
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise DocumentRejected(f"The {where} has no valid amount in {name!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise DocumentRejected(f"The {where} has {name} {value!r}, which is not a number") from None
    if not number.is_finite():
        raise DocumentRejected(f"The {where} has {name} {value!r}, which is not a number")
    return number


def _ref(obj: Mapping[str, Any], name: str, where: str) -> str:
    ref = obj.get(name)
    ref_id = ref.get("id") if isinstance(ref, Mapping) else None
    if not isinstance(ref_id, str) or not ref_id.strip():
        raise DocumentRejected(f"The {where} has no {name}.id")
    return ref_id.strip()


def _lines(doc: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    lines = doc.get(name)
    if not isinstance(lines, list) or not all(isinstance(x, Mapping) for x in lines):
        raise DocumentRejected(f"The {doc['type']} has no list of {name}")
    return lines


def _date(doc: Mapping[str, Any]) -> date:
    value = doc.get("date")
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip()).date()
        except ValueError:
            pass
    raise DocumentRejected(f"The {doc['type']} has no valid date (got {value!r})")


def _currency(doc: Mapping[str, Any]) -> str:
    value = doc.get("currency")
    if not isinstance(value, str) or not regex.fullmatch(CURRENCY_RE, value):
        raise DocumentRejected(f"The {doc['type']} has no valid currency code (got {value!r})")
    return value


# -- control accounts --------------------------------------------------------


def control_account(root: str, party_id: str) -> str:
    """The receivable/payable account of one customer or supplier.

    An id that is already a valid account component is used as is; any other
    is cleaned and suffixed with a short hash of the original, so two ids
    that clean to the same text still get separate accounts.
    """
    if ":" not in party_id and bc_account.is_valid_leaf(party_id):
        return f"{root}:{party_id}"
    cleaned = regex.sub(r"[^\p{L}\p{Nd}]+", "-", party_id).strip("-")
    cleaned = cleaned[:1].upper() + cleaned[1:]
    if not regex.match(r"[\p{Lu}\p{Nd}]", cleaned):  # empty, or a letter with no capital
        cleaned = f"X-{cleaned}".rstrip("-")
    digest = hashlib.sha256(party_id.encode()).hexdigest()[:8]
    return f"{root}:{cleaned}-{digest}"


def _receivable(entry: Entry, doc: Mapping[str, Any]) -> str:
    party = _ref(doc, "customerRef", entry.doc_type)
    name = control_account(RECEIVABLE_ROOT, party)
    entry.controls[name] = {"name": f"Receivable: {party}", "customer": party}
    return name


def _payable(entry: Entry, doc: Mapping[str, Any]) -> str:
    party = _ref(doc, "supplierRef", entry.doc_type)
    name = control_account(PAYABLE_ROOT, party)
    entry.controls[name] = {"name": f"Payable: {party}", "supplier": party}
    return name


# -- postings per document type (signs as in the scenarios README) ------------


def _item_lines(entry: Entry, doc: Mapping[str, Any], sign: int) -> None:
    """Each line's net and tax on their accounts, with `sign` (+1 debit)."""
    for n, line in enumerate(_lines(doc, "lineItems"), 1):
        where = f"{entry.doc_type} line {n}"
        tax = _amount(line, "taxAmount", where, Decimal(0))
        if "subTotal" in line:
            net = _amount(line, "subTotal", where)
        else:
            net = _amount(line, "totalAmount", where) - tax
        words = line.get("description")
        entry.add(_ref(line, "accountRef", where), sign * net, description=words)
        if tax:  # only taxed lines need a real tax account; "NONE" is fine at zero
            entry.add(
                _ref(line, "taxRateRef", where),
                sign * tax,
                role="Tax rate",
                description=f"Tax on {words}" if isinstance(words, str) and words else None,
            )


def _invoice(entry: Entry, doc: Mapping[str, Any], sign: int = 1) -> None:
    entry.add(_receivable(entry, doc), sign * _amount(doc, "totalAmount", entry.doc_type))
    _item_lines(entry, doc, -sign)


def _credit_note(entry: Entry, doc: Mapping[str, Any]) -> None:
    _invoice(entry, doc, sign=-1)


def _payment(entry: Entry, doc: Mapping[str, Any]) -> None:
    total = _amount(doc, "totalAmount", entry.doc_type)
    entry.add(_ref(doc, "accountRef", entry.doc_type), total)
    entry.add(_receivable(entry, doc), -total)


def _bill(entry: Entry, doc: Mapping[str, Any]) -> None:
    _item_lines(entry, doc, +1)
    entry.add(_payable(entry, doc), -_amount(doc, "totalAmount", entry.doc_type))


def _bill_payment(entry: Entry, doc: Mapping[str, Any]) -> None:
    total = _amount(doc, "totalAmount", entry.doc_type)
    entry.add(_ref(doc, "accountRef", entry.doc_type), -total)
    entry.add(_payable(entry, doc), total)


def _deposit(entry: Entry, doc: Mapping[str, Any]) -> None:
    entry.add(_ref(doc, "accountRef", entry.doc_type), _amount(doc, "totalAmount", "deposit"))
    for n, line in enumerate(_lines(doc, "lineItems"), 1):
        where = f"deposit line {n}"
        entry.add(
            _ref(line, "accountRef", where),
            -_amount(line, "totalAmount", where),
            description=line.get("description"),
        )


def _transfer(entry: Entry, doc: Mapping[str, Any]) -> None:
    amount = _amount(doc, "amount", "transfer")
    entry.add(_ref(doc, "fromAccountRef", "transfer"), -amount)
    entry.add(_ref(doc, "toAccountRef", "transfer"), amount)


def _journal_entry(entry: Entry, doc: Mapping[str, Any]) -> None:
    for n, line in enumerate(_lines(doc, "journalLines"), 1):
        where = f"journal line {n}"
        entry.add(
            _ref(line, "accountRef", where),
            _amount(line, "netAmount", where),
            description=line.get("description"),
        )


_BUILDERS: dict[str, Callable[[Entry, Mapping[str, Any]], None]] = {
    "invoice": _invoice,
    "creditNote": _credit_note,
    "payment": _payment,
    "bill": _bill,
    "billPayment": _bill_payment,
    "deposit": _deposit,
    "transfer": _transfer,
    "journalEntry": _journal_entry,
}


def build_entry(doc: Mapping[str, Any]) -> Entry:
    """The balanced entry for one document; `DocumentRejected` when malformed."""
    doc_type = doc.get("type")
    builder = _BUILDERS.get(doc_type) if isinstance(doc_type, str) else None
    if builder is None:
        raise DocumentRejected(f"Unknown document type {doc_type!r}")
    description = doc.get("description") or doc.get("note")
    label = LABELS[doc_type]
    entry = Entry(
        doc_type=doc_type,
        date=_date(doc),
        currency=_currency(doc),
        narration=f"{label}: {description}" if isinstance(description, str) else label,
    )
    builder(entry, doc)
    for posting in entry.postings:
        if not bc_account.is_valid(posting.account):
            raise DocumentRejected(
                f"{posting.role} {posting.account} is not a valid Beancount account name"
            )
    left = sum((p.amount for p in entry.postings), Decimal(0))
    if left:
        raise DocumentRejected(
            f"The {doc_type} does not balance: its postings leave {left:f} {entry.currency} over"
        )
    return entry


# -- printing ---------------------------------------------------------------


def quote(text: str) -> str:
    """A Beancount string literal (the parser reads C-style escapes)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render_header(title: str, currency: str) -> str:
    return f'option "title" {quote(title)}\noption "operating_currency" {quote(currency)}\n'


def render_open(account: str, meta: Mapping[str, str]) -> str:
    lines = [f"{OPEN_DATE.isoformat()} open {account}"]
    lines += [f"  {k}: {quote(v)}" for k, v in meta.items()]
    return "\n".join(lines) + "\n"


def render_transaction(entry: Entry, key: str) -> str:
    lines = [
        f"{entry.date.isoformat()} * {quote(entry.narration)}",
        f"  {KEY_META}: {quote(key)}",
        f"  {TYPE_META}: {quote(entry.doc_type)}",
    ]
    width = max((len(p.account) for p in entry.postings), default=0)
    numbers = [f"{p.amount:f}" for p in entry.postings]
    digits = max((len(n) for n in numbers), default=0)
    for posting, number in zip(entry.postings, numbers, strict=True):
        lines.append(f"  {posting.account:<{width}}  {number:>{digits}} {entry.currency}")
        if posting.description:  # posting metadata: Fava shows it under the posting
            lines.append(f"    description: {quote(posting.description)}")
    return "\n".join(lines) + "\n"
