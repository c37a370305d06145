"""What the core hands a connector to build its adapter: a `ConnectorContext`.

Connectors never read the core's models. The core turns a connection row into
this plain, frozen context (`commerce_sync.core.services.connections`): the
merchant facts a connector needs, the connection's non-secret settings parsed
into the platform's own settings class below, its stored secrets, and a token
source factory that keeps OAuth tokens fresh in the encrypted credentials.

Each settings class reads the JSON object kept in `Connection.settings` with
`from_json`, and raises `ConfigurationError` (a message the merchant or the
operator can act on) when something required is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from uuid import UUID

from commerce_sync.errors import ConfigurationError

if TYPE_CHECKING:
    from connectors.common import TokenSource
    from connectors.oauth import OAuthClient

Json = Mapping[str, Any]
S = TypeVar("S")  # the platform's settings class


@dataclass(frozen=True)
class NoSettings:
    """For platforms that read no settings (e.g. `partner-push`)."""

    @classmethod
    def from_json(cls, raw: Json) -> NoSettings:
        return cls()


@dataclass(frozen=True)
class SandboxSettings:
    orders_per_day: int = 40  # orders the generated café takes on an average day
    # What the generated days are drawn from; empty means the merchant's id
    # (each merchant its own café). Set it to replay the same days exactly.
    seed: str = ""

    @classmethod
    def from_json(cls, raw: Json) -> SandboxSettings:
        return cls(orders_per_day=int(raw.get("orders_per_day", 40)), seed=str(raw.get("seed", "")))


@dataclass(frozen=True)
class BeancountSettings:
    # The ledger file; empty means `<LEDGER_DIR>/<merchant id>.beancount`
    # (see `connectors.registry.ledger_path`).
    ledger_path: str = ""

    @classmethod
    def from_json(cls, raw: Json) -> BeancountSettings:
        return cls(ledger_path=str(raw.get("ledger_path") or ""))


@dataclass(frozen=True)
class HttpLedgerSettings:
    base_url: str  # the ledger's root URL; the API key is a credential

    @classmethod
    def from_json(cls, raw: Json) -> HttpLedgerSettings:
        if not raw.get("base_url"):
            raise ConfigurationError("The HTTP ledger connection has no base_url")
        return cls(base_url=str(raw["base_url"]))


@dataclass(frozen=True)
class PartnerSettings:
    """The partner's pulled commerce API. `auth_type` is "api_key" (sent in
    the `header` named) or "client_credentials" (a token from `token_url`
    for `scope`); the secrets themselves are credentials."""

    base_url: str
    auth_type: str = "api_key"
    header: str = "Authorization"
    token_url: str = ""
    scope: str = ""
    page_size: int = 500

    @classmethod
    def from_json(cls, raw: Json) -> PartnerSettings:
        auth = raw.get("auth") or {}
        kind = auth.get("type", "api_key")
        if not raw.get("base_url"):
            raise ConfigurationError("The partner API connection has no base_url")
        if kind == "client_credentials" and not auth.get("token_url"):
            raise ConfigurationError("Client-credentials auth needs a token_url")
        return cls(
            base_url=raw["base_url"],
            auth_type=kind,
            header=auth.get("header", "Authorization"),
            token_url=auth.get("token_url", ""),
            scope=auth.get("scope", ""),
            page_size=int(raw.get("page_size", 500)),
        )


@dataclass(frozen=True)
class SquareSettings:
    location_ids: tuple[str, ...] = ()  # none chosen: every active location
    currency: str = ""  # empty: the merchant's currency

    @classmethod
    def from_json(cls, raw: Json) -> SquareSettings:
        return cls(
            location_ids=tuple(raw.get("location_ids") or ()),
            currency=raw.get("currency") or "",
        )


@dataclass(frozen=True)
class ShopifySettings:
    shop: str  # the shop's name or its myshopify.com domain

    @classmethod
    def from_json(cls, raw: Json) -> ShopifySettings:
        if not raw.get("shop"):
            raise ConfigurationError("This Shopify connection has no shop")
        return cls(shop=raw["shop"])


@dataclass(frozen=True)
class ZettleSettings:
    organization_uuid: str = ""  # empty: the connection's id keys the limits

    @classmethod
    def from_json(cls, raw: Json) -> ZettleSettings:
        return cls(organization_uuid=str(raw.get("organization_uuid") or ""))


@dataclass(frozen=True)
class SumUpSettings:
    merchant_code: str  # SumUp's short merchant identifier, e.g. "MH4H92C7"

    @classmethod
    def from_json(cls, raw: Json) -> SumUpSettings:
        code = str(raw.get("merchant_code") or "")
        if not code or not code.isalnum():
            raise ConfigurationError(
                "This SumUp connection has no merchant_code (letters and digits, as shown in "
                "the SumUp dashboard)"
            )
        return cls(merchant_code=code)


@dataclass(frozen=True)
class LightspeedKSettings:
    """A Lightspeed K-Series connection: the host its API client is bound to
    ("production" or "trial") and the business location (`blID`) the
    merchant picked; empty means every location the grant covers."""

    environment: str = "production"
    business_location_id: str = ""

    @classmethod
    def from_json(cls, raw: Json) -> LightspeedKSettings:
        environment = str(raw.get("environment") or "production")
        if environment not in ("production", "trial"):
            raise ConfigurationError(
                f"This Lightspeed connection's environment is {environment!r}: use "
                '"production" or "trial", the host the Lightspeed API client was made for'
            )
        location = str(raw.get("business_location_id") or "")
        if location and not location.isdigit():
            raise ConfigurationError(
                f"This Lightspeed connection's business_location_id {location!r} is not a "
                "business location id (digits, as /f/data/businesses lists them)"
            )
        return cls(environment=environment, business_location_id=location)


@dataclass(frozen=True)
class CloverSettings:
    """A Clover connection: the merchant's Clover id (13 characters, from the
    consent's callback or set by the partner) and its region (`na`, `eu`,
    `la`, `sandbox`: see `connectors.clover.regions`). Both may be empty
    while the connection waits for its consent; a source needs both."""

    merchant_id: str = ""
    region: str = ""

    @classmethod
    def from_json(cls, raw: Json) -> CloverSettings:
        from connectors.clover.regions import region_check

        merchant_id = str(raw.get("merchant_id") or "")
        region = str(raw.get("region") or "")
        if merchant_id and not merchant_id.isalnum():
            raise ConfigurationError(
                f"Clover merchant id {merchant_id!r} is not letters and digits (as shown in "
                "the Clover dashboard's URL)"
            )
        if region:
            region_check(region)
        return cls(merchant_id=merchant_id, region=region)


@dataclass(frozen=True)
class XeroSettings:
    tenant_id: str  # the organisation booked into
    bank_contact_id: str | None = None  # the contact on bank transactions (fees supplier)
    # {"category": name, "options": {location id: option name}}
    tracking: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, raw: Json) -> XeroSettings:
        tenant_id = raw.get("tenant_id")
        if not tenant_id:
            raise ConfigurationError("This Xero connection has no organisation (tenant) chosen")
        return cls(
            tenant_id=tenant_id,
            bank_contact_id=raw.get("bank_contact_id"),
            tracking=raw.get("tracking"),
        )


@dataclass(frozen=True)
class FreeAgentSettings:
    """A FreeAgent connection. FreeAgent has one company per login, so
    nothing chooses it. A payment, fee refund or payout whose account is a
    category rather than a bank account is written as a journal set against
    the debtors or creditors control category named here (nominal codes;
    `check_references` reports them when the company lacks them)."""

    debtors_category: str = "681"
    creditors_category: str = "796"
    # A journal line on a bank account (a payout, journal format) passes
    # through this category; None: such journals are refused in plain words.
    transit_category: str | None = None

    @classmethod
    def from_json(cls, raw: Json) -> FreeAgentSettings:
        return cls(
            debtors_category=str(raw.get("debtors_category") or "681"),
            creditors_category=str(raw.get("creditors_category") or "796"),
            transit_category=str(raw["transit_category"]) if raw.get("transit_category") else None,
        )


MAX_BUSINESS_ID = 100


def business_id_sendable(value: str) -> bool:
    """Whether `value` can be sent as Sage's `X-Business` header as it is:
    1 to MAX_BUSINESS_ID ASCII letters, digits, `-`, `_` or `.` (Sage's
    business ids are opaque tokens it lists; none holds a space)."""
    return (
        0 < len(value) <= MAX_BUSINESS_ID
        and value.isascii()
        and all(c.isalnum() or c in "-_." for c in value)
    )


@dataclass(frozen=True)
class SageSettings:
    """A Sage Accounting connection: the business booked into
    (`business_id`, sent as `X-Business`) and the nominal codes of the
    control accounts its journals use for payments and bill payments to
    accounts that are not bank accounts: debtors and creditors. Defaults
    are Sage's UK chart (1100, 2100)."""

    business_id: str
    business_name: str = ""
    debtors_account: str = "1100"
    creditors_account: str = "2100"

    @classmethod
    def from_json(cls, raw: Json) -> SageSettings:
        business = str(raw.get("business_id") or "")
        if not business:
            raise ConfigurationError("This Sage Accounting connection has no business chosen")
        if not business_id_sendable(business):
            # It travels as the X-Business header of every call: a space, a
            # line break or a control character would make each call fail
            # (or smuggle a header) long after the connection was accepted.
            raise ConfigurationError(
                "A Sage Accounting business id is the id Sage lists for the business: "
                f"1 to {MAX_BUSINESS_ID} letters, digits or - _ . characters, no spaces"
            )
        return cls(
            business_id=business,
            business_name=str(raw.get("business_name") or ""),
            debtors_account=str(raw.get("debtors_account") or "1100"),
            creditors_account=str(raw.get("creditors_account") or "2100"),
        )


