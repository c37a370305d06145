"""The rules engine: a period's canonical records + configuration -> documents.

Records are streamed once into per-group books (day, currency, location):
sums keyed by what ends up as one document line. Memory grows with the number
of distinct lines, not of orders. The books are then written out as journal
entries or as the invoice set (see PRODUCT.md section 5).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from mapping.bulk import gc_paused
from mapping.canonical import CommerceData, Order, OrderLine, Transaction
from mapping.config import INVOICE, MappingConfig
from mapping.documents import (
    Bill,
    BillPayment,
    Deposit,
    DepositLine,
    Document,
    Header,
    Invoice,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    Link,
    Payment,
    Transfer,
)
from mapping.errors import Issue
from mapping.money import format_amount, quantize
from mapping.periods import Period, local_instant

ZERO = Decimal(0)
_UNSET = object()
SETTLED = frozenset({"Paid"})
_MIRRORED = frozenset({"Payment", "Refund"})  # carried by order payments already
_KEY_LIMIT = 120  # Xero caps idempotency keys at 128 characters


@dataclass(slots=True)
class Sum:
    amount: Decimal = ZERO
    tax: Decimal = ZERO
    refs: list[str] = field(default_factory=list)

    def add(self, amount: Decimal, tax: Decimal, ref: str) -> None:
        self.amount += amount
        self.tax += tax
        self.refs.append(ref)


# (refund?, kind, account, rate key, description)
SalesKey = tuple[bool, str, str, str | None, str]


@dataclass(slots=True)
class Book:
    """Everything one group of documents will say, before formatting."""

    sales: dict[SalesKey, Sum] = field(default_factory=dict)
    taxes: dict[tuple[str, str], Sum] = field(default_factory=dict)
    payments: dict[tuple[str, str, bool], Sum] = field(default_factory=dict)
    fees: dict[tuple[str, str], Sum] = field(default_factory=dict)
    fee_refunds: dict[tuple[str, str], Sum] = field(default_factory=dict)
    payouts: list[tuple[str, str, Decimal]] = field(
        default_factory=list
    )  # (tx id, clearing, +to bank)
    flags: set[str] = field(default_factory=set)
    journal: bool = True  # taxes to liability accounts; else through tax rates


GroupKey = tuple[date, str, str | None, str]  # day, currency, location, section


@dataclass(slots=True)
class MappingResult:
    documents: list[Document]
    warnings: list[Issue]
    errors: list[Issue]

    def as_json(self) -> dict[str, list[dict]]:
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


def _sum(table: dict, key: object) -> Sum:
    found = table.get(key)
    if found is None:
        found = table[key] = Sum()
    return found


def _pct(value: Decimal) -> str:
    return format(value.normalize(), "f")


class _Mapper:
    def __init__(
        self, data: CommerceData, config: MappingConfig, period: Period, prefix: str
    ) -> None:
        self.data = data
        self.config = config
        self.period = period
        self.prefix = prefix
        self.books: dict[GroupKey, Book] = {}
        self.warnings: list[Issue] = []
        self.errors: list[Issue] = []
        self.invoice = config.output_format == INVOICE
        self._line_targets: dict[tuple, tuple[str, str, str | None, str] | None] = {}
        self._clearing: dict[str, str | None] = {}
        self._tax_account: object = _UNSET
        self._day_starts, self._days = _day_starts(period)
        # payment id -> (type, location): fees name the payment they belong to
        self.payment_index: dict[str, tuple[str, str | None]] = {}

    # -- reading records into books --

    def day_of(self, instant) -> date:
        """The business day of an instant inside the period."""
        return self._days[bisect_right(self._day_starts, instant) - 1]

    def book(self, day: date, currency: str, location: str | None, section: str = "") -> Book:
        key = (day, currency, location if self.config.group_by_location else None, section)
        found = self.books.get(key)
        if found is None:
            # Adjustments are journals whatever the format: a difference can be negative.
            found = self.books[key] = Book(journal=not self.invoice or bool(section))
        return found

    def index_payments(self, orders: Iterable[Order]) -> None:
        self.payment_index.update(payment_index(orders))

    def _line_target(
        self, line: OrderLine, refund: bool, invoice: bool, currency: str
    ) -> tuple[str, str, str | None, str] | None:
        """(kind, account, rate key, description) for a product line, cached
        because a day repeats few distinct combinations."""
        percentage = line.tax_percentage
        if percentage is None and line.tax:
            percentage = self._percentage(line.tax, line.net, line.taxes, currency)
        components = tuple(p.component_id for p in line.taxes) if line.taxes else ()
        cache_key = (line.product_id, refund, percentage, invoice, components)
        if cache_key in self._line_targets:
            return self._line_targets[cache_key]
        product = self.data.products.get(line.product_id) if line.product_id else None
        config = self.config
        if product is not None and product.is_gift_card:
            kind, label = "prepaid", "Gift cards " + ("refunded" if refund else "sold")
            account = config.sales_account("prepaid", "prepaid (gift card)")
            rate = config.zero_rate() if invoice else None
        else:
            if refund:
                kind, account, label = "refund", config.refund_account(), "Refunds"
            else:
                category = product.category_id if product else None
                kind, account = "sales", config.revenue_account(category)
                label = "Sales"
                if category is not None and f"category-{category}".lower() in config.sales:
                    label = f"Sales {self.data.categories.get(category, category)}"
            rate, shown = self._line_rate(percentage, invoice, line.taxes, line.net, currency)
            label = f"{label} {shown}"
        target = (
            None if account is None or (invoice and rate is None) else (kind, account, rate, label)
        )
        self._line_targets[cache_key] = target
        return target

    def _percentage(
        self, tax: Decimal, net: Decimal, taxes: tuple, currency: str
    ) -> Decimal | None:
        """The rate of a taxed line that does not state it: from its tax
        components, else the mapped rate that gives exactly its tax amount."""
        known = [self.data.tax_components.get(p.component_id or "") for p in taxes]
        if taxes and all(c is not None and c.rate is not None for c in known):
            return sum((c.rate for c in known), ZERO)  # type: ignore[union-attr]
        if not net:
            return None
        for rate in self.config.tax_rates:
            if rate and quantize(net * rate / 100, currency) == quantize(tax, currency):
                return rate
        try:
            return (tax / net * 100).quantize(Decimal("0.001"))
        except ArithmeticError:  # absurd amounts: no rate to name
            return None

    def _line_rate(
        self, percentage: Decimal | None, invoice: bool, taxes: tuple, net: Decimal, currency: str
    ) -> tuple[str | tuple[tuple[str, str], ...] | None, str]:
        """As `_rate`; in invoice format, a line taxed by several components
        whose combined rate is not mapped but each component's rate is, is
        split: one line per component rate (the net on the first)."""
        if invoice and taxes and percentage and percentage not in self.config.tax_rates:
            split = self._component_rates(taxes, net, currency)
            if split is not None:
                return split, ""  # each component line is labelled with its own rate
        return self._rate(percentage, invoice)

    def _component_rates(
        self, taxes: tuple, net: Decimal, currency: str
    ) -> tuple[tuple[str, str], ...] | None:
        """(tax rate id, label) per component, or None if one is not mapped."""
        rates = []
        for part in taxes:
            component = self.data.tax_components.get(part.component_id or "")
            percentage = component.rate if component is not None else None
            if percentage is None and net:
                percentage = next(
                    (
                        r
                        for r in self.config.tax_rates
                        if quantize(net * r / 100, currency) == quantize(part.amount, currency)
                    ),
                    None,
                )
            found = None if percentage is None else self.config.tax_rates.get(percentage)
            if found is None:
                return None
            rates.append((found, f"{_pct(percentage)}%"))
        return tuple(rates)

    def _rate(self, percentage: Decimal | None, invoice: bool) -> tuple[str | None, str]:
        """The rate key (tax rate id in invoice format) and its label."""
        shown = "untaxed" if percentage is None else f"{_pct(percentage)}%"
        if not invoice:
            return None, shown
        return self.config.tax_rate(percentage, shown), shown

    def post_order(self, order: Order, book: Book, sign: int) -> None:
        # The hot loop of a large day: sums are updated in place, lookups cached.
        config = self.config
        oid = order.id
        currency = order.currency
        invoice = not book.journal
        sales = book.sales
        gross = config.gross_discounts
        expected = order.gratuity
        for line in order.lines:
            total, tax = line.total, line.tax
            expected += total
            refund = total < 0
            target = self._line_target(line, refund, invoice, currency)
            if target is None:
                continue
            kind, account, rate, label = target
            net = total - tax
            if sign != 1:
                net, tax = -net, -tax
            if gross and line.discount and kind != "prepaid":
                off = abs(line.discount) if refund else -abs(line.discount)
                off = off if sign == 1 else -off
                _sum(sales, (refund, "discount", config.sales["discount"], rate, "Discounts")).add(
                    off, ZERO, oid
                )
                net -= off
            if type(rate) is tuple:  # one invoice line per component rate
                self._post_split(
                    sales, (refund, kind, account, label), rate, line.taxes, net, sign, oid
                )
                continue
            key = (refund, kind, account, rate, label)
            bucket = sales.get(key)
            if bucket is None:
                bucket = sales[key] = Sum()
            bucket.amount += net
            bucket.tax += tax
            bucket.refs.append(oid)
            if tax and not invoice:
                if line.taxes:
                    self._post_tax(
                        book, line.taxes, line.tax, sign, oid, f"order {oid} line {line.id}"
                    )
                else:
                    self._post_plain_tax(book, tax, oid)
        for charge in order.service_charges:
            expected += charge.total
            refund = charge.total < 0
            account = config.refund_account() if refund else config.service_charge_account()
            percentage = charge.tax_percentage
            if percentage is None and charge.tax:
                percentage = self._percentage(charge.tax, charge.net, charge.taxes, order.currency)
            rate, shown = self._line_rate(
                percentage, invoice, charge.taxes, charge.net, order.currency
            )
            if account is None or (invoice and rate is None):
                continue
            label = f"{'Refunded ' if refund else ''}{charge.description} {shown}"
            if type(rate) is tuple:
                head = (refund, "service", account, label)
                self._post_split(book.sales, head, rate, charge.taxes, charge.net * sign, sign, oid)
            else:
                _sum(book.sales, (refund, "service", account, rate, label)).add(
                    charge.net * sign, charge.tax * sign, oid
                )
            if book.journal and charge.tax:
                self._post_tax(
                    book, charge.taxes, charge.tax, sign, oid, f"order {oid} service charge"
                )
        if order.gratuity:
            account = config.sales_account("gratuity", "gratuity")
            rate = config.zero_rate() if invoice else None
            if account is not None:
                refund = order.gratuity < 0
                _sum(book.sales, (refund, "gratuity", account, rate, "Gratuity")).add(
                    order.gratuity * sign, ZERO, oid
                )
        settled = ZERO
        for payment in order.payments:
            if payment.status not in SETTLED:
                self.warnings.append(
                    Issue(
                        "PaymentNotSettled",
                        f"Order {oid}: payment {payment.id} is {payment.status}; it is not posted",
                    )
                )
                continue
            if payment.currency != order.currency:
                self.errors.append(
                    Issue(
                        "CurrencyMismatch",
                        f"Order {oid}: payment {payment.id} is in {payment.currency}, the order in {order.currency}",
                    )
                )
                continue
            amount = payment.amount
            settled += amount
            account = self._clearing.get(payment.type)
            if account is None:
                account = self._clearing[payment.type] = config.clearing_account(payment.type)
            if account is not None and config.sync_payments:
                key = (payment.type, account, amount < 0)
                bucket = book.payments.get(key)
                if bucket is None:
                    bucket = book.payments[key] = Sum()
                bucket.amount += amount if sign == 1 else -amount
                bucket.refs.append(oid)
        if settled != expected:
            cur = order.currency
            self.errors.append(
                Issue(
                    "UnbalancedOrder",
                    f"Order {oid}: settled payments total {format_amount(settled, cur)} but its lines, "
                    f"service charges and gratuity total {format_amount(expected, cur)}; "
                    "correct the order in the point of sale",
                )
            )

    def _post_split(
        self,
        sales: dict,
        head: tuple,
        rates: tuple,
        taxes: tuple,
        net: Decimal,
        sign: int,
        ref: str,
    ) -> None:
        refund, kind, account, label = head
        for index, (part, (rate, shown)) in enumerate(zip(taxes, rates, strict=True)):
            bucket = _sum(sales, (refund, kind, account, rate, f"{label}{shown}"))
            bucket.add(net if index == 0 else ZERO, part.amount if sign == 1 else -part.amount, ref)

    def _post_plain_tax(self, book: Book, tax: Decimal, ref: str) -> None:
        """Tax of a line without components, already signed, to the tax account."""
        if self._tax_account is _UNSET:
            self._tax_account = self.config.tax_account(None, "tax")
        if self._tax_account is not None:
            key = (self._tax_account, "Tax")
            bucket = book.taxes.get(key)
            if bucket is None:
                bucket = book.taxes[key] = Sum()
            bucket.amount += tax
            bucket.refs.append(ref)

    def _post_tax(
        self, book: Book, parts: tuple, tax: Decimal, sign: int, ref: str, where: str
    ) -> None:
        if not parts:
            account = self.config.tax_account(None, "tax")
            if account is not None:
                _sum(book.taxes, (account, "Tax")).add(tax * sign, ZERO, ref)
            return
        if sum((p.amount for p in parts), ZERO) != tax:
            self.errors.append(
                Issue(
                    "TaxComponentMismatch",
                    f"The tax components of {where} do not add up to its tax amount {tax}",
                )
            )
            return
        for part in parts:
            account = self.config.tax_account(part.component_id, f"tax component {part.name}")
            if account is not None and part.amount:
                _sum(book.taxes, (account, f"Tax {part.name}")).add(part.amount * sign, ZERO, ref)

    def post_transaction(self, tx: Transaction, book_for, sign: int) -> None:
        config = self.config
        if tx.type in _MIRRORED:
            return
        if tx.type in ("Transfer", "Unknown"):
            self.warnings.append(
                Issue(
                    "TransactionNotPosted",
                    f"Transaction {tx.id} of type {tx.type} has no accounting rule; it is not posted",
                )
            )
            return
        indexed = self.payment_index.get(tx.source_id) if tx.source_id else None
        payment_type, location = indexed if indexed else ("Card", None)
        book: Book = book_for(location)
        if tx.type in ("PaymentFee", "PaymentFeeRefund"):
            if not config.sync_fees:
                return
            clearing = config.clearing_account(payment_type)
            if tx.type == "PaymentFee":
                config.fee_account()
                table, value = book.fees, -tx.total
            else:
                config.fee_refund_account()
                table, value = book.fee_refunds, tx.total
            if self.invoice and tx.type == "PaymentFee":
                config.supplier()
            if clearing is not None:
                _sum(table, (payment_type, clearing)).add(value * sign, ZERO, tx.id)
            return
        # Payout (money leaves for the bank, negative) or FailedPayout (comes back).
        clearing = config.clearing_account("Card")
        config.payout_account()
        if clearing is not None:
            book.payouts.append((tx.id, clearing, -tx.total * sign))

    # -- writing books out as documents --

    def key(self, group: GroupKey, kind: str, *extra: str) -> str:
        day, currency, location, section = group
        parts = [
            self.prefix,
            day.isoformat(),
            currency,
            location or "-",
            section or "day",
            kind,
            *extra,
        ]
        text = ":".join(parts)
        if len(text) > _KEY_LIMIT:
            digest = hashlib.sha256(text.encode()).hexdigest()[:32]
            text = f"{self.prefix[:40]}:{day.isoformat()}:{kind}:{digest}"
        return text

    def header(
        self, group: GroupKey, kind: str, description: str, book: Book, *extra: str
    ) -> Header:
        day, currency, location, _ = group
        return Header(
            self.key(group, kind, *extra),
            currency,
            day,
            location,
            description,
            tuple(sorted(book.flags)),
        )

    def journal(self, group: GroupKey, book: Book) -> JournalEntry | None:
        config = self.config
        currency = group[1]
        lines: list[JournalLine] = []

        def add(account: str | None, amount: Decimal, description: str, refs: list[str]) -> None:
            if account is not None and amount:
                lines.append(JournalLine(account, amount, description, refs))

        for (ptype, account, refund), s in book.payments.items():
            add(account, s.amount, f"{ptype} {'refunds' if refund else 'payments'}", s.refs)
        for (_refund, _kind, account, _rate, label), s in book.sales.items():
            add(account, -s.amount, label, s.refs)
        for (account, label), s in book.taxes.items():
            add(account, -s.amount, label, s.refs)
        if book.fees:
            fee_account = config.fee_account()
            for (ptype, clearing), s in book.fees.items():
                add(fee_account, s.amount, f"{ptype} payment fees", s.refs)
                add(clearing, -s.amount, f"{ptype} payment fees", s.refs)
        if book.fee_refunds:
            refund_account = config.fee_refund_account()
            for (ptype, clearing), s in book.fee_refunds.items():
                add(refund_account, -s.amount, f"{ptype} payment fee refunds", s.refs)
                add(clearing, s.amount, f"{ptype} payment fee refunds", s.refs)
        if book.payouts:
            bank = config.payout_account()
            for tx_id, clearing, to_bank in book.payouts:
                label = f"{'Payout' if to_bank > 0 else 'Failed payout'} {tx_id}"
                add(bank, to_bank, label, [tx_id])
                add(clearing, -to_bank, label, [tx_id])
        for line in lines:
            line.net_amount = quantize(line.net_amount, currency)
            line.source_refs = list(dict.fromkeys(line.source_refs))
        lines = [line for line in lines if line.net_amount]
        residual = sum((line.net_amount for line in lines), ZERO)
        if residual:
            add(config.rounding_account(), -residual, "Rounding", [])
        if not lines:
            return None
        title = "Adjustments" if group[3] else "Daily sales summary"
        return JournalEntry(
            self.header(group, "journal", f"{title} {group[0].isoformat()}", book), lines
        )

    def _invoice_lines(self, book: Book, currency: str, refund: bool) -> list[InvoiceLine]:
        sign = -1 if refund else 1
        lines: list[InvoiceLine] = []
        exact = ZERO
        for (is_refund, _kind, account, rate, label), s in book.sales.items():
            if is_refund != refund:
                continue
            exact += (s.amount + s.tax) * sign
            sub, tax = quantize(s.amount * sign, currency), quantize(s.tax * sign, currency)
            if sub or tax:
                lines.append(
                    InvoiceLine(account, rate, label, sub, tax, list(dict.fromkeys(s.refs)))
                )
        residual = quantize(exact, currency) - sum((line.total for line in lines), ZERO)
        if residual:
            account = self.config.rounding_account()
            if account is not None:
                lines.append(
                    InvoiceLine(account, self.config.zero_rate(), "Rounding", residual, ZERO, [])
                )
        return lines

    def invoice_set(self, group: GroupKey, book: Book) -> list[Document]:
        config = self.config
        currency = group[1]
        day = group[0].isoformat()
        documents: list[Document] = []
        targets: dict[bool, str] = {}
        customer = config.customer() if (book.sales or book.payments) else None
        for refund, kind in ((False, "invoice"), (True, "creditNote")):
            lines = self._invoice_lines(book, currency, refund)
            if lines and customer is not None:
                what = "Daily sales" if not refund else "Daily refunds"
                doc = Invoice(
                    self.header(group, kind, f"{what} {day}", book),
                    customer,
                    config.invoice_status,
                    lines,
                    kind,
                )
                targets[refund] = doc.header.key
                documents.append(doc)
        for (ptype, account, refund), s in book.payments.items():
            value = quantize(s.amount, currency)
            if not value or customer is None:
                continue
            link_key = targets.get(refund)
            links = (
                [Link("CreditNote" if refund else "Invoice", link_key, abs(value))]
                if link_key
                else []
            )
            what = "refunds" if refund else "payments"
            header = self.header(
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
            documents.extend(self._fee_bill(group, book))
        by_clearing: dict[str, list[DepositLine]] = {}
        refund_account = config.fee_refund_account() if book.fee_refunds else None
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
        for clearing, lines in by_clearing.items():
            header = self.header(group, "deposit", f"Payment fee refunds {day}", book, clearing)
            documents.append(Deposit(header, clearing, lines))
        if book.payouts:
            bank = config.payout_account()
            for tx_id, clearing, to_bank in book.payouts:
                value = quantize(to_bank, currency)
                if not value or bank is None:
                    continue
                source, dest = (clearing, bank) if value > 0 else (bank, clearing)
                what = "Payout" if value > 0 else "Failed payout"
                header = self.header(group, "transfer", f"{what} {tx_id}", book, tx_id)
                documents.append(Transfer(header, source, dest, abs(value), [tx_id]))
        return documents

    def _fee_bill(self, group: GroupKey, book: Book) -> list[Document]:
        config = self.config
        currency = group[1]
        day = group[0].isoformat()
        supplier, fee_account = config.supplier(), config.fee_account()
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
                paid = _sum(paid_from, clearing)
                paid.amount += value
                paid.refs.extend(refs)
        if not lines:
            return []
        bill = Bill(self.header(group, "bill", f"Payment fees {day}", book), supplier, lines)
        documents: list[Document] = [bill]
        for clearing, paid in paid_from.items():
            header = self.header(group, "billPayment", f"Payment fees paid {day}", book, clearing)
            link = Link("Bill", bill.header.key, paid.amount)
            documents.append(
                BillPayment(header, supplier, clearing, paid.amount, [link], paid.refs)
            )
        return documents


def _day_starts(period: Period) -> tuple[list, list[date]]:
    """Where each business day of the period starts, for a bisect per record."""
    days = [period.first_day]
    while days[-1] < period.last_day:
        days.append(days[-1] + timedelta(days=1))
    return [local_instant(day, period.sync_hour, period.tz) for day in days], days


def payment_index(orders: Iterable[Order]) -> dict[str, tuple[str, str | None]]:
    """payment id -> (payment type, order location), for fees that name a
    payment; an order's id names its first payment, for fees that name the order."""
    index: dict[str, tuple[str, str | None]] = {}
    for order in orders:
        _index_order(index, order)
    return index


