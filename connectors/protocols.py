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

from commerce_sync.errors import ApplicationError

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
    # What the platform itself says the account is for, where it says more
    # than `type` (Exact's G/L account types): one of ACCOUNT_ROLES, "" when
    # it says nothing. The setup flow's standard set proposes by it when no
    # account's name matches (a chart in another language).
    role: str = ""


# AccountOption.role values: cash, bank, card (credit card), paymentServices
# (a payment provider's account), receivable, payable, salesTax (where sales
# VAT is booked to pay), purchaseTax (VAT to claim), vat (other VAT),
# revenue, costOfSales, expense.
ACCOUNT_ROLES = frozenset(
    {
        "cash",
        "bank",
        "card",
        "paymentServices",
        "receivable",
        "payable",
        "salesTax",
        "purchaseTax",
        "vat",
        "revenue",
        "costOfSales",
        "expense",
    }
)


@dataclass(frozen=True)
class TrackingOption:
    """Something a location's documents can be posted under, offered in the
    setup flow's Locations stage: `category_id` and `category` the kind
    (e.g. MYOB's "Category", Exact Online's "CostCenter"), `option_id` what
    the connection's settings keep for a location (an id or a code),
    `option` the name shown to the merchant."""

    category_id: str
    category: str
    option_id: str
    option: str


@dataclass(frozen=True)
class TaxRateOption:
    id: str
    name: str
    rate: str  # percentage as a decimal string


class AccountingTarget(Protocol):
    """Where documents are written. Targets that take one document per call
    get the batch methods from `connectors.batching.SingleWrites`.

    Optional: `advisories(documents) -> list[str]`, plain words for what the
    target will hold differently from the merchant's other books (say an
    invoice its payments cannot mark paid there); the sync shows each as a
    warning of the run before writing. Absent: nothing to say."""

    platform_key: str
    # True when `write_documents` writes several documents per call (Xero,
    # QuickBooks): the sync then hands it whole batches. False: the sync
    # writes item by item through `find_document` and `write_document`.
    writes_in_batches: bool

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
        writes nothing. Raises `DocumentRejected` (this document refused),
        `CredentialsRevoked` / `SubscriptionExpired` (the connection), or a
        `TransientError` (`RateLimited`, `PlatformUnavailable`: try again)."""
        ...

    def write_documents(
        self, items: list[tuple[str, dict[str, Any]]]
    ) -> dict[str, str | ApplicationError]:
        """Write several (key, document) pairs, each exactly once: keys the
        target already holds are looked up, not written again. Returns, per
        key, the target's id or the `ApplicationError` that refused (or, if
        transient, failed) that document alone; a key missing from the answer
        was not answered and may be tried again. Errors of the whole call
        (credentials, subscription, rate limit, outage) are raised."""
        ...

    def check_references(self, documents: list[dict[str, Any]]) -> list[str]:
        """What in the target would make these documents fail, in plain words
        (archived or missing accounts, tax rates, contacts, unmapped
        locations), checked before a sync writes anything; [] when all is
        well or when the target cannot tell. Raises only errors of the call
        (credentials, subscription, transient faults)."""
        ...
