"""Missing mappings: pure configuration look-ups, one explicit collector."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from mapping.canonical import CommerceData, Order, OrderLine, OrderPayment, Transaction
from mapping.config import parse_configuration
from mapping.engine import map_period
from mapping.missing import MissingMappings
from mapping.periods import Period

LONDON = ZoneInfo("Europe/London")
PERIOD = Period.from_dates(date(2026, 11, 2), date(2026, 11, 3), sync_hour=0, tz=LONDON)
NOON = PERIOD.start.replace(hour=12)


def test_each_mapping_is_reported_once_in_the_order_first_needed():
    missing = MissingMappings()
    missing.clearing_account("Prepaid")
    missing.sales_account("sales", "sales")
    missing.tax_rate(Decimal("20.00"), "20%")
    missing.clearing_account("Prepaid")
    missing.tax_rate(Decimal("20"), "20%")
    missing.tax_rate(None, "untaxed")
    missing.zero_rate()
    missing.tax_account("GST", "tax component GST")
    missing.tax_account(None, "tax")
    missing.sales_account("sales", "another label")
    assert [(i.code, i.message) for i in missing.issues()] == [
        (
            "MissingPaymentAccount",
            "Payment type Prepaid has no clearing account: map it in payments.accounts.prepaidPayment",
        ),
        ("MissingSalesAccount", "No sales account has been configured (sales.accounts.sales)"),
        ("MissingTaxRateMapping", "Tax rate 20% has no mapped tax rate (sales.taxRates.20)"),
        (
            "MissingTaxRateMapping",
            "Tax rate untaxed has no mapped tax rate (newTaxRates.selectedDefaultZeroTaxRateId)",
        ),
        (
            "MissingTaxRateMapping",
            "No default zero tax rate has been configured (sales.newTaxRates.selectedDefaultZeroTaxRateId)",
        ),
        (
            "MissingTaxAccount",
            "No tax liability account has been configured for tax component GST (sales.accounts.tax-GST)",
        ),
        (
            "MissingTaxAccount",
            "No tax liability account has been configured for tax (sales.accounts.tax)",
        ),
    ]


def test_configuration_look_ups_are_pure():
    config = parse_configuration({"sales": {"accounts": {}}})
    before = repr(config)
    assert config.revenue_account("coffee") is None
    assert config.tax_rate(Decimal(20)) is None
    assert config.clearing_account("Card") is None
    assert config.fee_refund_account() is None
    assert repr(config) == before


def _day() -> CommerceData:
    line = OrderLine("L1", None, Decimal(1), Decimal(20), Decimal(12), Decimal(2), Decimal(0))
    payment = OrderPayment("P1", "Card", Decimal(12), "GBP", "Paid")
    order = Order(
        "O1", "GBP", NOON, None, None, Decimal(12), Decimal(2), Decimal(0), (line,), (), (payment,)
    )
    fee = Transaction("F1", "PaymentFee", "GBP", Decimal("-0.30"), NOON, None, "P1", "Payment")
    return CommerceData(orders=[order], transactions=[fee])


def test_one_configuration_refuses_every_period_alike():
    """Nothing of a period's refusal stays behind in the configuration."""
    config = parse_configuration({"mapSettings": {"outputFormat": "Invoice"}})
    first = map_period(_day(), config, PERIOD, key_prefix="m")
    second = map_period(_day(), config, PERIOD, key_prefix="m")
    assert first.documents == [] and first.errors == second.errors
    assert [e.code for e in first.errors] == [
        "MissingSalesAccount",
        "MissingTaxRateMapping",
        "MissingPaymentAccount",
        "MissingFeeAccount",
        "MissingFeesSupplier",
    ]  # no customer asked for: nothing could be posted to invoice


def test_every_missing_mapping_names_the_setting_to_fill_in_once_per_setting():
    """Two of each kind, different settings: each reported, by the setting
    (a tax rate by its percentage, whatever the source calls it)."""
    missing = MissingMappings()
    for method, args in [
        (missing.clearing_account, ("Prepaid",)),
        (missing.clearing_account, ("Card",)),
        (missing.sales_account, ("sales", "sales")),
        (missing.sales_account, ("refund", "refund")),
        (missing.fee_account, ()),
        (missing.fees_supplier, ()),
        (missing.payout_account, ()),
        (missing.sales_customer, ()),
        (missing.tax_rate, (Decimal("17.50"), "VAT standard")),
        (missing.tax_rate, (Decimal("5"), "VAT reduced")),
        (missing.tax_account, ("GST", "tax component GST")),
        (missing.tax_account, ("PST", "tax component PST")),
        (missing.zero_rate, ()),
    ]:
        method(*args)
        method(*args)
    assert [(i.code, i.message) for i in missing.issues()] == [
        (
            "MissingPaymentAccount",
            "Payment type Prepaid has no clearing account: map it in payments.accounts.prepaidPayment",
        ),
        (
            "MissingPaymentAccount",
            "Payment type Card has no clearing account: map it in payments.accounts.card",
        ),
        ("MissingSalesAccount", "No sales account has been configured (sales.accounts.sales)"),
        ("MissingSalesAccount", "No refund account has been configured (sales.accounts.refund)"),
        (
            "MissingFeeAccount",
            "No payment fee account has been configured (fees.accounts.paymentFee)",
        ),
        ("MissingFeesSupplier", "No fees supplier has been configured (fees.feesSupplier)"),
        (
            "MissingPayoutAccount",
            "No payout (bank) account has been configured (payments.accounts.payout)",
        ),
        ("MissingSalesCustomer", "No sales customer has been configured (sales.salesCustomer)"),
        ("MissingTaxRateMapping", "Tax rate 17.5% has no mapped tax rate (sales.taxRates.17.5)"),
        ("MissingTaxRateMapping", "Tax rate 5% has no mapped tax rate (sales.taxRates.5)"),
        (
            "MissingTaxAccount",
            "No tax liability account has been configured for tax component GST (sales.accounts.tax-GST)",
        ),
        (
            "MissingTaxAccount",
            "No tax liability account has been configured for tax component PST (sales.accounts.tax-PST)",
        ),
        (
            "MissingTaxRateMapping",
            "No default zero tax rate has been configured (sales.newTaxRates.selectedDefaultZeroTaxRateId)",
        ),
    ]
