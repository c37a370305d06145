"""What the merchant's setup flow needs from the core, beyond saving a
configuration (`configuration.sync_configuration_set`, the one set of rules):

* the options of the flow, read live from the connectors and cached for it
  (`flow_options`): accounts filtered per slot to suitable types, tax rates,
  customers, suppliers, and the payment types seen in the merchant's recent
  data (stored records, else read from the commerce connection);
* which account slots the partner shows (`slot_visible`);
* a standard set of accounts to propose (`standard_set`) and, with the
  merchant's consent, the missing ones created where the target allows it
  (`standard_accounts_create`: the Beancount ledger);
* the preview of what one business day would post (`setup_preview`), the
  same engine as `manage.py preview_sync` and a sync, nothing written;
* finishing (`setup_finish`: a configuration version by actor `merchant`,
  then the first sync requested), pausing and resuming.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import pgettext_lazy

from commerce_sync.core.models import Connection, Merchant, SyncConfiguration, SyncRun
from commerce_sync.core.selectors import payment_types_seen
from commerce_sync.core.services.alerts import alerts_after_connection_linked
from commerce_sync.core.services.audit import audit_log_write
from commerce_sync.core.services.configuration import (
    PAYMENT_TYPES_WINDOW,
    AccountingOptions,
    SetOutcome,
    accounting_connection,
    accounting_options_get,
    sync_configuration_check,
    sync_configuration_set,
)
from commerce_sync.core.services.connections import connection_source, connection_target
from commerce_sync.core.services.sync_flow import REQUIRED_ACCOUNTS, visible_accounts_get
from commerce_sync.errors import ApplicationError, ConfigurationError, CredentialsRevoked
from mapping.config import payment_account_key
from mapping.engine import MappingResult, map_period, payment_index
from mapping.errors import Issue, MappingError
from mapping.parsing import parse_commerce
from mapping.periods import Period, local_instant, zone

log = logging.getLogger(__name__)

MERCHANT = "merchant"  # the audit actor of everything the merchant does in the flow
FLOW_CACHE_SECONDS = 600
# Days of commerce data read to find the payment types when none are stored yet.
PAYMENT_TYPES_READ_DAYS = 7
# Targets where the flow may create accounts (with the merchant's consent).
CREATES_ACCOUNTS = frozenset({"beancount"})

# Account types (AccountOption.type: Asset, Liability, Equity, Income, Expense)
# suitable for each slot, by (section, key); payment types not listed take
# the "payments" default.
SLOT_TYPES: dict[tuple[str, str], tuple[str, ...]] = {
    ("sales", "sales"): ("Income",),
    ("sales", "refund"): ("Income", "Expense"),
    ("sales", "gratuity"): ("Income", "Liability"),
    ("sales", "prepaid"): ("Liability",),
    ("sales", "serviceCharge"): ("Income",),
    ("sales", "discount"): ("Income", "Expense"),
    ("sales", "rounding"): ("Income", "Expense"),
    ("sales", "tax"): ("Liability",),
    ("payments", "payout"): ("Asset",),
    ("payments", "prepaidPayment"): ("Liability", "Asset"),
    ("fees", "paymentFee"): ("Expense",),
    ("fees", "paymentFeeRefund"): ("Expense", "Income"),
}
# A clearing account holds a payment type's money until payout: an asset
# (bank or current asset), never a liability. Gift-card payments
# (prepaidPayment) settle against the gift card liability, listed above.
PAYMENT_SLOT_TYPES = ("Asset",)

# The slots of each page: (key, required). Payments are per type seen.
SALES_SLOTS = (
    ("sales", True),
    ("refund", True),
    ("gratuity", False),
    ("prepaid", False),
    ("serviceCharge", False),
    ("discount", False),
    ("rounding", False),
    ("tax", False),
)
FEES_SLOTS = (("paymentFee", True), ("paymentFeeRefund", False))
# Payment types offered on the payments page even before a sale used them,
# optional until one does: nearly every merchant takes card and cash, and a
# first cash sale then finds its clearing account mapped instead of failing
# the day with MissingPaymentAccount.
COMMON_PAYMENT_TYPES = ("Card", "Cash")
# The tax percentages offered for mapping (Codat's visible-account keys).
TAX_PERCENTAGES = ("0", "5", "10", "20")


@dataclass(frozen=True)
class SalesFacts:
    """What the merchant's recent sales hold that the mapping must cover:
    `tax_percentages` the lines are taxed at (normalised percent strings,
    "20", "8.875", "0" for zero-rated), `untaxed` (lines, gift cards or tips
    carrying no tax: invoices need the default zero rate), the
    `tax_components` lines name ([{id, name, rate}], rate a percentage
    string or ""), and the `locations` ([{id, name}]) orders come from."""

    tax_percentages: tuple[str, ...] = ()
    untaxed: bool = False
    tax_components: tuple[tuple[str, str, str], ...] = ()
    locations: tuple[tuple[str, str], ...] = ()


def _percent(value: Decimal) -> str:
    return format(value.normalize(), "f")


def sales_facts_recent(*, merchant: Merchant, today: date | None = None) -> SalesFacts:
    """The tax rates, tax components and locations of the last
    `PAYMENT_TYPES_READ_DAYS` days read from the merchant's linked commerce
    connection (nothing stored), cached for the flow. A line's rate is the
    one it states, else the sum of its components' rates, else its tax over
    its net to 0.001 %. Empty when there is no connection or it cannot be
    read (logged; the preview then says what is missing)."""
    key = f"setup-flow:sales-facts:{merchant.pk}"
    cached = cache.get(key)
    if isinstance(cached, SalesFacts):
        return cached
    facts = SalesFacts()
    commerce = merchant.connections.filter(
        source_type=Connection.SourceType.COMMERCE, status=Connection.Status.LINKED
    ).first()
    if commerce is not None:
        tz = zone(merchant.time_zone)
        today = today or timezone.localdate(timezone=tz)
        start = local_instant(today - timedelta(days=PAYMENT_TYPES_READ_DAYS), 0, tz)
        try:
            batch = connection_source(connection=commerce).read_period(
                start=start, end=local_instant(today, 0, tz)
            )
            facts = _sales_facts(parse_commerce(batch.as_commerce(), tz))
        except (ApplicationError, MappingError) as error:
            log.warning(
                "sales facts could not be read",
                extra={"merchant": str(merchant.pk), "error": type(error).__name__},
            )
    cache.set(key, facts, FLOW_CACHE_SECONDS)
    return facts


def _sales_facts(data: Any) -> SalesFacts:
    percentages: set[Decimal] = set()
    untaxed = False
    used: dict[str, str] = {}
    locations: dict[str, str] = {}
    components = data.tax_components
    for order in data.orders:
        if order.location_id:
            locations[order.location_id] = data.locations.get(order.location_id) or ""
        if order.gratuity:
            untaxed = True
        taxed = []
        for x in order.lines:
            product = data.products.get(x.product_id) if x.product_id else None
            if product is not None and product.is_gift_card:
                untaxed = True  # gift cards go on invoices at the zero rate
            else:
                taxed.append((x.tax_percentage, x.tax, x.total - x.tax, x.taxes))
        taxed += [
            (c.tax_percentage, c.tax, c.total - c.tax, c.taxes) for c in order.service_charges
        ]
        for stated, tax, net, parts in taxed:
            for part in parts:
                if part.component_id:
                    used[part.component_id] = part.name
            found = stated
            if found is None and parts:
                rates = [components.get(p.component_id or "") for p in parts]
                if all(r is not None and r.percentage is not None for r in rates):
                    found = sum((r.percentage for r in rates if r), Decimal(0))
            if found is None and tax and net:
                try:
                    found = (tax / net * 100).quantize(Decimal("0.001"))
                except ArithmeticError:
                    found = None
            if found is None:
                untaxed = True
            else:
                percentages.add(found.normalize())
    shown = []
    for component_id, name in sorted(used.items()):
        component = components.get(component_id)
        pct = component.percentage if component is not None else None
        label = (component.name if component is not None else "") or name or component_id
        shown.append((component_id, label, "" if pct is None else _percent(pct)))
    return SalesFacts(
        tax_percentages=tuple(_percent(p) for p in sorted(percentages)),
        untaxed=untaxed,
        tax_components=tuple(shown),
        locations=tuple(sorted((k, v or k) for k, v in locations.items())),
    )


@dataclass
class FlowOptions:
    """What the merchant can choose from: `accounts` [{id, name, type,
    status, and role when the platform gives one (AccountOption.role)}],
    `tax_rates` [{id, name, rate}], `customers`/`suppliers` (None
    when the target cannot list them), the `payment_types` offered (Codat
    names: Card, Cash ...: those seen in recent data, plus
    `COMMON_PAYMENT_TYPES` not seen yet, in `payment_types_optional`),
    whether the target lets the flow
    create accounts, and the accounting platform's key ("" when none)."""

    accounts: list[dict[str, str]] = field(default_factory=list)
    tax_rates: list[dict[str, str]] = field(default_factory=list)
    customers: list[dict[str, str]] | None = None
    suppliers: list[dict[str, str]] | None = None
    payment_types: list[str] = field(default_factory=list)
    # Listed but not seen (COMMON_PAYMENT_TYPES): mapping them is optional.
    payment_types_optional: frozenset[str] = frozenset()
    creates_accounts: bool = False
    platform_key: str = ""
    facts: SalesFacts | None = None

    @property
    def seen(self) -> SalesFacts:
        """What the merchant's recent sales hold (empty when unknown)."""
        return self.facts if self.facts is not None else SalesFacts()

    def accounts_for(self, section: str, key: str) -> list[dict[str, str]]:
        """The active accounts suitable for the slot, by name."""
        types = SLOT_TYPES.get((section, key), PAYMENT_SLOT_TYPES if section == "payments" else ())
        return sorted(
            (
                a
                for a in self.accounts
                if a.get("status", "Active") == "Active" and (not types or a["type"] in types)
            ),
            key=lambda a: (a.get("name") or a["id"]).lower(),
        )


