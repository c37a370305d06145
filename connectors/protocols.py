"""The two small protocols every connector implements.

Commerce sources hand back Codat-shaped JSON records (plain dicts, amounts as
`Decimal`); the mapping layer parses them into the canonical model. Keeping the
raw shape at this boundary is what lets the sync store each record verbatim
(id, `modifiedDate`, content hash) and detect edits later.

Accounting targets take documents in the JSON shape that `preview_sync` prints
(see `mapping.documents`): `type`, `key`, `currency`, `date`, lines with
`accountRef.id` ... and write each one exactly once per idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

Record = dict[str, Any]


@dataclass
class CommerceBatch:
    """What a commerce source read for one period."""

    orders: list[Record] = field(default_factory=list)
    transactions: list[Record] = field(default_factory=list)
    products: list[Record] = field(default_factory=list)
    product_categories: list[Record] = field(default_factory=list)
    locations: list[Record] = field(default_factory=list)
    tax_components: list[Record] = field(default_factory=list)
    payment_methods: list[Record] = field(default_factory=list)
    api_calls: int = 0

    def as_commerce(self) -> dict[str, list[Record]]:
        """The batch keyed as in a scenario file's `commerce` object."""
        return {
            "orders": self.orders,
            "transactions": self.transactions,
            "products": self.products,
            "productCategories": self.product_categories,
            "locations": self.locations,
            "taxComponents": self.tax_components,
            "paymentMethods": self.payment_methods,
        }


class CommerceSource(Protocol):
    platform_key: str

    def read_period(self, *, start: datetime, end: datetime) -> CommerceBatch:
        """Records whose `createdDate` lies in [start, end) (aware datetimes),
        plus the reference data (products, categories, locations, ...)."""
        ...


@dataclass(frozen=True)
class AccountOption:
    """An account offered to the merchant in the setup flow."""

    id: str
    name: str
    type: str  # Asset, Liability, Equity, Income, Expense
    status: str = "Active"


@dataclass(frozen=True)
class TaxRateOption:
    id: str
    name: str
    rate: str  # percentage as a decimal string


class AccountingTarget(Protocol):
    platform_key: str

    def list_accounts(self) -> list[AccountOption]: ...

    def list_tax_rates(self) -> list[TaxRateOption]: ...

    def create_account(self, *, account_id: str, name: str, account_type: str) -> AccountOption: ...

    def find_document(self, *, key: str) -> str | None:
        """The target's id of the document written with this idempotency key,
        or None when the target holds no such document."""
        ...

    def write_document(self, *, key: str, document: dict[str, Any]) -> str:
        """Write one document carrying `key`; return the target's id.
        Writing a key that is already present returns the existing id and
        writes nothing."""
        ...