@dataclass(frozen=True)
class QuickBooksSettings:
    realm_id: str  # the company booked into, digits
    # {"by": "Class" | "Department", "options": {location id: QuickBooks id}}
    locations: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, raw: Json) -> QuickBooksSettings:
        realm_id = str(raw.get("realm_id") or "")
        if not realm_id:
            raise ConfigurationError("This QuickBooks connection has no company (realm id)")
        return cls(realm_id=realm_id, locations=raw.get("locations"))


# Exact Online's host per country (the tld of https://start.exactonline.<tld>);
# `ExactSettings.host` is one of these values.
EXACT_HOSTS = {
    "NL": "nl",
    "BE": "be",
    "GB": "co.uk",
    "DE": "de",
    "FR": "fr",
    "ES": "es",
    "US": "com",
}


def exact_host_for(country: str) -> str:
    """The Exact Online host (tld) for an ISO 3166 alpha-2 country: its own
    where Exact has one, else the international "com"."""
    return EXACT_HOSTS.get(country.upper(), "com")


@dataclass(frozen=True)
class ExactSettings:
    """An Exact Online connection: the administration (`division`, an
    integer id) on the country's host (`host`, a value of EXACT_HOSTS), and
    the journals written into: `general_journal` (general journal entries,
    Exact's memorial journal "90" by default) and `sales_journal` (sales
    invoices, "70" by default); `cost_centres` maps location ids to the cost
    centre codes their lines carry."""

    division: int
    host: str = "nl"
    general_journal: str = "90"
    sales_journal: str = "70"
    # {location id: cost centre code}; None when locations are not tracked.
    cost_centres: dict[str, str] | None = None

    @classmethod
    def from_json(cls, raw: Json) -> ExactSettings:
        text = str(raw.get("division") or "").strip()
        if not text or text == "0":
            raise ConfigurationError(
                "This Exact Online connection has no administration (division) chosen"
            )
        # Exact's models type Division as Int32 (the SDK's model classes);
        # int() would also take "+12" or other scripts' digits ("١٢٣" is 123).
        if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= 2**31 - 1:
            raise ConfigurationError(
                "An Exact Online administration (division) is its number as Exact lists it, "
                f"e.g. 499156; {text[:40]!r} is not one"
            )
        division = int(text)
        host = str(raw.get("host") or "nl")
        if host not in EXACT_HOSTS.values():
            raise ConfigurationError(
                f"Exact Online has no host {host!r}; use one of "
                + ", ".join(sorted(set(EXACT_HOSTS.values())))
            )
        return cls(
            division=division,
            host=host,
            general_journal=str(raw.get("general_journal") or "90"),
            sales_journal=str(raw.get("sales_journal") or "70"),
            cost_centres=_location_map(raw.get("cost_centres"), "Exact Online cost centres"),
        )