def payment_types_recent(*, merchant: Merchant, today: date | None = None) -> list[str]:
    """The payment types (Codat's names) of the merchant's orders in the
    last `PAYMENT_TYPES_WINDOW` of stored records; when none are stored yet
    (a new merchant), of the last `PAYMENT_TYPES_READ_DAYS` days read from
    its linked commerce connection (nothing stored). Cached for the flow.
    Card when nothing is found. Sorted."""
    key = f"setup-flow:payment-types:{merchant.pk}"
    cached = cache.get(key)
    if cached is not None:
        return list(cached)
    seen = payment_types_seen(merchant=merchant, since=timezone.now() - PAYMENT_TYPES_WINDOW)
    if not seen:
        commerce = merchant.connections.filter(
            source_type=Connection.SourceType.COMMERCE, status=Connection.Status.LINKED
        ).first()
        if commerce is not None:
            tz = zone(merchant.time_zone)
            today = today or timezone.localdate(timezone=tz)
            start = local_instant(today - timedelta(days=PAYMENT_TYPES_READ_DAYS), 0, tz)
            try:
                batch = connection_source(connection=commerce).read_period(
                    start=start, end=local_instant(today, 0, tz)
                )
                orders = parse_commerce(batch.as_commerce(), tz).orders
                seen = {p.type for order in orders for p in order.payments}
            except (ApplicationError, MappingError) as error:
                log.warning(
                    "payment types could not be read",
                    extra={"merchant": str(merchant.pk), "error": type(error).__name__},
                )
    found = sorted(str(t) for t in seen if t) or ["Card"]
    cache.set(key, found, FLOW_CACHE_SECONDS)
    return found


def product_categories_recent(*, merchant: Merchant) -> list[dict[str, str]]:
    """The product categories ({id, name}) the merchant's linked commerce
    connection describes (its reference data, read for yesterday; nothing
    stored), cached for the flow; [] when it has none or cannot be read."""
    key = f"setup-flow:categories:{merchant.pk}"
    cached = cache.get(key)
    if cached is not None:
        return list(cached)
    found: list[dict[str, str]] = []
    commerce = merchant.connections.filter(
        source_type=Connection.SourceType.COMMERCE, status=Connection.Status.LINKED
    ).first()
    if commerce is not None:
        tz = zone(merchant.time_zone)
        today = timezone.localdate(timezone=tz)
        try:
            batch = connection_source(connection=commerce).read_period(
                start=local_instant(today - timedelta(days=1), 0, tz),
                end=local_instant(today, 0, tz),
            )
            found = [
                {"id": str(c["id"]), "name": str(c.get("name") or c["id"])}
                for c in batch.product_categories
                if isinstance(c, Mapping) and c.get("id")
            ]
        except ApplicationError as error:
            log.warning(
                "product categories could not be read",
                extra={"merchant": str(merchant.pk), "error": type(error).__name__},
            )
    cache.set(key, found, FLOW_CACHE_SECONDS)
    return found


def flow_options(*, merchant: Merchant) -> FlowOptions:
    """The options of the merchant's linked accounting software (live, cached
    `OPTIONS_CACHE_SECONDS` by `accounting_options_get`) and the payment
    types seen. Raises what the connector raises (TransientError: the
    software did not answer, try again)."""
    connection = accounting_connection(merchant=merchant)
    options = (
        accounting_options_get(connection=connection)
        if connection is not None
        else AccountingOptions()
    )
    seen = payment_types_recent(merchant=merchant)
    return FlowOptions(
        accounts=options.accounts,
        tax_rates=options.tax_rates,
        customers=options.customers,
        suppliers=options.suppliers,
        payment_types=sorted(set(seen) | set(COMMON_PAYMENT_TYPES)),
        payment_types_optional=frozenset(COMMON_PAYMENT_TYPES) - set(seen),
        facts=sales_facts_recent(merchant=merchant),
        creates_accounts=connection is not None and connection.platform_key in CREATES_ACCOUNTS,
        platform_key=connection.platform_key if connection is not None else "",
    )


def slot_visible(*, merchant: Merchant, platform_key: str, section: str, key: str) -> bool:
    """Whether the partner shows this account slot: slots the partner may
    hide are Codat's visible-account keys (`<section>-accounts-<key>`);
    required ones (Codat's and the rules' own: sales, refund, card, payout,
    paymentFee) are always shown, and so are slots outside the catalogue."""
    if key in {"sales", "refund", "payout", "paymentFee"}:
        return True
    name = f"{section}-accounts-{key}"
    if name in REQUIRED_ACCOUNTS:
        return True
    from commerce_sync.core.services.sync_flow import ACCOUNT_KEYS

    if name not in ACCOUNT_KEYS:
        return True
    return name in visible_accounts_get(partner=merchant.partner, platform_key=platform_key)


class AccountExists(Exception):
    """The account to create is already in the accounting software."""

    def __init__(self, account_id: str) -> None:
        super().__init__(account_id)
        self.account_id = account_id


# --- The standard set -----------------------------------------------------------------

# (section, key, account id for a Beancount ledger, name, type, keywords to find one).
# The names are translated when proposed (`standard_set(language=…)`); the ids
# stay as they are in every language: Beancount's root names are English
# unless a ledger's options rename them, and an id is how a proposal is
# found again (switching language never proposes the same account twice).
STANDARD_ACCOUNTS: tuple[tuple[str, str, str, Any, str, tuple[str, ...]], ...] = (
    (
        "sales",
        "sales",
        "Income:Sales",
        pgettext_lazy("standard account", "Sales"),
        "Income",
        ("sales", "revenue"),
    ),
    (
        "sales",
        "refund",
        "Income:Sales:Refunds",
        pgettext_lazy("standard account", "Refunds"),
        "Income",
        ("refund",),
    ),
    (
        "sales",
        "gratuity",
        "Liabilities:Tips",
        pgettext_lazy("standard account", "Tips owed to staff"),
        "Liability",
        ("tip", "gratuit"),
    ),
    (
        "sales",
        "prepaid",
        "Liabilities:GiftCards",
        pgettext_lazy("standard account", "Gift cards"),
        "Liability",
        ("gift", "prepaid"),
    ),
    (
        "sales",
        "tax",
        "Liabilities:SalesTax",
        pgettext_lazy("standard account", "Sales tax"),
        "Liability",
        ("vat", "tax", "gst"),
    ),
    (
        "fees",
        "paymentFee",
        "Expenses:PaymentFees",
        pgettext_lazy("standard account", "Payment fees"),
        "Expense",
        ("fee",),
    ),
    (
        "payments",
        "payout",
        "Assets:Bank:Current",
        pgettext_lazy("standard account", "Bank account"),
        "Asset",
        ("bank", "current"),
    ),
)

