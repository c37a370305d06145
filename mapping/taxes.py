"""Tax rates and tax components: which rate a line is taxed at, which tax
rate id (invoice format) or liability account (journal format) it maps to,
and posting tax amounts into a book.

A line states its tax percentage, or its tax components (Codat `taxes`,
e.g. GST and QST in Quebec), or only a tax amount; see `TaxRules.percentage`
for how the rate is found in each case.
"""

from __future__ import annotations

from decimal import Decimal

from mapping.books import ZERO, Book, SalesKey, Sum, sum_for
from mapping.canonical import CommerceData, TaxPart
from mapping.config import MappingConfig
from mapping.errors import Issue
from mapping.missing import MissingMappings
from mapping.money import quantize

# One (tax rate id, label such as "5%") per component of a split line.
ComponentRates = tuple[tuple[str, str], ...]
# The tax rate of a line: an id, one per component (split), or None (journal).
Rate = str | ComponentRates | None


def percent_text(value: Decimal) -> str:
    """A percentage as shown in labels: Decimal("20.00") -> "20"."""
    return format(value.normalize(), "f")


class TaxRules:
    """The tax look-ups and postings of one period's mapping.

    Missing tax rates and tax accounts are noted in `missing`; tax components
    that do not add up to their line's tax are refused into `errors`.
    """

    def __init__(
        self,
        data: CommerceData,
        config: MappingConfig,
        missing: MissingMappings,
        errors: list[Issue],
    ) -> None:
        self.components = data.tax_components
        self.config = config
        self.missing = missing
        self.errors = errors
        self._plain_account: str | None = None
        self._plain_looked_up = False

    # -- rates --

    def percentage(
        self, tax: Decimal, net: Decimal, taxes: tuple[TaxPart, ...], currency: str
    ) -> Decimal | None:
        """The rate (percent) of a taxed line that does not state it: the sum
        of its tax components' rates (Codat gives them as fractions: 0.05 is 5 %), else the mapped rate that gives exactly
        its tax amount, else tax / net to 0.001 %; None for a zero net or
        absurd amounts."""
        rates: list[Decimal] = []
        for part in taxes:
            component = self.components.get(part.component_id or "")
            if component is None or component.percentage is None:
                break
            rates.append(component.percentage)
        else:
            if taxes:
                return sum(rates, ZERO)
        if not net:
            return None
        for rate in self.config.tax_rates:
            if rate and quantize(net * rate / 100, currency) == quantize(tax, currency):
                return rate
        try:
            return (tax / net * 100).quantize(Decimal("0.001"))
        except ArithmeticError:  # absurd amounts: no rate to name
            return None

    def line_rate(
        self,
        percentage: Decimal | None,
        invoice: bool,
        taxes: tuple[TaxPart, ...],
        net: Decimal,
        currency: str,
    ) -> tuple[Rate, str]:
        """As `rate`; in invoice format, a line taxed by several components
        whose combined rate is not mapped but each component's rate is, is
        split: one line per component rate (the net on the first)."""
        if invoice and taxes and percentage and percentage not in self.config.tax_rates:
            split = self._component_rates(taxes, net, currency)
            if split is not None:
                return split, ""  # each component line is labelled with its own rate
        return self.rate(percentage, invoice)

    def _component_rates(
        self, taxes: tuple[TaxPart, ...], net: Decimal, currency: str
    ) -> ComponentRates | None:
        """(tax rate id, label) per component, or None if one is not mapped."""
        rates = []
        for part in taxes:
            component = self.components.get(part.component_id or "")
            percentage = component.percentage if component is not None else None
            if percentage is None and net:
                percentage = next(
                    (
                        r
                        for r in self.config.tax_rates
                        if quantize(net * r / 100, currency) == quantize(part.amount, currency)
                    ),
                    None,
                )
            if percentage is None:
                return None
            found = self.config.tax_rates.get(percentage)
            if found is None:
                return None
            rates.append((found, f"{percent_text(percentage)}%"))
        return tuple(rates)

    def rate(self, percentage: Decimal | None, invoice: bool) -> tuple[str | None, str]:
        """The rate key (tax rate id in invoice format, noted missing if not
        mapped; None in journal format) and its label ("20%", "untaxed")."""
        shown = "untaxed" if percentage is None else f"{percent_text(percentage)}%"
        if not invoice:
            return None, shown
        found = self.config.tax_rate(percentage)
        if found is None:
            self.missing.tax_rate(percentage, shown)
        return found, shown

    # -- postings --

    @staticmethod
    def post_split(
        sales: dict[SalesKey, Sum],
        head: tuple[bool, str, str, str],
        rates: ComponentRates,
        taxes: tuple[TaxPart, ...],
        net: Decimal,
        sign: int,
        ref: str,
    ) -> None:
        """One sales line per component rate: (refund, kind, account, label)
        in `head`; the net goes on the first, each component's tax on its own."""
        refund, kind, account, label = head
        for index, (part, (rate, shown)) in enumerate(zip(taxes, rates, strict=True)):
            bucket = sum_for(sales, (refund, kind, account, rate, f"{label}{shown}"))
            bucket.add(net if index == 0 else ZERO, part.amount if sign == 1 else -part.amount, ref)

    def post_plain_tax(self, book: Book, tax: Decimal, ref: str) -> None:
        """Tax of a line without components, already signed, to the tax account."""
        if not self._plain_looked_up:
            self._plain_looked_up = True
            self._plain_account = self.config.tax_account(None)
            if self._plain_account is None:
                self.missing.tax_account(None, "tax")
        account = self._plain_account
        if account is not None:
            key = (account, "Tax")
            bucket = book.taxes.get(key)
            if bucket is None:
                bucket = book.taxes[key] = Sum()
            bucket.amount += tax
            bucket.refs.append(ref)

    def post_tax(
        self,
        book: Book,
        parts: tuple[TaxPart, ...],
        tax: Decimal,
        sign: int,
        ref: str,
        where: str,
    ) -> None:
        """Tax of a line or charge (unsigned; `sign` -1 reverses it) to the
        liability account of each component, or of `tax` without components.
        Components that do not add up to `tax` are refused (TaxComponentMismatch)."""
        config = self.config
        if not parts:
            account = config.tax_account(None)
            if account is None:
                self.missing.tax_account(None, "tax")
            else:
                sum_for(book.taxes, (account, "Tax")).add(tax * sign, ZERO, ref)
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
            account = config.tax_account(part.component_id)
            if account is None:
                self.missing.tax_account(part.component_id, f"tax component {part.name}")
            elif part.amount:
                sum_for(book.taxes, (account, f"Tax {part.name}")).add(
                    part.amount * sign, ZERO, ref
                )