@dataclass(frozen=True)
class ConnectorContext(Generic[S]):
    """One connection as a connector sees it.

    `merchant_id` is the merchant's UUID; `currency` an ISO 4217 code,
    `time_zone` an IANA name, `country` ISO 3166 alpha-2. `settings` is the
    platform's settings object (a builder takes e.g.
    `ConnectorContext[XeroSettings]`). `credentials` holds the
    stored secrets (API keys, client secrets); it is never shown in a repr.
    `token_source(oauth)` returns the `TokenSource` that reads, refreshes and
    rotates this connection's OAuth tokens with that platform's client.
    """

    connection_id: str
    platform_key: str
    merchant_id: UUID
    merchant_name: str
    currency: str
    time_zone: str
    country: str
    settings: S
    credentials: Mapping[str, Any] = field(repr=False)
    token_source: Callable[[OAuthClient], TokenSource] = field(repr=False)


def myob_company_file_check(value: Any) -> str:
    """A MYOB company file id as every API URL carries it
    (`/accountright/{id}/…`): a GUID such as
    `6f8e9c1a-7b2d-4c3e-9f10-112233445566` (`CompanyFile.Id`, a Guid in the
    SDK contracts, ../shared/reference/myob/sdk-contracts/CompanyFile.cs),
    returned stripped and in lower case. Raises ConfigurationError naming
    what was given when it is empty or not a GUID (a broken URL otherwise)."""
    text = str(value or "").strip()
    if not text:
        raise ConfigurationError("This MYOB connection has no company file chosen")
    try:
        parsed = UUID(text)
    except ValueError:
        parsed = None
    if parsed is None or len(text) != 36 or str(parsed) != text.lower():
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ConfigurationError(
            f"MYOB company file {shown!r} is not a company file id: MYOB's ids are GUIDs "
            "like 6f8e9c1a-7b2d-4c3e-9f10-112233445566 (choose the file from the list MYOB gives)"
        )
    return str(parsed)