# What an account is for, as its platform says (AccountOption.role, e.g.
# Exact's G/L account types), per slot, best first: the standard set takes
# the first active account of the first role that has one (lowest id first:
# the chart's main account, e.g. 8000 before 8010) when no name matches, so a
# chart in another language (Dutch: Omzet, Kas, Te betalen btw) is proposed
# too. Slots not listed have no role that fits them.
SLOT_ROLES: dict[tuple[str, str], tuple[str, ...]] = {
    ("sales", "sales"): ("revenue",),
    ("sales", "refund"): ("revenue",),  # refunds reduce the sales they reverse
    ("sales", "tax"): ("salesTax", "vat"),
    ("fees", "paymentFee"): ("expense",),
    ("payments", "payout"): ("bank",),
    ("payments", "cash"): ("cash",),
}
# Money taken by any other payment type waits on a payment provider's account.
PAYMENT_SLOT_ROLES = ("paymentServices", "card")

# Codat's payment method types (mapping.canonical.PAYMENT_TYPES) as a merchant reads them.
PAYMENT_TYPE_LABELS: dict[str, Any] = {
    "Cash": pgettext_lazy("payment type", "Cash"),
    "Card": pgettext_lazy("payment type", "Card"),
    "Invoice": pgettext_lazy("payment type", "Invoice"),
    "OnlineCard": pgettext_lazy("payment type", "Online card"),
    "Swish": "Swish",
    "Vipps": "Vipps",
    "Mobile": pgettext_lazy("payment type", "Mobile payment"),
    "StoreCredit": pgettext_lazy("payment type", "Store credit"),
    "Paypal": "PayPal",
    "Custom": pgettext_lazy("payment type", "Other payment method"),
    "Prepaid": pgettext_lazy("payment type", "Prepaid (gift card)"),
    "Unknown": pgettext_lazy("payment type", "Unknown payment method"),
}


def payment_type_label(payment_type: str) -> str:
    """`payment_type` (Codat's, e.g. "OnlineCard") in the active language
    ("Online card", "Carte en ligne"); an unknown type as it is."""
    return str(PAYMENT_TYPE_LABELS.get(payment_type, payment_type))


@dataclass(frozen=True)
class ProposedAccount:
    section: str
    key: str
    account_id: str  # an existing account's id, or the one to create
    name: str
    type: str
    exists: bool
    tax_rate: str | None = None  # a percentage: the account is a tax rate (Beancount)


def standard_tax_rate_accounts(
    *, options: FlowOptions, language: str = "en-us"
) -> list[ProposedAccount]:
    """Where the target creates accounts and has no tax rate of a
    percentage the merchant's sales use (or 0 % for untaxed lines, gift
    cards and tips), a tax rate to create: a liability account carrying
    that rate (`Liabilities:SalesTax:Rate20`, named "Tax rate 20 %" in
    `language`, e.g. "Taux de taxe 20 %" in fr-fr), section "taxRates", key
    the percentage. [] elsewhere (the merchant adds rates in its software)."""
    if not options.creates_accounts:
        return []
    have = {_rate_key(r) for r in options.tax_rates}
    wanted = list(options.seen.tax_percentages)
    if options.seen.untaxed and "0" not in wanted:
        wanted.insert(0, "0")
    existing = {a["id"] for a in options.accounts}
    proposals = []
    for pct in wanted:
        if pct in have:
            continue
        account_id = "Liabilities:SalesTax:Rate" + pct.replace(".", "-")
        proposals.append(
            ProposedAccount(
                "taxRates",
                pct,
                account_id,
                _in(language, pgettext_lazy("standard account", "Tax rate %(pct)s %%"))
                % {"pct": pct},
                "Liability",
                account_id in existing,
                pct,
            )
        )
    return proposals


def _rate_key(rate: Mapping[str, Any]) -> str:
    try:
        return _percent(Decimal(str(rate.get("rate", ""))))
    except InvalidOperation:
        return ""


def _in(language: str, text: Any) -> str:
    """`text` (a lazy translation) in `language` (en-us, fr-fr, fr-ca)."""
    with translation.override(language):
        return str(text)


def standard_set(*, options: FlowOptions, language: str = "en-us") -> list[ProposedAccount]:
    """Sensible defaults for every required slot and the common optional
    ones, plus one clearing account per payment type seen: an existing
    suitable account whose name matches, else one whose platform role fits
    the slot (`SLOT_ROLES`: Exact's G/L types, whatever the chart's
    language), else (where the target creates
    accounts) a new one to create with the merchant's consent, named in
    `language` (en-us "Card clearing", fr-fr "Compte d'attente Carte"; the
    id, e.g. Assets:Clearing:Card, is the same in every language). Slots
    with neither are left out."""
    proposals: list[ProposedAccount] = []
    wanted: list[tuple[str, str, str, Any, str, tuple[str, ...]]] = list(STANDARD_ACCOUNTS)
    for payment_type in options.payment_types:
        key = payment_account_key(payment_type)
        component = "".join(part[:1].upper() + part[1:] for part in payment_type.split())
        wanted.append(
            (
                "payments",
                key,
                f"Assets:Clearing:{component}",
                _in(language, pgettext_lazy("standard account", "%(type)s clearing"))
                % {"type": _in(language, PAYMENT_TYPE_LABELS.get(payment_type, payment_type))},
                "Asset",
                (payment_type.lower(), "clearing"),
            )
        )
    for section, key, new_id, lazy_name, account_type, words in wanted:
        name = _in(language, lazy_name)
        candidates = options.accounts_for(section, key)
        found = _best_match(candidates, new_id, words) or _role_match(candidates, section, key)
        if found is not None:
            proposals.append(
                ProposedAccount(
                    section, key, found["id"], found.get("name") or "", found["type"], True
                )
            )
        elif options.creates_accounts:
            existing = {a["id"] for a in options.accounts}
            proposals.append(
                ProposedAccount(section, key, new_id, name, account_type, new_id in existing)
            )
    return proposals


def _best_match(
    candidates: list[dict[str, str]], standard_id: str, words: tuple[str, ...]
) -> dict[str, str] | None:
    """The candidate account to propose for a slot: the standard set's own
    account (`standard_id`, created earlier), else the first whose name
    holds one of `words` (earlier words first), else whose id does. Names
    before ids: the id Income:Sales:Refunds holds "sales", its name does not."""
    exact = next((a for a in candidates if a["id"] == standard_id), None)
    if exact is not None:
        return exact
    for part in ("name", "id"):
        for word in words:
            for account in candidates:
                if word in str(account.get(part) or "").lower():
                    return account
    return None


def _role_match(candidates: list[dict[str, str]], section: str, key: str) -> dict[str, str] | None:
    """The candidate whose platform role (`role`, AccountOption.role) fits
    the slot (`SLOT_ROLES`; other payment types `PAYMENT_SLOT_ROLES`): the
    first role that any candidate has, its lowest id; None when none has."""
    roles = SLOT_ROLES.get(
        (section, key),
        PAYMENT_SLOT_ROLES if section == "payments" and key != "prepaidPayment" else (),
    )
    for role in roles:
        fitting = sorted((a for a in candidates if a.get("role") == role), key=lambda a: a["id"])
        if fitting:
            return fitting[0]
    return None