def _index_order(index: dict[str, tuple[str, str | None]], order: Order) -> None:
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
    payment_types: dict[str, tuple[str, str | None]] | None = None,
) -> MappingResult:
    """Map one period. Records outside it are left for their own period (and
    reported); `late` records belong to periods already posted and are posted
    on the period's last day, flagged; `edits` post the difference between a
    record's posted and current versions. `payment_types` tells the payment
    type and location of payments from earlier periods (for their fees)."""
    with gc_paused():
        return _map_period(data, config, period, key_prefix, list(late), list(edits), payment_types)


def _map_period(
    data: CommerceData,
    config: MappingConfig,
    period: Period,
    key_prefix: str,
    late: list[Order | Transaction],
    edits: list[Edit],
    payment_types: dict[str, tuple[str, str | None]] | None,
) -> MappingResult:
    mapper = _Mapper(data, config, period, key_prefix)
    if payment_types:
        mapper.payment_index.update(payment_types)
    mapper.index_payments(r for r in late if isinstance(r, Order))
    mapper.index_payments(e.current for e in edits if isinstance(e.current, Order))
    last_day = period.last_day
    outside = 0
    index = mapper.payment_index
    # One pass: orders may be a stream. Their payments are indexed on the way,
    # before the transactions (fees) that name them are read.
    for order in data.orders:
        _index_order(index, order)
        if not config.sync_sales:
            continue
        if not period.contains(order.created):
            outside += 1
            continue
        day = mapper.day_of(order.created)
        mapper.post_order(order, mapper.book(day, order.currency, order.location_id), 1)
    for tx in data.transactions:
        if not period.contains(tx.created):
            outside += 1
            continue
        day = mapper.day_of(tx.created)
        mapper.post_transaction(tx, lambda loc, d=day, c=tx.currency: mapper.book(d, c, loc), 1)
    if outside:
        mapper.warnings.append(
            Issue(
                "OutsidePeriod",
                f"{outside} record(s) were created outside the period and are left for their own period",
            )
        )
    for record in late:
        _post_flagged(mapper, record, last_day, "", "late", 1)
        mapper.warnings.append(
            Issue(
                "LateRecord",
                f"{type(record).__name__} {record.id} arrived after its day was posted; it is posted on {last_day}",
            )
        )
    for edit in edits:
        if edit.previous.id != edit.current.id:
            mapper.errors.append(
                Issue("InvalidEdit", f"An edit pairs {edit.previous.id} with {edit.current.id}")
            )
            continue
        _post_flagged(mapper, edit.previous, last_day, "adjustment", "adjustment", -1)
        _post_flagged(mapper, edit.current, last_day, "adjustment", "adjustment", 1)
        mapper.warnings.append(
            Issue(
                "Adjustment",
                f"{type(edit.current).__name__} {edit.current.id} changed after it was posted; the difference is posted on {last_day}",
            )
        )
    return _finish(mapper)


def _post_flagged(
    mapper: _Mapper, record: Order | Transaction, day: date, section: str, flag: str, sign: int
) -> None:
    if isinstance(record, Order):
        if not mapper.config.sync_sales:
            return
        book = mapper.book(day, record.currency, record.location_id, section)
        book.flags.add(flag)
        mapper.post_order(record, book, sign)
    else:

        def book_for(location: str | None) -> Book:
            found = mapper.book(day, record.currency, location, section)
            found.flags.add(flag)
            return found

        mapper.post_transaction(record, book_for, sign)


def _finish(mapper: _Mapper) -> MappingResult:
    documents: list[Document] = []
    for group in sorted(mapper.books, key=lambda g: (g[0], g[1], g[2] or "", g[3])):
        book = mapper.books[group]
        if not book.journal:
            documents.extend(mapper.invoice_set(group, book))
        else:
            entry = mapper.journal(group, book)
            if entry is not None:
                documents.append(entry)
    errors = mapper.errors + mapper.config.take_missing()
    if errors:
        return MappingResult([], mapper.warnings, _dedupe(errors))
    return MappingResult(documents, mapper.warnings, [])


def _dedupe(issues: list[Issue]) -> list[Issue]:
    return list(dict.fromkeys(issues))
