"""Accounting documents: what the engine produces and targets write.

`as_json()` gives the public shape (see the scenarios README): amounts as
decimal strings in the currency's minor unit, references as `{"id": ...}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from mapping.money import format_amount


def _ref(value: str | None) -> dict[str, str] | None:
    return None if value is None else {"id": value}


@dataclass(slots=True)
class Header:
    key: str
    currency: str
    date: date
    location_id: str | None
    description: str
    flags: tuple[str, ...] = ()

    def as_json(self, doc_type: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": doc_type,
            "key": self.key,
            "currency": self.currency,
            "date": self.date.isoformat(),
            "group": {"currency": self.currency, "locationId": self.location_id},
            "description": self.description,
        }
        if self.flags:
            data["flags"] = list(self.flags)
        return data

    def money(self, value: Decimal) -> str:
        return format_amount(value, self.currency)


@dataclass(slots=True)
class JournalLine:
    account_id: str
    net_amount: Decimal  # debit +, credit -
    description: str
    source_refs: list[str]
    # A sales line's tax, signed as its amount (its tax is also on the tax
    # account's line): targets whose VAT is reported per taxed line (Exact
    # Online's VAT codes) carry it there. None on other lines.
    tax_amount: Decimal | None = None


@dataclass(slots=True)
class JournalEntry:
    header: Header
    lines: list[JournalLine]
    type: str = "journalEntry"

    def as_json(self) -> dict[str, Any]:
        h = self.header
        data = h.as_json(self.type)
        data["journalLines"] = [
            {
                "accountRef": {"id": line.account_id},
                "netAmount": h.money(line.net_amount),
                "description": line.description,
                "sourceRefs": line.source_refs,
                **({"taxAmount": h.money(line.tax_amount)} if line.tax_amount else {}),
            }
            for line in self.lines
        ]
        return data


@dataclass(slots=True)
class Link:
    type: str  # Invoice, CreditNote, Bill
    key: str
    amount: Decimal


@dataclass(slots=True)
class InvoiceLine:
    account_id: str
    tax_rate_id: str | None
    description: str
    sub_total: Decimal
    tax_amount: Decimal
    source_refs: list[str]

    @property
    def total(self) -> Decimal:
        return self.sub_total + self.tax_amount


@dataclass(slots=True)
class Invoice:
    """A sales invoice, or (type creditNote) its reverse; amounts positive."""

    header: Header
    customer_id: str
    status: str
    lines: list[InvoiceLine]
    type: str = "invoice"
    # A credit note's allocations to invoices (an exchange offsets the day's
    # invoice); payments carry their own links.
    links: list[Link] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal(0))

    def as_json(self) -> dict[str, Any]:
        h = self.header
        data = h.as_json(self.type)
        data["customerRef"] = {"id": self.customer_id}
        data["status"] = self.status
        data.update(_itemised(h, self.lines))
        if self.type == "creditNote":
            data["links"] = [
                {"type": x.type, "id": x.key, "amount": h.money(x.amount)} for x in self.links
            ]
        return data


def _itemised(h: Header, lines: list[InvoiceLine]) -> dict[str, Any]:
    """Line items and their totals, as invoices, credit notes and bills show them."""
    return {
        "lineItems": [
            {
                "accountRef": {"id": line.account_id},
                "taxRateRef": _ref(line.tax_rate_id),
                "description": line.description,
                "subTotal": h.money(line.sub_total),
                "taxAmount": h.money(line.tax_amount),
                "totalAmount": h.money(line.total),
                "sourceRefs": line.source_refs,
            }
            for line in lines
        ],
        "subTotal": h.money(sum((x.sub_total for x in lines), Decimal(0))),
        "totalTaxAmount": h.money(sum((x.tax_amount for x in lines), Decimal(0))),
        "totalAmount": h.money(sum((x.total for x in lines), Decimal(0))),
    }


@dataclass(slots=True)
class Payment:
    """Money received into (+) or paid out of (-) a clearing account against
    the day's invoice or credit note."""

    header: Header
    customer_id: str
    account_id: str
    payment_type: str
    amount: Decimal
    links: list[Link]
    source_refs: list[str]
    type: str = "payment"

    def as_json(self) -> dict[str, Any]:
        h = self.header
        data = h.as_json(self.type)
        data.update(
            customerRef={"id": self.customer_id},
            accountRef={"id": self.account_id},
            paymentType=self.payment_type,
            totalAmount=h.money(self.amount),
            links=[{"type": x.type, "id": x.key, "amount": h.money(x.amount)} for x in self.links],
            sourceRefs=self.source_refs,
        )
        return data