def standard_tax_rates(*, options: FlowOptions) -> dict[str, str]:
    """Proposed tax rates: {percentage (one the merchant's sales use, or a
    key of TAX_PERCENTAGES; "zero" for untaxed lines): tax rate id}, the
    target's rate of exactly that percentage (the first by name; for 0 %,
    one named for income/sales/zero first)."""

    def percent(rate: dict[str, str]) -> Decimal | None:
        try:
            return Decimal(str(rate.get("rate", ""))).normalize()
        except InvalidOperation:
            return None

    rates = sorted(options.tax_rates, key=lambda r: str(r.get("name", "")).lower())
    found: dict[str, str] = {}
    for pct in dict.fromkeys((*TAX_PERCENTAGES, *options.seen.tax_percentages)):
        matching = [r for r in rates if percent(r) == Decimal(pct).normalize()]
        if pct == "0":
            preferred = [
                r
                for r in matching
                if any(w in str(r.get("name", "")).lower() for w in ("income", "sales", "zero"))
            ]
            matching = preferred or matching
        if matching:
            found[pct] = matching[0]["id"]
    if "0" in found:
        found["zero"] = found["0"]
    return found


def standard_accounts_create(
    *, merchant: Merchant, proposals: list[ProposedAccount], actor: str = MERCHANT
) -> list[str]:
    """Create the proposed accounts that do not exist, in the merchant's
    linked accounting software, when it allows the flow to
    (`CREATES_ACCOUNTS`); audited as `setup_flow.accounts_create`. Returns
    the ids created. Raises what the connector raises (e.g. DocumentRejected
    for an invalid name) and PermissionError where creating is not offered."""
    connection = accounting_connection(merchant=merchant)
    if connection is None or connection.platform_key not in CREATES_ACCOUNTS:
        raise PermissionError("This accounting software does not let the flow create accounts")
    target = connection_target(connection=connection)
    ensure = getattr(target, "ensure_ledger", None)
    if ensure is not None:
        ensure()
    created = []
    for proposal in proposals:
        if proposal.exists or proposal.account_id in created:
            continue
        extra = {"tax_rate": proposal.tax_rate} if proposal.tax_rate is not None else {}
        target.create_account(
            account_id=proposal.account_id, name=proposal.name, account_type=proposal.type, **extra
        )
        created.append(proposal.account_id)
    if created:
        # A new row timestamp makes the cached options stale.
        connection.save(update_fields=["updated_at"])
        audit_log_write(
            actor=actor,
            action="setup_flow.accounts_create",
            obj=connection,
            merchant=merchant,
            changes={"accounts": created},
        )
    return created


def account_create(
    *,
    merchant: Merchant,
    account_id: str,
    name: str,
    account_type: str,
    tax_rate: str | None = None,
    actor: str = MERCHANT,
) -> str:
    """Create one account inline from the flow where the target allows it
    (`CREATES_ACCOUNTS`); returns its id. `tax_rate` (a percentage, for a
    liability) makes it a tax rate too. Raises PermissionError elsewhere,
    AccountExists when the target already has it, and what the connector
    raises for a bad name or type (DocumentRejected, whose message says
    what a valid one looks like)."""
    account_id = account_id.strip()
    connection = accounting_connection(merchant=merchant)
    if connection is not None:
        existing = accounting_options_get(connection=connection).accounts
        if any(a["id"].lower() == account_id.lower() for a in existing):
            raise AccountExists(account_id)
    proposal = ProposedAccount(
        "", "", account_id, name.strip(), account_type, False, tax_rate or None
    )
    standard_accounts_create(merchant=merchant, proposals=[proposal], actor=actor)
    return proposal.account_id


# --- Preview and finish -------------------------------------------------------------------


@dataclass
class Preview:
    """What one business day would post: `day` (the merchant's local date),
    `result` (documents, warnings, errors: the engine's), `orders` read."""

    day: date
    result: MappingResult
    orders: int


def setup_preview_references(*, merchant: Merchant, documents: list[dict[str, Any]]) -> list[str]:
    """What the merchant's linked accounting software would refuse in the
    preview's `documents` (Codat-shaped JSON, as a sync builds them): the
    target's own `check_references` (accounts missing or inactive, tax
    codes, customers, the control accounts a platform books refunds and
    bills through), each in plain English naming the platform. [] when no
    accounting software is linked or there is nothing to post. Reads only;
    raises what the connector raises when it cannot be read."""
    if not documents:
        return []
    books = merchant.connections.filter(
        source_type=Connection.SourceType.ACCOUNTING, status=Connection.Status.LINKED
    ).first()
    if books is None:
        return []
    return list(connection_target(connection=books).check_references(documents))


def setup_preview(
    *, merchant: Merchant, document: Mapping[str, Any], sync_hour: int, time_zone: str, day: date
) -> Preview:
    """Map business day `day` (from `sync_hour` that day to `sync_hour` the
    next, in `time_zone`) read from the merchant's linked commerce
    connection with `document`: the engine a sync runs (`map_period`, as
    `preview_sync`), nothing stored or written. Refusals come back as
    `result.errors`; a source that cannot be read raises what it raises."""
    from mapping.config import parse_configuration

    tz = zone(time_zone)
    start = local_instant(day, sync_hour, tz)
    end = local_instant(day + timedelta(days=1), sync_hour, tz)
    commerce = merchant.connections.filter(
        source_type=Connection.SourceType.COMMERCE, status=Connection.Status.LINKED
    ).first()
    if commerce is None:
        issue = Issue("NoCommerceConnection", "Connect the sales platform first")
        return Preview(day, MappingResult([], [], [issue]), 0)
    try:
        config = parse_configuration(document)
        batch = connection_source(connection=commerce).read_period(start=start, end=end)
        data = parse_commerce(batch.as_commerce(), tz)
        result = map_period(
            data,
            config,
            Period(start, end, sync_hour, tz),
            key_prefix=f"preview-{merchant.pk}",
            payment_types=payment_index(data.orders),
        )
    except MappingError as error:
        return Preview(day, MappingResult([], [], error.issues), 0)
    return Preview(day, result, len(data.orders))


# The most business days one historic sync covers (as the partner API's).
BACKFILL_MAX_DAYS = 366


def posted_first_day(*, merchant: Merchant) -> date | None:
    """The first business day a succeeded sync of `merchant` covered (in
    its configuration's zone and sync hour), or None when nothing was
    posted yet."""
    config = getattr(merchant, "sync_configuration", None)
    first = (
        SyncRun.objects.filter(merchant=merchant, status=SyncRun.Status.SUCCEEDED)
        .order_by("period_start")
        .values_list("period_start", flat=True)
        .first()
    )
    if first is None or config is None:
        return None
    from mapping.periods import business_day

    return business_day(first, config.sync_hour, zone(config.time_zone))


def backfill_range(*, merchant: Merchant, start: date) -> tuple[date, date] | None:
    """The business days [first, until) a start date moved before the days
    already posted adds: from `start` to the first day posted; None when
    nothing was posted or `start` is not earlier."""
    posted = posted_first_day(merchant=merchant)
    if posted is None or start >= posted:
        return None
    return start, posted


@dataclass
class Finished:
    """What finishing did: the configuration `outcome`, the `run` requested
    (None: nothing due yet, or one is already queued), and the `backfill`
    [first, until) of days before those already posted, when the start date
    moved earlier and a historic sync posts them; `superseded` when another
    finish saved a version since the draft was begun (nothing saved or
    requested: `outcome` holds that version)."""

    outcome: SetOutcome
    run: SyncRun | None
    backfill: tuple[date, date] | None = None
    superseded: bool = False


