"""The merchant's configuration, read from a Codat `commerceConfiguration`.

Account maps hold `{"selectedAccountId": ...}` per key (see the scenarios
README for the keys). Lookups are pure and give None for what is not
configured; the engine notes each in a `mapping.missing.MissingMappings` so
that the merchant fixes every missing mapping of a day together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from mapping.errors import Issue, MappingError, shown

JOURNAL = "JournalEntry"
INVOICE = "Invoice"
OUTPUT_FORMATS = (JOURNAL, INVOICE)


def payment_account_key(payment_type: str) -> str:
    """Config key of a Codat payment type: lower camel case; Prepaid is special
    because `prepaid` already names the gift-card liability on the sales side."""
    if payment_type == "Prepaid":
        return "prepaidPayment"
    return payment_type[:1].lower() + payment_type[1:]


def _section(document: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = document.get(name) or {}
    if not isinstance(value, Mapping):
        raise MappingError(
            [Issue("InvalidConfiguration", f"configuration.{name} must be an object")]
        )
    return value


def _accounts(section: Mapping[str, Any], where: str, issues: list[Issue]) -> dict[str, str]:
    raw = section.get("accounts") or {}
    if not isinstance(raw, Mapping):
        issues.append(Issue("InvalidConfiguration", f"{where}.accounts must be an object"))
        return {}
    accounts: dict[str, str] = {}
    for key, value in raw.items():
        selected = value.get("selectedAccountId") if isinstance(value, Mapping) else None
        if selected in (None, ""):
            continue  # an unselected dropdown: treated as not configured
        if not isinstance(selected, (str, int)):
            issues.append(
                Issue(
                    "InvalidConfiguration",
                    f"{where}.accounts.{key}.selectedAccountId must be a string",
                )
            )
            continue
        accounts[str(key).lower()] = str(selected)
    return accounts


def _selected(section: Mapping[str, Any], outer: str, inner: str) -> str | None:
    value = section.get(outer)
    if isinstance(value, Mapping) and value.get(inner) not in (None, ""):
        return str(value[inner])
    return None


def _flag(section: Mapping[str, Any], key: str, default: bool) -> bool:
    value = section.get(key)
    return default if value is None else bool(value)


@dataclass(slots=True)
class MappingConfig:
    """A merchant's parsed configuration. Account maps are keyed by the
    lower-cased config key (`servicecharge`, `category-coffee`, `tax-gst`),
    tax rates by normalised percentage (Decimal("20"), Decimal("9.975"))."""

    output_format: str
    sales: dict[str, str]
    payments: dict[str, str]
    fees: dict[str, str]
    tax_rates: dict[Decimal, str]
    default_zero_rate: str | None
    invoice_status: str
    sales_customer: str | None
    fees_supplier: str | None
    group_by_location: bool
    sync_sales: bool = True
    sync_payments: bool = True
    sync_fees: bool = True
    gross_discounts: bool = False

    # -- lookups: pure; None when not configured (see mapping.missing) --

    def sales_account(self, key: str) -> str | None:
        """The account mapped to `sales.accounts.<key>`, or None."""
        return self.sales.get(key.lower())

    def revenue_account(self, category_id: str | None) -> str | None:
        """The category's own sales account, else `sales`."""
        if category_id is not None:
            found = self.sales.get(f"category-{category_id}".lower())
            if found is not None:
                return found
        return self.sales.get("sales")

    def refund_account(self) -> str | None:
        """`refund`, with no fallback: a refund line needs its own account."""
        return self.sales.get("refund")

    def service_charge_account(self) -> str | None:
        """`serviceCharge`, else `sales`."""
        return self.sales.get("servicecharge") or self.sales.get("sales")

    def rounding_account(self) -> str | None:
        """`rounding`, else `sales`."""
        return self.sales.get("rounding") or self.sales.get("sales")

    def cash_rounding_account(self) -> str | None:
        """Where cash rounding goes (an order paid in cash rounded to the
        currency's cash unit, e.g. CAD 0.05): `cashRounding`, else
        `rounding`, else `sales`."""
        return self.sales.get("cashrounding") or self.rounding_account()

    def tax_account(self, component_id: str | None) -> str | None:
        """The liability account of a tax component (`tax-<id>`), else `tax`."""
        if component_id is not None:
            found = self.sales.get(f"tax-{component_id}".lower())
            if found is not None:
                return found
        return self.sales.get("tax")

    def tax_rate(self, percentage: Decimal | None) -> str | None:
        """The target's tax rate id for a line taxed at `percentage` (None:
        untaxed). Untaxed takes the default zero rate, else a mapped 0%;
        zero-rated takes a mapped 0%, else the default zero rate."""
        if percentage is None:
            return self.default_zero_rate or self.tax_rates.get(Decimal(0))
        if percentage.is_zero():
            return self.tax_rates.get(Decimal(0)) or self.default_zero_rate
        return self.tax_rates.get(percentage.normalize())

    def zero_rate(self) -> str | None:
        """The default zero rate, else a mapped 0%."""
        return self.default_zero_rate or self.tax_rates.get(Decimal(0))

    def clearing_account(self, payment_type: str) -> str | None:
        """The clearing account of a Codat payment type (see payment_account_key)."""
        return self.payments.get(payment_account_key(payment_type).lower())

    def payout_account(self) -> str | None:
        """The bank account payouts go to (`payments.accounts.payout`)."""
        return self.payments.get("payout")

    def fee_account(self) -> str | None:
        """The expense account of payment fees (`fees.accounts.paymentFee`)."""
        return self.fees.get("paymentfee")

    def fee_refund_account(self) -> str | None:
        """`paymentFeeRefund`, else the fee account."""
        return self.fees.get("paymentfeerefund") or self.fees.get("paymentfee")


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def parse_configuration(document: Any) -> MappingConfig:
    """A MappingConfig, or a MappingError naming every structural problem."""
    if not isinstance(document, Mapping):
        raise MappingError([Issue("InvalidConfiguration", "configuration must be an object")])
    issues: list[Issue] = []
    sales = _section(document, "sales")
    payments = _section(document, "payments")
    fees = _section(document, "fees")
    settings = _section(document, "mapSettings")
    output = settings.get("outputFormat") or JOURNAL
    if output not in OUTPUT_FORMATS:
        issues.append(
            Issue(
                "InvalidOutputFormat",
                f"mapSettings.outputFormat {shown(output)} must be JournalEntry or Invoice",
            )
        )
    tax_rates: dict[Decimal, str] = {}
    raw_rates = sales.get("taxRates") or {}
    if not isinstance(raw_rates, Mapping):
        issues.append(Issue("InvalidConfiguration", "sales.taxRates must be an object"))
        raw_rates = {}
    for key, value in raw_rates.items():
        try:
            rate = Decimal(str(key)).normalize()
        except InvalidOperation:
            issues.append(
                Issue(
                    "InvalidConfiguration", f"sales.taxRates key {shown(key)} is not a percentage"
                )
            )
            continue
        selected = value.get("selectedTaxRateId") if isinstance(value, Mapping) else None
        if selected not in (None, ""):
            tax_rates[rate] = str(selected)
    grouping = sales.get("grouping")
    level = _dig(grouping, "groupingLevels", "invoiceLevel", "selectedGroupByOptions")
    group_by = level if isinstance(level, list) else []
    sales_accounts = _accounts(sales, "sales", issues)
    config = MappingConfig(
        output_format=output,
        sales=sales_accounts,
        payments=_accounts(payments, "payments", issues),
        fees=_accounts(fees, "fees", issues),
        tax_rates=tax_rates,
        default_zero_rate=_selected(sales, "newTaxRates", "selectedDefaultZeroTaxRateId"),
        invoice_status=_selected(sales, "invoiceStatus", "selectedInvoiceStatus") or "Submitted",
        sales_customer=_selected(sales, "salesCustomer", "selectedCustomerId"),
        fees_supplier=_selected(fees, "feesSupplier", "selectedSupplierId"),
        group_by_location="Location" in group_by,
        sync_sales=_flag(sales, "syncSales", True),
        sync_payments=_flag(payments, "syncPayments", True),
        sync_fees=_flag(fees, "syncFees", True),
        # Mapping a discount account is the choice to post discounts gross.
        gross_discounts="discount" in sales_accounts,
    )
    if config.invoice_status not in ("Draft", "Submitted"):
        issues.append(
            Issue(
                "InvalidConfiguration",
                f"sales.invoiceStatus {shown(config.invoice_status)} must be Draft or Submitted",
            )
        )
    payout = config.payments.get("payout")
    if payout is not None:
        for key, account in sorted(config.payments.items()):
            if key != "payout" and account == payout:
                label = "Prepaid" if key == "prepaidpayment" else key
                issues.append(
                    Issue(
                        "PayoutAccountConflict",
                        f"The {label} account must not be the payout account ({account})",
                    )
                )
    prepaid = config.sales.get("prepaid")
    if payout is not None and prepaid == payout:
        issues.append(
            Issue(
                "PayoutAccountConflict",
                f"The prepaid (gift card) account must not be the payout account ({payout})",
            )
        )
    if output == JOURNAL and not config.sync_payments and config.sync_sales:
        issues.append(
            Issue(
                "InvalidConfiguration",
                "Journal entries need payments to balance: turn payments.syncPayments on",
            )
        )
    if issues:
        raise MappingError(issues)
    return config
