"""The mappings a period needs that the merchant's configuration lacks.

The configuration's lookups (`MappingConfig`) are pure: they return None for
what is not mapped. Each phase of the engine that needs a mapping and finds
None says so here, explicitly; the engine refuses the period with every
missing mapping at once, so the merchant fixes them together. Each mapping is
reported once, in the order it was first needed (tests assert that order).
"""

from __future__ import annotations

from decimal import Decimal

from mapping.config import payment_account_key
from mapping.errors import Issue


class MissingMappings:
    """Collects missing mappings, keyed so that each is reported once.

    Every method records one refusal (an Issue whose message names the
    configuration key to set) unless the same mapping was already recorded;
    `issues()` gives them in the order first recorded.
    """

    __slots__ = ("_issues",)

    def __init__(self) -> None:
        self._issues: dict[str, Issue] = {}

    def _note(self, key: str, code: str, message: str) -> None:
        if key not in self._issues:
            self._issues[key] = Issue(code, message)

    def sales_account(self, key: str, label: str) -> None:
        """`sales.accounts.<key>` is needed (`label` names it for the merchant)."""
        self._note(
            "MissingSalesAccount:" + key,
            "MissingSalesAccount",
            f"No {label} account has been configured (sales.accounts.{key})",
        )

    def clearing_account(self, payment_type: str) -> None:
        """The clearing account of a Codat payment type is needed."""
        key = payment_account_key(payment_type)
        self._note(
            "MissingPaymentAccount:" + key,
            "MissingPaymentAccount",
            f"Payment type {payment_type} has no clearing account: map it in payments.accounts.{key}",
        )

    def payout_account(self) -> None:
        """`payments.accounts.payout` (the bank) is needed."""
        self._note(
            "MissingPayoutAccount:payout",
            "MissingPayoutAccount",
            "No payout (bank) account has been configured (payments.accounts.payout)",
        )

    def fee_account(self) -> None:
        """`fees.accounts.paymentFee` is needed."""
        self._note(
            "MissingFeeAccount:paymentFee",
            "MissingFeeAccount",
            "No payment fee account has been configured (fees.accounts.paymentFee)",
        )

    def tax_account(self, component_id: str | None, label: str) -> None:
        """A tax liability account is needed: `tax-<component>` or `tax`."""
        key = f"tax-{component_id}" if component_id else "tax"
        self._note(
            "MissingTaxAccount:" + key,
            "MissingTaxAccount",
            f"No tax liability account has been configured for {label} (sales.accounts.{key})",
        )

    def tax_rate(self, percentage: Decimal | None, label: str) -> None:
        """A tax rate for `percentage` is needed (None: untaxed, shown as `label`)."""
        shown = label if percentage is None else f"{format(percentage.normalize(), 'f')}%"
        key = (
            "newTaxRates.selectedDefaultZeroTaxRateId"
            if percentage is None or percentage.is_zero()
            else f"sales.taxRates.{shown[:-1]}"
        )
        self._note(
            "MissingTaxRate:" + shown,
            "MissingTaxRateMapping",
            f"Tax rate {shown} has no mapped tax rate ({key})",
        )

    def zero_rate(self) -> None:
        """The default zero tax rate is needed."""
        self._note(
            "MissingZeroRate",
            "MissingTaxRateMapping",
            "No default zero tax rate has been configured (sales.newTaxRates.selectedDefaultZeroTaxRateId)",
        )

    def fees_supplier(self) -> None:
        """`fees.feesSupplier` is needed (invoice format: fees are bills)."""
        self._note(
            "MissingFeesSupplier",
            "MissingFeesSupplier",
            "No fees supplier has been configured (fees.feesSupplier)",
        )

    def sales_customer(self) -> None:
        """`sales.salesCustomer` is needed (invoice format)."""
        self._note(
            "MissingSalesCustomer",
            "MissingSalesCustomer",
            "No sales customer has been configured (sales.salesCustomer)",
        )

    def issues(self) -> list[Issue]:
        """The refusals recorded so far, in the order first needed."""
        return list(self._issues.values())