def setup_finish(
    *,
    merchant: Merchant,
    document: Mapping[str, Any],
    schedule: Mapping[str, Any],
    base_version: int | None = None,
) -> Finished:
    """Save the flow's configuration as a new version (actor `merchant`,
    every rule of `sync_configuration_set`; ConfigurationRefused names the
    problems, nothing saved; a Xero connection's bank contact follows the
    fees supplier), then request a sync (enqueued): when the start date
    moved before the days already posted, a historic sync of the days from
    it up to the first one posted (days posted are never posted twice; at
    most BACKFILL_MAX_DAYS, ValueError beyond, nothing saved), else the
    latest. `base_version` is the configuration version the draft began
    from (0: none yet; None: not checked): when the merchant's current one
    is another, nothing is saved or requested: holding these very choices
    (Finish pressed twice at once, two tabs) `superseded` says so; other
    choices (saved meanwhile through the partner API or another session)
    raise ConfigurationMoved, so neither overwrites the other unseen."""
    from commerce_sync.core.services.syncs import sync_request

    merchant.refresh_from_db()
    with transaction.atomic():
        # One finish of a merchant at a time: a second one sees the first's version.
        Merchant.objects.select_for_update().filter(pk=merchant.pk).values_list("pk").get()
        current = SyncConfiguration.objects.filter(merchant=merchant).first()
        if base_version is not None and current is not None and current.version != base_version:
            if not _configuration_same(current, merchant, document, schedule):
                raise ConfigurationMoved(current.version)
            return Finished(SetOutcome(current, []), None, None, superseded=True)
        outcome = sync_configuration_set(
            merchant=merchant, document=document, schedule=schedule, actor=MERCHANT
        )
        _bank_contact_align(merchant=merchant, document=outcome.config.document)
        merchant.refresh_from_db()
        backfill = backfill_range(merchant=merchant, start=outcome.config.start_date)
        if backfill is not None and (backfill[1] - backfill[0]).days > BACKFILL_MAX_DAYS:
            raise ValueError(
                f"At most {BACKFILL_MAX_DAYS} days before the first day posted can be added"
            )
    if not merchant.enabled:
        return Finished(outcome, None, None)
    try:
        with transaction.atomic():
            if backfill is not None:
                run = sync_request(
                    merchant=merchant, first=backfill[0], until=backfill[1], actor=MERCHANT
                )
            else:
                run = sync_request(merchant=merchant, actor=MERCHANT)
    except ApplicationError:  # nothing due yet (2040), another queued (5080)
        return Finished(outcome, None, None)
    return Finished(outcome, run, backfill)


class ConfigurationMoved(Exception):
    """Another version was saved since the draft began, with other choices."""

    def __init__(self, version: int) -> None:
        super().__init__(f"The configuration is at version {version} now")
        self.version = version


def _configuration_same(
    current: SyncConfiguration,
    merchant: Merchant,
    document: Mapping[str, Any],
    schedule: Mapping[str, Any],
) -> bool:
    """Whether `document` and `schedule`, checked as `sync_configuration_set`
    checks them, are what `current` holds."""
    checked = sync_configuration_check(merchant=merchant, document=document, schedule=schedule)
    parsed = checked.schedule
    if checked.problems or parsed is None or checked.document != current.document:
        return False
    return (parsed.start_date, parsed.sync_hour, parsed.time_zone, parsed.frequency) == (
        current.start_date,
        current.sync_hour,
        current.time_zone,
        current.frequency,
    )


def _bank_contact_align(*, merchant: Merchant, document: Mapping[str, Any]) -> None:
    """Xero books bank transactions (the deposit of payment-fee refunds) to a
    contact: its connection's `bank_contact_id` setting follows the fees
    supplier the merchant chose (XeroSettings). Audited when it changes."""
    connection = accounting_connection(merchant=merchant)
    fees = document.get("fees") if isinstance(document, Mapping) else None
    supplier = (fees or {}).get("feesSupplier") or {}
    chosen = str(supplier.get("selectedSupplierId") or "")
    if connection is None or connection.platform_key != "xero" or not chosen:
        return
    if (connection.settings or {}).get("bank_contact_id") == chosen:
        return
    row = Connection.objects.select_for_update().get(pk=connection.pk)
    row.settings = {**(row.settings or {}), "bank_contact_id": chosen}
    row.save(update_fields=["settings", "updated_at"])
    audit_log_write(
        actor=MERCHANT,
        action="connection.settings_update",
        obj=row,
        changes={"bank_contact_id": chosen},
    )


@transaction.atomic
def merchant_sync_pause(*, merchant: Merchant, actor: str = MERCHANT) -> Merchant:
    """Stop scheduled syncs for `merchant` until resumed
    (`syncs.scheduling.merchant_sync_enable`); audited `merchant.sync_paused`."""
    row = Merchant.objects.select_for_update().get(pk=merchant.pk)
    if row.enabled:
        row.enabled = False
        row.disabled_reason = "Paused by the merchant"
        row.save(update_fields=["enabled", "disabled_reason", "updated_at"])
        audit_log_write(actor=actor, action="merchant.sync_paused", obj=row)
    return row


# --- OAuth: connecting a platform from the flow ----------------------------------------

OAUTH_PLATFORMS = frozenset(
    {
        "xero",
        "quickbooks",
        "square",
        "zettle",
        "shopify",
        "sumup",
        "lightspeed-k",
        "stripe",
        "clover",
        "freeagent",
        "exact",
        "sage",
        "myob",
    }
)


def _exact_host(connection: Connection) -> str:
    """The Exact Online host (tld) of `connection`: its `host` setting, else
    the one of the merchant's country."""
    from connectors.context import exact_host_for

    return str((connection.settings or {}).get("host") or "") or exact_host_for(
        connection.merchant.country
    )


def _oauth_client(platform_key: str, settings: Mapping[str, Any]) -> Any:
    if platform_key == "xero":
        from connectors.xero.oauth import xero_oauth_client

        return xero_oauth_client()
    if platform_key == "quickbooks":
        from connectors.quickbooks.oauth import quickbooks_oauth_client

        return quickbooks_oauth_client()
    if platform_key == "square":
        from connectors.square.oauth import square_oauth_client

        return square_oauth_client()
    if platform_key == "zettle":
        from connectors.zettle.oauth import zettle_oauth_client

        return zettle_oauth_client()
    if platform_key == "sumup":
        from connectors.sumup.oauth import sumup_oauth_client

        return sumup_oauth_client()
    if platform_key == "stripe":
        from connectors.stripe.oauth import stripe_connect_oauth_client

        return stripe_connect_oauth_client()
    if platform_key == "lightspeed-k":
        from connectors.lightspeed_k.oauth import lightspeed_k_oauth_client

        return lightspeed_k_oauth_client(str(settings.get("environment") or "production"))
    if platform_key == "clover":
        from connectors.clover.oauth import clover_oauth_client
        from connectors.clover.regions import region_check

        return clover_oauth_client(region_check(str(settings.get("region") or "")))
    if platform_key == "freeagent":
        from connectors.freeagent.oauth import freeagent_oauth_client

        return freeagent_oauth_client()
    if platform_key == "exact":
        from connectors.exact.oauth import exact_oauth_client

        return exact_oauth_client(str(settings.get("host") or "nl"))
    if platform_key == "sage":
        from connectors.sage.oauth import sage_oauth_client

        return sage_oauth_client()
    if platform_key == "myob":
        from connectors.myob.oauth import myob_oauth_client

        return myob_oauth_client()
    if platform_key == "shopify":
        from connectors.shopify.oauth import shop_domain, shopify_oauth_client

        return shopify_oauth_client(shop_domain(str(settings.get("shop") or "")))
    raise LookupError(f"{platform_key} has no OAuth consent to give")


def _oauth_settings(connection: Connection) -> Mapping[str, Any]:
    """The connection's settings as its OAuth client needs them (Exact: with
    the host of the merchant's country when none is set)."""
    settings = dict(connection.settings or {})
    if connection.platform_key == "exact":
        settings["host"] = _exact_host(connection)
    return settings


@dataclass(frozen=True)
class OAuthStart:
    """Where to send the merchant and what to keep in its session until the
    callback (`state` and the PKCE `code_verifier`: secrets of the session)."""

    url: str
    state: str
    code_verifier: str = field(repr=False)


def oauth_begin(*, connection: Connection, redirect_uri: str) -> OAuthStart:
    """The authorisation URL of `connection`'s platform (authorisation code
    with PKCE S256 and a random state; vendors without PKCE ignore the
    challenge). LookupError for a platform without OAuth."""
    client = _oauth_client(connection.platform_key, _oauth_settings(connection))
    request = client.authorization_request(redirect_uri=redirect_uri)
    return OAuthStart(request.url, request.state, request.code_verifier)


@dataclass(frozen=True)
class Organisation:
    id: str
    name: str


@dataclass
class OAuthDone:
    """The connection (Linked when one organisation is known) and, for Xero
    grants reaching several organisations, the ones to choose from."""

    connection: Connection
    organisations: list[Organisation] = field(default_factory=list)


