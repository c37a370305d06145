"""The canonical commerce model: the Codat Commerce records the engine reads.

Plain dataclasses and the enumerations Codat allows. Reading JSON into them is
`mapping.parsing` (checked, with messages that name the record and field) and
`mapping.fastpath` (the lean reader of well-formed records).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from mapping.errors import Issue

ZERO = Decimal(0)
PAYMENT_TYPES = frozenset(
    [
        "Cash",
        "Card",
        "Invoice",
        "OnlineCard",
        "Swish",
        "Vipps",
        "Mobile",
        "StoreCredit",
        "Paypal",
        "Custom",
        "Prepaid",
        "Unknown",
    ]
)
PAYMENT_STATUSES = frozenset(["Pending", "Authorized", "Paid", "Failed", "Cancelled", "Unknown"])
TRANSACTION_TYPES = frozenset(
    [
        "Payment",
        "Refund",
        "Payout",
        "FailedPayout",
        "Transfer",
        "PaymentFee",
        "PaymentFeeRefund",
        "Unknown",
    ]
)
SERVICE_CHARGE_TYPES = frozenset(["Generic", "Shipping", "Overpayment", "Unknown"])


@dataclass(slots=True)
class TaxPart:
    """One tax component's amount on a line (Codat names the amount `rate`)."""

    component_id: str | None
    name: str
    amount: Decimal


@dataclass(slots=True)
class OrderLine:
    id: str
    product_id: str | None
    quantity: Decimal
    tax_percentage: Decimal | None
    total: Decimal  # includes discount and tax
    tax: Decimal
    discount: Decimal  # sum of discount allocations, as the source signs them
    taxes: tuple[TaxPart, ...] = ()

    @property
    def net(self) -> Decimal:
        return self.total - self.tax


@dataclass(slots=True)
class ServiceCharge:
    description: str
    type: str
    total: Decimal  # includes tax
    tax: Decimal
    tax_percentage: Decimal | None
    taxes: tuple[TaxPart, ...] = ()

    @property
    def net(self) -> Decimal:
        return self.total - self.tax


@dataclass(slots=True)
class OrderPayment:
    id: str
    type: str
    amount: Decimal
    currency: str
    status: str


@dataclass(slots=True)
class Order:
    id: str
    currency: str
    created: datetime
    modified: datetime | None
    location_id: str | None
    total: Decimal
    total_tax: Decimal
    gratuity: Decimal
    lines: tuple[OrderLine, ...]
    service_charges: tuple[ServiceCharge, ...]
    payments: tuple[OrderPayment, ...]


@dataclass(slots=True)
class Transaction:
    id: str
    type: str
    currency: str
    total: Decimal
    created: datetime
    modified: datetime | None
    source_id: str | None
    source_type: str | None
    sub_type: str | None = None  # Codat `subType`: the source's own words for the type


@dataclass(slots=True)
class Product:
    id: str
    name: str
    is_gift_card: bool
    category_id: str | None


@dataclass(slots=True)
class TaxComponent:
    """A Codat tax component. `rate` is a fraction of the net price, as
    Codat's Commerce model defines it (0.05 for 5 % GST, 0.09975 for QST)."""

    id: str
    name: str
    rate: Decimal | None

    @property
    def percentage(self) -> Decimal | None:
        """The rate as a percentage (Decimal("9.975") for 0.09975), or None."""
        return None if self.rate is None else (self.rate * 100).normalize()


@dataclass(slots=True)
class CommerceData:
    """A period's records. Orders and transactions may be lists or streams
    (see `mapping.parsing.stream_commerce`); the engine reads each once, orders first."""

    orders: Iterable[Order] = field(default_factory=list)
    transactions: Iterable[Transaction] = field(default_factory=list)
    products: dict[str, Product] = field(default_factory=dict)
    tax_components: dict[str, TaxComponent] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    notes: list[Issue] = field(default_factory=list)  # what reading found worth a warning