@dataclass(slots=True)
class Bill:
    header: Header
    supplier_id: str
    lines: list[InvoiceLine]  # the same shape: account, tax rate, net, tax
    type: str = "bill"

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal(0))

    def as_json(self) -> dict[str, Any]:
        data = self.header.as_json(self.type)
        data["supplierRef"] = {"id": self.supplier_id}
        data.update(_itemised(self.header, self.lines))
        return data


@dataclass(slots=True)
class BillPayment:
    header: Header
    supplier_id: str
    account_id: str  # paid from
    amount: Decimal
    links: list[Link]
    source_refs: list[str]
    type: str = "billPayment"

    def as_json(self) -> dict[str, Any]:
        h = self.header
        data = h.as_json(self.type)
        data.update(
            supplierRef={"id": self.supplier_id},
            accountRef={"id": self.account_id},
            totalAmount=h.money(self.amount),
            links=[{"type": x.type, "id": x.key, "amount": h.money(x.amount)} for x in self.links],
            sourceRefs=self.source_refs,
        )
        return data


@dataclass(slots=True)
class DepositLine:
    account_id: str
    description: str
    amount: Decimal
    source_refs: list[str]


@dataclass(slots=True)
class Deposit:
    header: Header
    account_id: str  # paid into
    lines: list[DepositLine]
    type: str = "deposit"

    def as_json(self) -> dict[str, Any]:
        h = self.header
        data = h.as_json(self.type)
        data["accountRef"] = {"id": self.account_id}
        data["lineItems"] = [
            {
                "accountRef": {"id": line.account_id},
                "description": line.description,
                "totalAmount": h.money(line.amount),
                "sourceRefs": line.source_refs,
            }
            for line in self.lines
        ]
        data["totalAmount"] = h.money(sum((x.amount for x in self.lines), Decimal(0)))
        return data


@dataclass(slots=True)
class Transfer:
    header: Header
    from_account_id: str
    to_account_id: str
    amount: Decimal
    source_refs: list[str] = field(default_factory=list)
    type: str = "transfer"

    def as_json(self) -> dict[str, Any]:
        h = self.header
        data = h.as_json(self.type)
        data.update(
            fromAccountRef={"id": self.from_account_id},
            toAccountRef={"id": self.to_account_id},
            amount=h.money(self.amount),
            sourceRefs=self.source_refs,
        )
        return data


Document = JournalEntry | Invoice | Payment | Bill | BillPayment | Deposit | Transfer


# -- what a document refers to (in its `as_json()` shape) ---------------------------


def _lines(document: dict[str, Any]) -> list[dict[str, Any]]:
    return list(document.get("journalLines") or []) + list(document.get("lineItems") or [])


def document_account_refs(document: dict[str, Any]) -> set[str]:
    """The ids of the accounts a document (as `as_json()` gives it) posts to:
    its own `accountRef` (payments, bill payments, deposits), a transfer's
    `fromAccountRef` and `toAccountRef`, and the `accountRef` of each journal
    line and line item. Targets check these before writing anything."""
    found = {
        str(document[ref]["id"])
        for ref in ("accountRef", "fromAccountRef", "toAccountRef")
        if document.get(ref)
    }
    found.update(str(line["accountRef"]["id"]) for line in _lines(document))
    return found


def document_tax_rate_refs(document: dict[str, Any]) -> set[str]:
    """The ids of the tax rates a document's lines name (`taxRateRef.id`);
    lines without tax name none."""
    return {
        str(line["taxRateRef"]["id"])
        for line in _lines(document)
        if (line.get("taxRateRef") or {}).get("id")
    }
