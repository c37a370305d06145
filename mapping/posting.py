"""Posting: canonical records read once into per-group books of sums.

The hot loop of a large day lives here (`Posting.post_order`): sums are
updated in place and look-ups are cached, because a day repeats few distinct
(product, refund, rate) combinations over many orders. Mappings the records
need but the configuration lacks are noted in a MissingMappings; problems
with the records themselves go to `errors` and `warnings`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

from mapping.books import ZERO, Book, GroupKey, SalesKey, Sum, sum_for
from mapping.canonical import PAYMENT_TYPES, CommerceData, Order, OrderLine, Transaction
from mapping.config import INVOICE, MappingConfig
from mapping.errors import Issue
from mapping.missing import MissingMappings
from mapping.money import explained_by_cash_rounding, format_amount, quantize, quantum
from mapping.periods import Period, local_instant
from mapping.taxes import Rate, TaxRules

SETTLED = frozenset({"Paid"})
# Payments not settled yet (a card authorised, waiting for its tip): their
# order waits for them. Failed and Cancelled payments moved no money.
OPEN = frozenset({"Pending", "Authorized", "Unknown"})
_MIRRORED = frozenset({"Payment", "Refund"})  # carried by order payments already
_PAYOUTS = frozenset({"Payout", "FailedPayout"})
# A payout's source reference is resolved when it names a sale's payment or
# order; other references (the payout's own id) leave it on `card`.
_NAMES_A_SALE = frozenset({"Payment", "Order"})
# A fee naming one of these (Square's fee on a payout) is no sale's: `card`.
_NAMES_NO_SALE = frozenset({"Payout", "FailedPayout", "Transfer"})
# A payout may say which payment type's takings it pays out, in its `subType`
# (Codat's free text for the source's own type data; this form is ours):
# `"PaymentType:OnlineCard"` empties that type's clearing account, for a
# provider that pays each kind of takings out on its own schedule.
NAMES_PAYMENT_TYPE = "PaymentType:"

# (kind, account, rate, description) of a product line
LineTarget = tuple[str, str, Rate, str]
# (product id, refund?, percentage, invoice?, tax component ids)
_LineCacheKey = tuple[str | None, bool, Decimal | None, bool, tuple[str | None, ...]]
# payment id -> (payment type, location of its order)
PaymentIndex = dict[str, tuple[str, str | None]]


class Posting:
    """The posting phase of one period: `books` by group, plus what it found.

    `payment_index` (payment id -> type, location) lets fees find the payment
    they belong to; the engine fills it as orders stream past.
    """

    def __init__(
        self, data: CommerceData, config: MappingConfig, period: Period, missing: MissingMappings
    ) -> None:
        self.data = data
        self.config = config
        self.missing = missing
        self.books: dict[GroupKey, Book] = {}
        self.warnings: list[Issue] = []
        self.errors: list[Issue] = []
        self.invoice = config.output_format == INVOICE
        self.taxes = TaxRules(data, config, missing, self.errors)
        self.payment_index: PaymentIndex = {}
        self._line_targets: dict[_LineCacheKey, LineTarget | None] = {}
        self._clearing: dict[str, str | None] = {}  # payment type -> account
        self.zero_tenders: dict[str, int] = {}  # payment type -> 0.00 payments seen
        self.waiting: list[str] = []  # ids of orders whose payments are not settled yet
        self._day_starts, self._days = _day_starts(period)

    def day_of(self, instant: datetime) -> date:
        """The business day of an instant inside the period."""
        return self._days[bisect_right(self._day_starts, instant) - 1]

    def book(self, day: date, currency: str, location: str | None, section: str = "") -> Book:
        """The book of a group, created on first use."""
        key = (day, currency, location if self.config.group_by_location else None, section)
        found = self.books.get(key)
        if found is None:
            # Adjustments are journals whatever the format: a difference can be negative.
            found = self.books[key] = Book(journal=not self.invoice or bool(section))
        return found

    def _line_target(
        self, line: OrderLine, refund: bool, invoice: bool, currency: str
    ) -> LineTarget | None:
        """(kind, account, rate key, description) for a product line, cached
        because a day repeats few distinct combinations; None when a mapping
        it needs is missing (noted once, when first looked up)."""
        percentage = line.tax_percentage
        if percentage is None and line.tax:
            percentage = self.taxes.percentage(line.tax, line.net, line.taxes, currency)
        components = tuple(p.component_id for p in line.taxes) if line.taxes else ()
        cache_key = (line.product_id, refund, percentage, invoice, components)
        if cache_key in self._line_targets:
            return self._line_targets[cache_key]
        product = self.data.products.get(line.product_id) if line.product_id else None
        config, missing = self.config, self.missing
        rate: Rate
        if product is not None and product.is_gift_card:
            kind, label = "prepaid", "Gift cards " + ("refunded" if refund else "sold")
            account = config.sales_account("prepaid")
            if account is None:
                missing.sales_account("prepaid", "prepaid (gift card)")
            rate = None
            if invoice:
                rate = config.zero_rate()
                if rate is None:
                    missing.zero_rate()
        else:
            if refund:
                kind, account, label = "refund", config.refund_account(), "Refunds"
                if account is None:
                    missing.sales_account("refund", "refund")
            else:
                category = product.category_id if product else None
                kind, account = "sales", config.revenue_account(category)
                if account is None:
                    missing.sales_account("sales", "sales")
                label = "Sales"
                if category is not None and f"category-{category}".lower() in config.sales:
                    label = f"Sales {self.data.categories.get(category, category)}"
            rate, shown = self.taxes.line_rate(percentage, invoice, line.taxes, line.net, currency)
            label = f"{label} {shown}"
        target = (
            None if account is None or (invoice and rate is None) else (kind, account, rate, label)
        )
        self._line_targets[cache_key] = target
        return target

    def waits(self, order: Order) -> bool:
        """Whether `order` has a payment not settled yet (Pending, Authorized,
        Unknown): if so it waits, whole, for a later period (noted in
        `waiting`, with a warning naming it and the payment)."""
        for payment in order.payments:
            if payment.status in OPEN:
                self.waiting.append(order.id)
                self.warnings.append(
                    Issue(
                        "OrderWaiting",
                        f"Order {order.id} waits: payment {payment.id} ({payment.type}, "
                        f"{format_amount(payment.amount, payment.currency)}) is {payment.status}, "
                        "not settled yet. The rest of the period is posted; this order is "
                        "posted, flagged late, in the period its payments settle in",
                    )
                )
                return True
        return False

    def post_order(self, order: Order, book: Book, sign: int) -> None:
        """An order's lines, service charges, gratuity and settled payments
        into `book`; `sign` -1 reverses them (the old side of an edit)."""
        # The hot loop of a large day: sums are updated in place, lookups cached.
        config = self.config
        missing = self.missing
        taxes = self.taxes
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
                # A line split by component rates carries its net on the first
                # component's line (`TaxRules.post_split`): so does its discount.
                discount_rate = rate[0][0] if isinstance(rate, tuple) else rate
                discount_key: SalesKey = (
                    refund,
                    "discount",
                    config.sales["discount"],
                    discount_rate,
                    "Discounts",
                )
                sum_for(sales, discount_key).add(off, ZERO, oid)
                net -= off
            if isinstance(rate, tuple):  # one invoice line per component rate
                taxes.post_split(
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
                    taxes.post_tax(
                        book, line.taxes, line.tax, sign, oid, f"order {oid} line {line.id}"
                    )
                else:
                    taxes.post_plain_tax(book, tax, oid)
        for charge in order.service_charges:
            expected += charge.total
            refund = charge.total < 0
            if refund:
                charge_account = config.refund_account()
                if charge_account is None:
                    missing.sales_account("refund", "refund")
            else:
                charge_account = config.service_charge_account()
                if charge_account is None:
                    missing.sales_account("sales", "sales")
            percentage = charge.tax_percentage
            if percentage is None and charge.tax:
                percentage = taxes.percentage(charge.tax, charge.net, charge.taxes, currency)
            charge_rate, shown = taxes.line_rate(
                percentage, invoice, charge.taxes, charge.net, currency
            )
            if charge_account is None or (invoice and charge_rate is None):
                continue
            label = f"{'Refunded ' if refund else ''}{charge.description} {shown}"
            if isinstance(charge_rate, tuple):
                head = (refund, "service", charge_account, label)
                taxes.post_split(
                    book.sales, head, charge_rate, charge.taxes, charge.net * sign, sign, oid
                )
            else:
                sum_for(book.sales, (refund, "service", charge_account, charge_rate, label)).add(
                    charge.net * sign, charge.tax * sign, oid
                )
            if book.journal and charge.tax:
                taxes.post_tax(
                    book, charge.taxes, charge.tax, sign, oid, f"order {oid} service charge"
                )
        if order.gratuity:
            gratuity_account = config.sales_account("gratuity")
            if gratuity_account is None:
                missing.sales_account("gratuity", "gratuity")
            gratuity_rate = None
            if invoice:
                gratuity_rate = config.zero_rate()
                if gratuity_rate is None:
                    missing.zero_rate()
            if gratuity_account is not None:
                refund = order.gratuity < 0
                sum_for(
                    book.sales, (refund, "gratuity", gratuity_account, gratuity_rate, "Gratuity")
                ).add(order.gratuity * sign, ZERO, oid)
        settled = ZERO
        cash = ZERO
        refused = False  # one cause, one error: no balance check after a refusal
        for payment in order.payments:
            amount = payment.amount
            if payment.status not in SETTLED:  # Failed or Cancelled (open ones wait)
                self.warnings.append(
                    Issue(
                        "PaymentNotSettled",
                        f"Order {oid}: payment {payment.id} ({payment.type}) is "
                        f"{payment.status}; no money moved, it is not posted",
                    )
                )
                continue
            if payment.currency != currency:
                self.errors.append(
                    Issue(
                        "CurrencyMismatch",
                        f"Order {oid}: payment {payment.id} is in {payment.currency}, the order in {currency}",
                    )
                )
                refused = True
                continue
            if not amount:  # a comp or a 0.00 voucher: no money moves
                self.zero_tenders[payment.type] = self.zero_tenders.get(payment.type, 0) + 1
                continue
            settled += amount
            if payment.type == "Cash":
                cash += amount
            clearing = self._clearing.get(payment.type)
            if clearing is None:
                clearing = self._clearing[payment.type] = config.clearing_account(payment.type)
                if clearing is None:
                    missing.clearing_account(payment.type)
            if clearing is not None and config.sync_payments:
                payment_key = (payment.type, clearing, amount < 0)
                paid = book.payments.get(payment_key)
                if paid is None:
                    paid = book.payments[payment_key] = Sum()
                paid.amount += amount if sign == 1 else -amount
                paid.refs.append(oid)
        if settled != expected and not refused:
            difference = settled - expected
            if abs(difference) * 2 <= quantum(currency):
                # Amounts finer than the minor unit (10.0049 paid 10.00): what the
                # point of sale rounded away goes to the rounding account.
                self._post_rounding(book, difference * sign, expected < 0, oid, "Rounding")
            elif explained_by_cash_rounding(quantize(difference, currency), cash, currency):
                self._post_rounding(book, difference * sign, expected < 0, oid, "Cash rounding")
            else:
                self.errors.append(
                    Issue(
                        "UnbalancedOrder",
                        f"Order {oid}: settled payments total {format_amount(settled, currency)} but its lines, "
                        f"service charges and gratuity total {format_amount(expected, currency)}; "
                        "correct the order in the point of sale",
                    )
                )

    def _post_rounding(
        self, book: Book, difference: Decimal, refund: bool, ref: str, label: str
    ) -> None:
        """What payments differ from an order by rounding (paid - due,
        signed): "Cash rounding" (to the currency's cash unit, e.g. CAD 0.05)
        to `sales.accounts.cashRounding`, else `rounding`, else `sales`;
        "Rounding" (amounts finer than the minor unit) to `rounding`, else
        `sales`. A credit when the customer paid more; in invoice format a
        line at the zero rate on the invoice (or, `refund`, the credit note)."""
        config = self.config
        if label == "Rounding":
            account = config.rounding_account()
        else:
            account = config.cash_rounding_account()
        if account is None:
            self.missing.sales_account("sales", "sales")
            return
        rate = None
        if not book.journal:
            rate = config.zero_rate()
            if rate is None:
                self.missing.zero_rate()
                return
        kind = "rounding" if label == "Rounding" else "cashRounding"
        sum_for(book.sales, (refund, kind, account, rate, label)).add(difference, ZERO, ref)

    def post_transaction(
        self, tx: Transaction, book_for: Callable[[str | None], Book], sign: int
    ) -> None:
        """A fee, fee refund or payout into the book `book_for(location)`
        gives for the location of the payment it belongs to; payments and
        refunds are carried by their orders already."""
        config, missing = self.config, self.missing
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
        payment_type, location = "Card", None  # a fee or payout that names no payment
        source_type = tx.source_type
        named = (tx.sub_type or "").removeprefix(NAMES_PAYMENT_TYPE)
        if tx.type in _PAYOUTS and (tx.sub_type or "").startswith(NAMES_PAYMENT_TYPE):
            if named not in PAYMENT_TYPES:
                self.errors.append(
                    Issue(
                        "UnresolvedReference",
                        f"{tx.type} {tx.id} names payment type {named!r}, which is not "
                        f"one of Codat's payment types ({', '.join(sorted(PAYMENT_TYPES))}); "
                        "its clearing account cannot be known",
                    )
                )
                return
            payment_type = named
        elif tx.source_id and (
            source_type in _NAMES_A_SALE
            or (tx.type not in _PAYOUTS and source_type not in _NAMES_NO_SALE)
        ):
            indexed = self.payment_index.get(tx.source_id)
            if indexed is None:
                # Never a guess: the wrong clearing account is a wrong balance.
                self.errors.append(
                    Issue(
                        "UnresolvedReference",
                        f"{tx.type} {tx.id} names {tx.source_type or 'record'} {tx.source_id}, "
                        "which is neither in this period nor among the earlier records stored; "
                        "its clearing account cannot be known. Sync the period that holds "
                        f"{tx.source_id} first (a preview gives it under `history`)",
                    )
                )
                return
            payment_type, location = indexed
        book = book_for(location)
        if tx.type in ("PaymentFee", "PaymentFeeRefund"):
            if not config.sync_fees:
                return
            clearing = config.clearing_account(payment_type)
            if clearing is None:
                missing.clearing_account(payment_type)
            # The writers need these: say so now, even when the clearing
            # account is missing and nothing is posted.
            if tx.type == "PaymentFee":
                if config.fee_account() is None:
                    missing.fee_account()
                table, value = book.fees, -tx.total
            else:
                if config.fee_refund_account() is None:
                    missing.fee_account()
                table, value = book.fee_refunds, tx.total
            if self.invoice and tx.type == "PaymentFee" and config.fees_supplier is None:
                missing.fees_supplier()
            if clearing is not None:
                sum_for(table, (payment_type, clearing)).add(value * sign, ZERO, tx.id)
            return
        # Payout (money leaves for the bank, negative; positive when the
        # provider takes money back from the bank) or FailedPayout (comes back).
        clearing = config.clearing_account(payment_type)
        if clearing is None:
            missing.clearing_account(payment_type)
        if config.payout_account() is None:  # the writers need it: say so now
            missing.payout_account()
        if clearing is not None:
            to_bank = -tx.total * sign
            if tx.type == "FailedPayout":
                label = "Failed payout"
            elif to_bank >= 0:
                label = "Payout"
            else:
                label = "Payout taken back from the bank"
            book.payouts.append((tx.id, clearing, to_bank, label))

    def post_flagged(
        self, record: Order | Transaction, day: date, section: str, flag: str, sign: int
    ) -> None:
        """A late record or one side of an edit, on `day` in `section`, its
        books flagged (`late`, `adjustment`)."""
        if isinstance(record, Order):
            if not self.config.sync_sales:
                return
            book = self.book(day, record.currency, record.location_id, section)
            book.flags.add(flag)
            self.post_order(record, book, sign)
        else:

            def book_for(location: str | None) -> Book:
                found = self.book(day, record.currency, location, section)
                found.flags.add(flag)
                return found

            self.post_transaction(record, book_for, sign)


def has_open_payment(order: Order) -> bool:
    """Whether a payment of `order` is not settled yet (see `Posting.waits`)."""
    return any(payment.status in OPEN for payment in order.payments)


def _day_starts(period: Period) -> tuple[list[datetime], list[date]]:
    """Where each business day of the period starts, for a bisect per record."""
    days = [period.first_day]
    while days[-1] < period.last_day:
        days.append(days[-1] + timedelta(days=1))
    return [local_instant(day, period.sync_hour, period.tz) for day in days], days