@transaction.atomic
def connection_link(
    *,
    connection: Connection,
    credentials: dict[str, str],
    settings: Mapping[str, Any],
    linked: bool,
    actor: str = MERCHANT,
) -> Connection:
    """Store `credentials` (encrypted, never audited) and merge `settings`
    (non-secret: tenant, realm) into `connection`; Linked when `linked`,
    else left PendingAuth until an organisation is chosen. Audited
    `connection.authorize` naming the keys only; a Deauthorized connection
    linked again ends its deauthorisation incident (the merchant reconnected)."""
    row = Connection.objects.select_for_update().get(pk=connection.pk)
    before = row.status
    row.credentials = dict(credentials)
    row.settings = {**(row.settings or {}), **settings}
    if linked:
        row.status = Connection.Status.LINKED
        row.last_error = ""
    row.save(update_fields=["credentials", "settings", "status", "last_error", "updated_at"])
    audit_log_write(
        actor=actor,
        action="connection.authorize",
        obj=row,
        changes={
            "keys": sorted(credentials),
            "settings": dict(settings),
            "from": before,
            "to": row.status,
        },
    )
    if before == Connection.Status.DEAUTHORIZED and row.status == Connection.Status.LINKED:
        alerts_after_connection_linked(connection=row)
    return row


def oauth_finish(
    *,
    connection: Connection,
    params: Mapping[str, str],
    expected_state: str,
    code_verifier: str,
    redirect_uri: str,
) -> OAuthDone:
    """Complete the consent from the callback's query `params`: the state
    must be the one issued to this session (CredentialsRevoked otherwise),
    the code is exchanged (with the PKCE verifier) for tokens stored
    encrypted; QuickBooks names its company (`realmId`), Xero lists the
    organisations the grant reaches (one: linked to it; several: the
    merchant chooses, `oauth_organisation_choose`). Raises what the
    connectors raise (CredentialsRevoked, PlatformUnavailable,
    ConfigurationError)."""
    client = _oauth_client(connection.platform_key, _oauth_settings(connection))
    # Shopify signs its callback: its client checks the signature of them all.
    signed = {"params": dict(params)} if connection.platform_key == "shopify" else {}
    try:
        tokens = client.exchange_code(
            code=str(params.get("code") or ""),
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
            state=str(params.get("state") or ""),
            expected_state=expected_state,
            **signed,
        )
    except CredentialsRevoked as error:
        # The operator's clue when the platform refuses our app (a wrong
        # client secret, a redirect URI not registered...): the reason is the
        # platform's error code, never a secret.
        log.warning(
            "consent answer refused",
            extra={
                "connection": str(connection.pk),
                "platform": connection.platform_key,
                "reason": error.message,
            },
        )
        raise
    credentials = tokens.as_credentials()
    if connection.platform_key == "quickbooks":
        from connectors.quickbooks.oauth import realm_from_callback

        realm = realm_from_callback(params)
        row = connection_link(
            connection=connection,
            credentials=credentials,
            settings={"realm_id": realm},
            linked=True,
        )
        return OAuthDone(_company_name_remember(row))
    if connection.platform_key == "clover":
        from connectors.clover.oauth import merchant_from_callback

        return OAuthDone(
            connection_link(
                connection=connection,
                credentials=credentials,
                settings={"merchant_id": merchant_from_callback(params)},
                linked=True,
            )
        )
    if connection.platform_key == "exact":
        return _exact_divisions_link(connection, credentials, tokens.access_token)
    if connection.platform_key == "sage":
        return _sage_businesses_link(connection, credentials, tokens.access_token)
    if connection.platform_key == "myob":
        return _myob_company_files_link(connection, credentials, tokens.access_token)
    if connection.platform_key == "xero":
        from connectors.xero.oauth import xero_tenants

        tenants = [
            t
            for t in xero_tenants(access_token=tokens.access_token)
            if t.tenant_type == "ORGANISATION"
        ]
        if len(tenants) == 1:
            return OAuthDone(
                connection_link(
                    connection=connection,
                    credentials=credentials,
                    settings={"tenant_id": tenants[0].tenant_id, "tenant_name": tenants[0].name},
                    linked=True,
                )
            )
        row = connection_link(
            connection=connection, credentials=credentials, settings={}, linked=False
        )
        return OAuthDone(row, [Organisation(t.tenant_id, t.name) for t in tenants])
    if connection.platform_key == "lightspeed-k":
        return _lightspeed_k_finish(connection, credentials)
    return OAuthDone(
        connection_link(connection=connection, credentials=credentials, settings={}, linked=True)
    )


def _lightspeed_k_options(connection: Connection, access_token: str) -> list[Organisation]:
    from connectors.lightspeed_k.adapter import lightspeed_k_location_options

    options = lightspeed_k_location_options(
        access_token=access_token,
        environment=str((connection.settings or {}).get("environment") or "production"),
        currency=connection.merchant.currency,
    )
    return [Organisation(ident, name) for ident, name in options]


def _lightspeed_k_finish(connection: Connection, credentials: dict[str, str]) -> OAuthDone:
    """A K-Series grant: the business location the connection was made for
    (its `business_location_id`), else the only one in the merchant's
    currency, else the merchant picks (`oauth_organisation_choose`)."""
    if (connection.settings or {}).get("business_location_id"):
        return OAuthDone(
            connection_link(
                connection=connection, credentials=credentials, settings={}, linked=True
            )
        )
    options = _lightspeed_k_options(connection, credentials["access_token"])
    if len(options) == 1:
        chosen = {"business_location_id": options[0].id}
        return OAuthDone(
            connection_link(
                connection=connection, credentials=credentials, settings=chosen, linked=True
            )
        )
    row = connection_link(connection=connection, credentials=credentials, settings={}, linked=False)
    return OAuthDone(row, options)


def _exact_divisions_link(
    connection: Connection, credentials: dict[str, str], access_token: str
) -> OAuthDone:
    """An Exact grant reaches the user's administrations (divisions): one is
    linked at once, several are offered to choose from."""
    from connectors.exact.oauth import exact_divisions

    host = _exact_host(connection)
    divisions = exact_divisions(access_token=access_token, host=host)
    if len(divisions) == 1:
        return OAuthDone(
            connection_link(
                connection=connection,
                credentials=credentials,
                settings={
                    "division": divisions[0].code,
                    "division_name": divisions[0].name,
                    "host": host,
                },
                linked=True,
            )
        )
    row = connection_link(
        connection=connection, credentials=credentials, settings={"host": host}, linked=False
    )
    return OAuthDone(row, [Organisation(str(d.code), d.name) for d in divisions])


def _sage_businesses_link(
    connection: Connection, credentials: dict[str, str], access_token: str
) -> OAuthDone:
    """A Sage grant reaches the user's businesses: one is linked at once,
    several are offered to choose from (the organisation picker)."""
    from connectors.sage.oauth import sage_businesses

    businesses = sage_businesses(access_token=access_token)
    if len(businesses) == 1:
        chosen = {"business_id": businesses[0].id, "business_name": businesses[0].name}
        return OAuthDone(
            connection_link(
                connection=connection, credentials=credentials, settings=chosen, linked=True
            )
        )
    row = connection_link(connection=connection, credentials=credentials, settings={}, linked=False)
    return OAuthDone(row, [Organisation(b.id, b.name) for b in businesses])


def _myob_company_files_link(
    connection: Connection, credentials: dict[str, str], access_token: str
) -> OAuthDone:
    """A MYOB grant reaches the user's company files: one is linked at
    once, several are offered to choose from."""
    from connectors.myob.oauth import myob_company_files

    files = myob_company_files(access_token=access_token)
    if len(files) == 1:
        return OAuthDone(
            connection_link(
                connection=connection,
                credentials=credentials,
                settings={"company_file": files[0].id, "company_file_name": files[0].name},
                linked=True,
            )
        )
    row = connection_link(connection=connection, credentials=credentials, settings={}, linked=False)
    return OAuthDone(row, [Organisation(f.id, f.name) for f in files])