@dataclass(frozen=True)
class MyobSettings:
    """A MYOB Business connection: the company file booked into
    (`company_file`, its GUID) and the DisplayIDs of the accounts that
    refunds (`receivable_account`, MYOB's "Trade Debtors" 1-1200 by default)
    and supplier bills and their payments (`payable_account`, "Trade
    Creditors" 2-1200) go through."""

    company_file: str
    receivable_account: str = "1-1200"
    payable_account: str = "2-1200"
    # {location id: the UID of the MYOB category (GeneralLedger/Category) its
    # invoices and journals carry}; None when locations are not tracked.
    categories: dict[str, str] | None = None

    @classmethod
    def from_json(cls, raw: Json) -> MyobSettings:
        return cls(
            company_file=myob_company_file_check(raw.get("company_file")),
            receivable_account=str(raw.get("receivable_account") or "1-1200"),
            payable_account=str(raw.get("payable_account") or "2-1200"),
            categories=_location_map(raw.get("categories"), "MYOB categories"),
        )


def _location_map(raw: Any, what: str) -> dict[str, str] | None:
    """A {location id: value} setting, or None when absent; ConfigurationError
    when it is not an object of non-empty strings."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and k and v for k, v in raw.items()
    ):
        raise ConfigurationError(
            f"The {what} of locations must map each location id to a value; "
            "choose them again on the Locations page"
        )
    return dict(raw)