def oauth_organisation_choose(*, connection: Connection, organisation_id: str) -> Connection:
    """Link a Xero connection to one of the organisations its grant reaches,
    or a Lightspeed K-Series one to one of its business locations, or an
    Exact Online one to one of its administrations, a Sage Accounting one
    to one of its businesses, or a MYOB one to one of its company files
    (listed again with the stored token). ConfigurationError when the grant
    does not reach it."""
    if connection.platform_key == "sage":
        from connectors.sage.oauth import sage_business_select, sage_businesses

        token = str((connection.credentials or {}).get("access_token", ""))
        business = sage_business_select(sage_businesses(access_token=token), organisation_id)
        return connection_link(
            connection=connection,
            credentials=dict(connection.credentials or {}),
            settings={"business_id": business.id, "business_name": business.name},
            linked=True,
        )
    if connection.platform_key == "myob":
        from connectors.myob.oauth import myob_company_file_select, myob_company_files

        token = str((connection.credentials or {}).get("access_token", ""))
        chosen = myob_company_file_select(myob_company_files(access_token=token), organisation_id)
        return connection_link(
            connection=connection,
            credentials=dict(connection.credentials or {}),
            settings={"company_file": chosen.id, "company_file_name": chosen.name},
            linked=True,
        )
    if connection.platform_key == "exact":
        from connectors.exact.oauth import exact_division_select, exact_divisions

        host = _exact_host(connection)
        token = str((connection.credentials or {}).get("access_token", ""))
        division = exact_division_select(
            exact_divisions(access_token=token, host=host), organisation_id
        )
        return connection_link(
            connection=connection,
            credentials=dict(connection.credentials or {}),
            settings={"division": division.code, "division_name": division.name, "host": host},
            linked=True,
        )
    from connectors.xero.oauth import xero_tenant_select, xero_tenants

    if connection.platform_key == "lightspeed-k":
        token = str((connection.credentials or {}).get("access_token", ""))
        options = _lightspeed_k_options(connection, token)
        if organisation_id not in {o.id for o in options}:
            raise ConfigurationError(
                "That Lightspeed business location is not one this connection may read: "
                "choose one of those listed"
            )
        return connection_link(
            connection=connection,
            credentials=dict(connection.credentials or {}),
            settings={"business_location_id": organisation_id},
            linked=True,
        )

    tenants = xero_tenants(access_token=str((connection.credentials or {}).get("access_token", "")))
    tenant = xero_tenant_select(tenants, organisation_id)
    return connection_link(
        connection=connection,
        credentials=dict(connection.credentials or {}),
        settings={"tenant_id": tenant.tenant_id, "tenant_name": tenant.name},
        linked=True,
    )


def _company_name_remember(connection: Connection) -> Connection:
    """A QuickBooks connection with its company's name kept in its settings
    (`company_name`), so the merchant sees which company it posts to. Best
    effort: when QuickBooks cannot say, it is logged and left out."""
    try:
        name = connection_target(connection=connection).company_name()
    except ApplicationError as error:
        log.warning("QuickBooks company name not read for connection %s: %s", connection.pk, error)
        return connection
    if not name:
        return connection
    with transaction.atomic():
        row = Connection.objects.select_for_update().get(pk=connection.pk)
        row.settings = {**(row.settings or {}), "company_name": str(name)[:255]}
        row.save(update_fields=["settings", "updated_at"])
    return row


def organisation_name(connection: Connection) -> str:
    """The organisation or company an accounting connection posts to, as its
    platform names it (Xero's tenant name, QuickBooks' company name, Sage's
    business, MYOB's company file, Exact's administration), "" when unknown
    or not applicable."""
    settings = connection.settings or {}
    for key in ("tenant_name", "company_name", "business_name", "company_file_name"):
        if settings.get(key):
            return str(settings[key])
    return str(settings.get("division_name") or "")


# --- Someone else's stage ----------------------------------------------------------------

INVITE_STAGES = ("commerce", "accounting", "sales", "fees", "payments", "schedule")


def stage_invite_send(
    *,
    merchant: Merchant,
    stage: str,
    email: str,
    base_url: str,
    locale: str = "",
    actor: str = MERCHANT,
) -> None:
    """Invite `email` (the merchant's accountant, the account owner) to
    complete `stage` of the flow: a single-use link of its own, valid
    SETUP_INVITE_TTL seconds, whose session sees that stage only; sent by
    email (the link is in the email only: never stored, logged or shown).
    Audited `setup_flow.invite` with the stage and the address. Raises
    ValidationError for a bad address or stage."""
    from django.conf import settings
    from django.core.exceptions import ValidationError
    from django.core.mail import send_mail
    from django.core.validators import validate_email

    from commerce_sync.core.services.setup_links import setup_link_issue

    if stage not in INVITE_STAGES:
        raise ValidationError({"stage": f"Invite to one of {', '.join(INVITE_STAGES)}."})
    validate_email(email)
    with transaction.atomic():
        issued = setup_link_issue(
            merchant=merchant,
            actor=actor,
            locale=locale,
            stage=stage,
            ttl_seconds=settings.SETUP_INVITE_TTL,
        )
        audit_log_write(
            actor=actor,
            action="setup_flow.invite",
            obj=issued.link,
            merchant=merchant,
            changes={"stage": stage, "email": email},
        )
    hours = settings.SETUP_INVITE_TTL // 3600
    url = f"{base_url.rstrip('/')}/setup/start/{issued.code}"
    send_mail(
        subject=f"{merchant.name}: please complete a step of the accounting sync setup",
        message=(
            f"{merchant.name} asks you to complete one step of setting up the sync of its "
            f"sales into its accounting software.\n\nOpen this link (it works once, for "
            f"{hours} hours):\n{url}\n\nIf you were not expecting this, ignore this email.\n"
        ),
        from_email=None,
        recipient_list=[email],
    )


SHARED_DRAFT_SECONDS = 30 * 24 * 3600


def shared_draft_put(*, merchant: Merchant, sections: Mapping[str, Any]) -> None:
    """What an invitee completed (document sections, or "schedule"), kept
    for the merchant's own session to pick up (Django's shared cache)."""
    import time

    key = f"setup-flow:shared:{merchant.pk}"
    shared = dict(cache.get(key) or {})
    shared.update(sections)
    shared["at"] = time.time()
    cache.set(key, shared, SHARED_DRAFT_SECONDS)


def shared_draft_get(*, merchant: Merchant) -> dict[str, Any]:
    return dict(cache.get(f"setup-flow:shared:{merchant.pk}") or {})


# --- Locations: tracking per location --------------------------------------------------

# Targets whose connection settings track each location on document lines:
# Xero by a tracking category's options (`XeroSettings.tracking`, option
# names), QuickBooks by Department or Class (`QuickBooksSettings.locations`, ids),
# MYOB by categories (`MyobSettings.categories`, UIDs) and Exact Online by cost
# centres (`ExactSettings.cost_centres`, codes).
TRACKS_LOCATIONS = frozenset({"xero", "quickbooks", "myob", "exact"})
# Targets tracking by one kind only, kept as a flat {location id: value}
# setting: platform -> (settings key, the kind: TrackingOption.category).
LOCATION_MAPS = {"myob": ("categories", "Category"), "exact": ("cost_centres", "CostCenter")}


def location_tracking_options(*, merchant: Merchant) -> list[dict[str, str]] | None:
    """The tracking options a location can be posted to, when the linked
    accounting software tracks locations from the flow (`TRACKS_LOCATIONS`:
    Xero's tracking categories, QuickBooks' departments and classes):
    [{category_id, category, option_id, option, value}] (active options,
    cached for the flow; `value` is what the connection's settings hold:
    the option's name for Xero, its Id for QuickBooks, the category's UID
    for MYOB, the cost centre's code for Exact Online); None where it does
    not. Raises what the connector raises (TransientError: try again)."""
    connection = accounting_connection(merchant=merchant)
    if connection is None or connection.platform_key not in TRACKS_LOCATIONS:
        return None
    key = f"setup-flow:tracking:v2:{connection.pk}:{connection.updated_at.timestamp()}"
    cached = cache.get(key)
    if cached is not None:
        return list(cached)
    target = connection_target(connection=connection)
    found = [
        {
            "category_id": o.category_id,
            "category": o.category,
            "option_id": o.option_id,
            "option": o.option,
            "value": o.option if connection.platform_key == "xero" else o.option_id,
        }
        for o in target.list_tracking_options()  # type: ignore[attr-defined]
    ]
    cache.set(key, found, FLOW_CACHE_SECONDS)
    return found


def location_tracking_get(*, merchant: Merchant) -> dict[str, Any]:
    """The linked accounting connection's tracking of locations as
    {"category": name, "options": {location id: value}} (see
    `location_tracking_options`), {} when none."""
    connection = accounting_connection(merchant=merchant)
    if connection is None:
        return {}
    settings = connection.settings or {}
    if connection.platform_key in LOCATION_MAPS:
        key, kind = LOCATION_MAPS[connection.platform_key]
        mapped = settings.get(key)
        return {"category": kind, "options": dict(mapped)} if isinstance(mapped, Mapping) else {}
    if connection.platform_key == "quickbooks":
        locations = settings.get("locations")
        if not isinstance(locations, Mapping):
            return {}
        return {"category": locations.get("by"), "options": dict(locations.get("map") or {})}
    tracking = settings.get("tracking")
    return dict(tracking) if isinstance(tracking, Mapping) else {}


def location_tracking_set(
    *, merchant: Merchant, category: str, options: Mapping[str, str], actor: str = MERCHANT
) -> dict[str, Any]:
    """Post each location's documents with a tracking option: `category` a
    tracking category ("" stops tracking: Xero's category name,
    QuickBooks' "Department" or "Class", MYOB's "Category", Exact Online's
    "CostCenter"), `options` {location id: value}
    (see `location_tracking_options`; locations left out are refused by
    the sync when they sell, naming them). Saved on the connection's
    settings (`XeroSettings.tracking` {"category", "options"},
    `QuickBooksSettings.locations` {"by", "map"}, `MyobSettings.categories`
    and `ExactSettings.cost_centres` {location id: value}), audited
    `connection.settings_update`. ValueError (its message for the merchant)
    for a category or option the software does not have; PermissionError
    where tracking is not offered."""
    connection = accounting_connection(merchant=merchant)
    choices = location_tracking_options(merchant=merchant)
    if connection is None or choices is None:
        raise PermissionError("This accounting software does not track locations from the flow")
    chosen = {k: v for k, v in sorted(options.items()) if v}
    if category:
        values = {c["value"] for c in choices if c["category"] == category}
        if not values:
            raise ValueError(f"Tracking category {category} does not exist")
        for location, option in chosen.items():
            if option not in values:
                raise ValueError(f"{option} is not an option of {category} ({location})")
    quickbooks = connection.platform_key == "quickbooks"
    key = "locations" if quickbooks else "tracking"
    value: dict[str, Any] | None = None
    if category:
        value = (
            {"by": category, "map": chosen}
            if quickbooks
            else {"category": category, "options": chosen}
        )
    if connection.platform_key in LOCATION_MAPS:
        key = LOCATION_MAPS[connection.platform_key][0]
        value = chosen if category else None
    with transaction.atomic():
        row = Connection.objects.select_for_update().get(pk=connection.pk)
        settings = dict(row.settings or {})
        if settings.get(key) != value:
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
            row.settings = settings
            row.save(update_fields=["settings", "updated_at"])
            audit_log_write(
                actor=actor,
                action="connection.settings_update",
                obj=row,
                merchant=merchant,
                changes={key: value},
            )
    return location_tracking_get(merchant=merchant)


# --- Reconnecting -----------------------------------------------------------------------


def connection_reconnect(*, connection: Connection, actor: str = MERCHANT) -> Connection:
    """A fresh connection of `connection`'s merchant to the same platform,
    in place of one disconnected (Unlinked): same side and settings (shop,
    tracking ...; never credentials), Pending until the merchant authorises
    it again (Linked at once for platforms that need no consent). Returns
    the connection to use: `connection` itself when it is not Unlinked (a
    Deauthorized or Pending one is authorised again in place). Raises
    Django's ValidationError when the merchant already has another active
    connection on that side."""
    from commerce_sync.core.services.connections import connection_create

    if connection.status != Connection.Status.UNLINKED:
        return connection
    settings = {
        k: v
        for k, v in (connection.settings or {}).items()
        if k not in ("tenant_id", "realm_id", "bank_contact_id")  # chosen again on consent
    }
    return connection_create(
        merchant=connection.merchant,
        platform_key=connection.platform_key,
        source_type=connection.source_type,
        settings=settings,
        actor=actor,
    )


def clover_region_set(*, connection: Connection, region: str, actor: str = MERCHANT) -> Connection:
    """Record the Clover region a connection's merchant lives in (`na`,
    `eu`, `la`, `sandbox`; chosen by the merchant before the consent screen,
    which is on that region's host). ConfigurationError naming the choices
    for anything else; audited `connection.settings_update`."""
    from connectors.clover.regions import region_check

    region_check(region)
    return _connection_setting_put(connection=connection, key="region", value=region, actor=actor)


def sumup_merchant_code_set(
    *, connection: Connection, merchant_code: str, actor: str = MERCHANT
) -> Connection:
    """Record the SumUp merchant code a connection reads (letters and digits,
    e.g. "MH4H92C7", as the SumUp dashboard shows it; SumUp's API paths name
    it), typed by the merchant before the consent screen. ConfigurationError
    for anything else; audited `connection.settings_update`."""
    from connectors.context import SumUpSettings

    code = SumUpSettings.from_json({"merchant_code": merchant_code.strip().upper()}).merchant_code
    return _connection_setting_put(
        connection=connection, key="merchant_code", value=code, actor=actor
    )


def freeagent_transit_categories(*, connection: Connection) -> list[dict[str, str]]:
    """The active FreeAgent categories (not bank accounts) a linked FreeAgent
    connection may pass journal lines on a bank account through: [{"id":
    nominal code, "name"}] as the options list them. Raises what the
    connector raises when FreeAgent cannot be read."""
    from connectors.freeagent.translate import is_bank

    return [
        {"id": a["id"], "name": a["name"]}
        for a in accounting_options_get(connection=connection).accounts
        if not is_bank(a["id"]) and a.get("status", "Active") in ("Active", "")
    ]


def freeagent_transit_category_set(
    *, connection: Connection, transit_category: str, actor: str = MERCHANT
) -> Connection:
    """Record the category (a nominal code, e.g. "750") through which a
    FreeAgent connection's journals reach a bank account (`transit_category`,
    `connectors.context.FreeAgentSettings`), chosen by the merchant.
    ConfigurationError when it is not one of the company's active
    categories; audited `connection.settings_update`."""
    category = transit_category.strip()
    if category not in {c["id"] for c in freeagent_transit_categories(connection=connection)}:
        raise ConfigurationError(f"{category!r} is not an active FreeAgent category")
    return _connection_setting_put(
        connection=connection, key="transit_category", value=category, actor=actor
    )


def _connection_setting_put(
    *, connection: Connection, key: str, value: str, actor: str
) -> Connection:
    """Set one non-secret setting of `connection` under its row lock;
    audited `connection.settings_update` when it changes."""
    with transaction.atomic():
        row = Connection.objects.select_for_update().get(pk=connection.pk)
        if (row.settings or {}).get(key) != value:
            row.settings = {**(row.settings or {}), key: value}
            row.save(update_fields=["settings", "updated_at"])
            audit_log_write(
                actor=actor,
                action="connection.settings_update",
                obj=row,
                merchant=row.merchant,
                changes={key: value},
            )
    return row


def shopify_shop_set(*, connection: Connection, shop: str, actor: str = MERCHANT) -> Connection:
    """Record the shop a Shopify connection is for (its `name.myshopify.com`
    domain, the merchant types it before the consent screen, which lives on
    that domain). ConfigurationError (its message says the expected form)
    for anything else; audited `connection.settings_update`."""
    from connectors.shopify.oauth import shop_domain

    domain = shop_domain(shop if "." in shop.strip() else f"{shop.strip()}.myshopify.com")
    return _connection_setting_put(connection=connection, key="shop", value=domain, actor=actor)
