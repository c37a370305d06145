"""A merchant's configuration as partners read and write it (Codat's
`Configuration`): validated with the rules the sync applies, saved as a new
version by `merchants.sync_configuration_save` (the one saving function),
and offered with the options read live from the accounting software.

The stored document is Codat's `commerceConfiguration` holding only the
choices (`selectedAccountId` ...); the options (`accountOptions`,
`taxRateOptions`, `customerOptions`, `supplierOptions`) are never stored:
they are read from the merchant's accounting connection and cached for
`OPTIONS_CACHE_SECONDS` per connection (Django's cache).
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from commerce_sync.core.models import Connection, Frequency, Merchant, SyncConfiguration
from commerce_sync.core.selectors import payment_types_seen
from commerce_sync.core.services.connections import connection_target
from commerce_sync.core.services.merchants import sync_configuration_save
from commerce_sync.core.validators import time_zone_get
from commerce_sync.errors import ConfigurationError
from mapping.config import INVOICE, JOURNAL, parse_configuration, payment_account_key
from mapping.errors import MappingError

log = logging.getLogger(__name__)

OPTIONS_CACHE_SECONDS = 60
# How far back the payment types "seen in the data" are looked for.
PAYMENT_TYPES_WINDOW = timedelta(days=90)
# Keys that carry options or labels, never stored (they are read live).
OPTION_KEYS = frozenset(
    {
        "accountOptions",
        "taxRateOptions",
        "customerOptions",
        "supplierOptions",
        "accountingTaxRateOptions",
        "commerceTaxRateOptions",
        "defaultZeroTaxRateOptions",
        "invoiceStatusOptions",
        "groupingPeriodOptions",
        "groupByOptions",
        "labelText",
        "descriptionText",
        "required",
    }
)
# The account slots every configuration offers: (section, key, label, required).
ACCOUNT_SLOTS: tuple[tuple[str, str, str, bool], ...] = (
    ("sales", "sales", "Sales", True),
    ("sales", "refund", "Refunds", True),
    ("sales", "gratuity", "Gratuity", False),
    ("sales", "prepaid", "Prepaid (gift cards)", False),
    ("sales", "serviceCharge", "Service charges and shipping", False),
    ("sales", "discount", "Discounts (posted gross)", False),
    ("sales", "tax", "Tax liability", False),
    ("payments", "card", "Card", True),
    ("payments", "cash", "Cash", False),
    ("payments", "onlineCard", "Online card", False),
    ("payments", "invoice", "Invoice", False),
    ("payments", "storeCredit", "Store credit", False),
    ("payments", "prepaidPayment", "Prepaid", False),
    ("payments", "payout", "Payout (bank)", True),
    ("fees", "paymentFee", "Payment fees", False),
    ("fees", "paymentFeeRefund", "Payment fee refunds", False),
)

# The fields of Codat's `commerceConfiguration` (Codat-Sync-Commerce.yaml,
# `Configuration.configuration`), as a tree: a dict names an object's
# fields (`"*"`: a map whose keys are free, e.g. the account slots), a
# one-item list an array of such objects, None a value not looked into.
# Anything else sent is refused by its path (`_unknown_fields`).
_ACCOUNT_FIELDS: dict[str, Any] = dict.fromkeys(
    ("labelText", "descriptionText", "selectedAccountId", "required", "accountOptions")
)
_GROUP_BY_FIELDS: dict[str, Any] = dict.fromkeys(("selectedGroupByOptions", "groupByOptions"))
CONFIGURATION_FIELDS: dict[str, Any] = {
    "countryCode": None,
    "mapSettings": {"outputFormat": None},
    "sales": {
        "syncSales": None,
        "accounts": {"*": _ACCOUNT_FIELDS},
        "invoiceStatus": dict.fromkeys(("selectedInvoiceStatus", "invoiceStatusOptions")),
        "salesCustomer": dict.fromkeys(("selectedCustomerId", "customerOptions")),
        "taxRates": {"*": dict.fromkeys(("selectedTaxRateId", "taxRateOptions"))},
        "newTaxRates": {
            **dict.fromkeys(
                (
                    "accountingTaxRateOptions",
                    "commerceTaxRateOptions",
                    "selectedDefaultZeroTaxRateId",
                    "defaultZeroTaxRateOptions",
                )
            ),
            "taxRateMappings": [
                dict.fromkeys(("selectedCommerceTaxRateIds", "selectedAccountingTaxRateId"))
            ],
        },
        "grouping": {
            "groupingPeriod": dict.fromkeys(("selectedGroupingPeriod", "groupingPeriodOptions")),
            "groupingLevels": {
                "invoiceLevel": _GROUP_BY_FIELDS,
                "invoiceLineLevel": _GROUP_BY_FIELDS,
            },
        },
    },
    "payments": {"syncPayments": None, "accounts": {"*": _ACCOUNT_FIELDS}},
    "newPayments": {"syncPayments": None, "accounts": {"*": _ACCOUNT_FIELDS}},
    "fees": {
        "feesSupplier": dict.fromkeys(("selectedSupplierId", "supplierOptions")),
        "syncFees": None,
        "accounts": {"*": _ACCOUNT_FIELDS},
    },
}


def _unknown_fields(value: Any, fields: Any, path: str) -> list[Problem]:
    """A problem per field of `value` (at `path`) that `fields` (a
    CONFIGURATION_FIELDS tree) does not name, however deep: never stored
    silently. Values of the wrong type are left to the other rules."""
    if isinstance(fields, list) and isinstance(value, list):
        return [
            problem
            for index, item in enumerate(value)
            for problem in _unknown_fields(item, fields[0], f"{path}.{index}")
        ]
    if not isinstance(fields, dict) or not isinstance(value, Mapping):
        return []
    problems = []
    for key, inner in value.items():
        where = f"{path}.{key}"
        if "*" in fields:
            problems += _unknown_fields(inner, fields["*"], where)
        elif key in fields:
            problems += _unknown_fields(inner, fields[key], where)
        else:
            problems.append(
                Problem(
                    where,
                    f"Unknown field {key!r}: {path} takes only {', '.join(sorted(fields))}",
                    "unknownField",
                )
            )
    return problems


# The years a schedule may start in (period arithmetic stays far from
# datetime's limits in every time zone).
START_DATE_YEARS = (1970, 2200)


@dataclass(frozen=True)
class Problem:
    """One reason a configuration is refused: `item_id` is the dotted path
    in Codat's `Configuration` body, `code` a short name of the rule."""

    item_id: str
    message: str
    code: str


class ConfigurationRefused(ConfigurationError):
    """A configuration that breaks at least one rule; `problems` names them
    all. Nothing was saved."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass
class AccountingOptions:
    """What the merchant can choose from in its accounting software.
    `customers`/`suppliers` are None when the target cannot list them."""

    accounts: list[dict[str, str]] = field(default_factory=list)
    tax_rates: list[dict[str, str]] = field(default_factory=list)
    customers: list[dict[str, str]] | None = None
    suppliers: list[dict[str, str]] | None = None


def accounting_connection(*, merchant: Merchant) -> Connection | None:
    """The merchant's linked accounting connection, or None."""
    return (
        merchant.connections.filter(
            source_type=Connection.SourceType.ACCOUNTING, status=Connection.Status.LINKED
        )
        .order_by("created_at")
        .first()
    )


def _contacts(target: Any, *names: str) -> list[dict[str, str]] | None:
    for name in names:
        lister = getattr(target, name, None)
        if lister is not None:
            return [
                {"id": str(c["id"]), "name": str(c.get("name", "")), "status": c.get("status", "")}
                for c in lister()
            ]
    return None


def accounting_options_get(*, connection: Connection) -> AccountingOptions:
    """The options of `connection`'s accounting software, read live and kept
    `OPTIONS_CACHE_SECONDS` in the cache (key per connection and its last
    change). Raises what the connector raises (ApplicationError subclasses,
    TransientError when the platform is unavailable)."""
    key = f"config-options:{connection.pk}:{connection.updated_at.timestamp()}"
    cached = cache.get(key)
    if cached is not None:
        return AccountingOptions(**cached)
    target = connection_target(connection=connection)
    options = AccountingOptions(
        accounts=[
            {
                "id": a.id,
                "name": a.name,
                "type": a.type,
                "status": a.status,
                # What the platform says the account is for (AccountOption.role).
                **({"role": a.role} if getattr(a, "role", "") else {}),
            }
            for a in target.list_accounts()
        ],
        tax_rates=[{"id": r.id, "name": r.name, "rate": r.rate} for r in target.list_tax_rates()],
        customers=_contacts(target, "list_customers"),
        suppliers=_contacts(target, "list_suppliers", "list_vendors"),
    )
    cache.set(key, options.__dict__, OPTIONS_CACHE_SECONDS)
    return options


def document_clean(document: Mapping[str, Any]) -> dict[str, Any]:
    """`document` without the option lists and labels (`OPTION_KEYS`) and
    without account slots left unselected: what is stored."""

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            out = {}
            for key, inner in value.items():
                if key in OPTION_KEYS:
                    continue
                if key == "accounts" and isinstance(inner, Mapping):
                    out[key] = {
                        k: clean(v)
                        for k, v in inner.items()
                        if not (isinstance(v, Mapping) and v.get("selectedAccountId") in (None, ""))
                    }
                    continue
                out[key] = clean(inner)
            return out
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return clean(document)


@dataclass(frozen=True)
class Schedule:
    start_date: date
    sync_hour: int
    time_zone: str
    frequency: str


def _schedule(
    raw: Any, current: SyncConfiguration | None, merchant: Merchant, problems: list[Problem]
) -> Schedule | None:
    """Codat's `syncSchedule`, each missing field kept from `current` (or a
    default: today, hour 0, the merchant's zone, Daily)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        problems.append(Problem("schedule", "schedule must be an object", "invalid"))
        return None
    before = len(problems)
    zone_name = raw.get("timeZone") or (current.time_zone if current else merchant.time_zone)
    zone = time_zone_get(zone_name)
    if zone is None:
        problems.append(
            Problem(
                "schedule.timeZone",
                f"{zone_name!r} is not an IANA time zone (e.g. Europe/London)",
                "invalid",
            )
        )
    hour = raw.get("syncHour", current.sync_hour if current else 0)
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        problems.append(
            Problem("schedule.syncHour", "syncHour must be a whole hour from 0 to 23", "invalid")
        )
    frequency = raw.get("selectedFrequency") or (current.frequency if current else Frequency.DAILY)
    if frequency not in Frequency.values:
        problems.append(
            Problem(
                "schedule.selectedFrequency",
                f"selectedFrequency must be one of {', '.join(Frequency.values)}",
                "invalid",
            )
        )
    start = raw.get("startDate")
    start_date: date | None
    if start in (None, ""):
        start_date = current.start_date if current else timezone.localdate(timezone=zone)
    else:
        start_date = _parse_date(str(start), zone)
        if start_date is None:
            problems.append(
                Problem(
                    "schedule.startDate",
                    f"startDate {start!r} is not an ISO 8601 date or date-time",
                    "invalid",
                )
            )
        elif not START_DATE_YEARS[0] <= start_date.year < START_DATE_YEARS[1]:
            # Far dates overflow the period arithmetic (and the dispatcher with it).
            problems.append(
                Problem(
                    "schedule.startDate",
                    f"startDate {start!r} is out of range: send a date from "
                    f"{START_DATE_YEARS[0]} to {START_DATE_YEARS[1] - 1}",
                    "invalid",
                )
            )
            start_date = None
    if len(problems) > before or start_date is None:
        return None
    return Schedule(start_date, int(hour), str(zone_name), str(frequency))


def _parse_date(text: str, zone: zoneinfo.ZoneInfo | None) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None and zone is not None:
        moment = moment.astimezone(zone)
    return moment.date()


def _selections(document: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(item id, kind, selected id) of every choice naming something in the
    accounting software; kind is account, taxRate, customer or supplier."""
    for section in ("sales", "payments", "fees"):
        part = document.get(section)
        accounts = part.get("accounts") if isinstance(part, Mapping) else None
        if isinstance(accounts, Mapping):
            for key, value in accounts.items():
                if isinstance(value, Mapping) and value.get("selectedAccountId") not in (None, ""):
                    where = f"configuration.{section}.accounts.{key}.selectedAccountId"
                    yield where, "account", str(value["selectedAccountId"])
    sales = document.get("sales") or {}
    if not isinstance(sales, Mapping):
        return
    rates = sales.get("taxRates") or {}
    if isinstance(rates, Mapping):
        for key, value in rates.items():
            if isinstance(value, Mapping) and value.get("selectedTaxRateId") not in (None, ""):
                where = f"configuration.sales.taxRates.{key}.selectedTaxRateId"
                yield where, "taxRate", str(value["selectedTaxRateId"])
    new_rates = sales.get("newTaxRates") or {}
    if isinstance(new_rates, Mapping):
        zero = new_rates.get("selectedDefaultZeroTaxRateId")
        if zero not in (None, ""):
            where = "configuration.sales.newTaxRates.selectedDefaultZeroTaxRateId"
            yield where, "taxRate", str(zero)
        for index, mapping in enumerate(new_rates.get("taxRateMappings") or []):
            if isinstance(mapping, Mapping) and mapping.get("selectedAccountingTaxRateId"):
                where = f"configuration.sales.newTaxRates.taxRateMappings.{index}.selectedAccountingTaxRateId"
                yield where, "taxRate", str(mapping["selectedAccountingTaxRateId"])
    customer = sales.get("salesCustomer") or {}
    if isinstance(customer, Mapping) and customer.get("selectedCustomerId") not in (None, ""):
        yield (
            "configuration.sales.salesCustomer.selectedCustomerId",
            "customer",
            str(customer["selectedCustomerId"]),
        )
    fees = document.get("fees") or {}
    supplier = fees.get("feesSupplier") if isinstance(fees, Mapping) else None
    if isinstance(supplier, Mapping) and supplier.get("selectedSupplierId") not in (None, ""):
        yield (
            "configuration.fees.feesSupplier.selectedSupplierId",
            "supplier",
            str(supplier["selectedSupplierId"]),
        )


_KIND_LABEL = {
    "account": "Account",
    "taxRate": "Tax rate",
    "customer": "Customer",
    "supplier": "Supplier",
}


def _target_problems(
    document: Mapping[str, Any], options: AccountingOptions, platform: str
) -> list[Problem]:
    """Every selection naming an account, tax rate, customer or supplier
    that the accounting software does not have, or has archived."""
    known: dict[str, dict[str, dict[str, str]] | None] = {
        "account": {a["id"]: a for a in options.accounts},
        "taxRate": {r["id"]: {**r, "status": "Active"} for r in options.tax_rates},
        "customer": None if options.customers is None else {c["id"]: c for c in options.customers},
        "supplier": None if options.suppliers is None else {s["id"]: s for s in options.suppliers},
    }
    problems = []
    for where, kind, selected in _selections(document):
        table = known[kind]
        if table is None:  # this software cannot list them: checked when a sync writes
            continue
        found = table.get(selected)
        label = _KIND_LABEL[kind]
        if found is None:
            problems.append(
                Problem(where, f"{label} {selected} does not exist in {platform}", "NotFound")
            )
        elif found.get("status", "Active") not in ("Active", ""):
            problems.append(
                Problem(where, f"{label} {selected} is archived in {platform}", "NotActive")
            )
    return problems


def _mapped(document: Mapping[str, Any], section: str) -> set[str]:
    """The account keys of `section` that have a selection (lower case, as
    the mapping engine looks them up)."""
    part = document.get(section)
    accounts = part.get("accounts") if isinstance(part, Mapping) else None
    if not isinstance(accounts, Mapping):
        return set()
    return {
        str(key).lower()
        for key, value in accounts.items()
        if isinstance(value, Mapping) and value.get("selectedAccountId") not in (None, "")
    }


def _on(document: Mapping[str, Any], section: str, flag: str) -> bool:
    part = document.get(section)
    value = part.get(flag) if isinstance(part, Mapping) else None
    return True if value is None else bool(value)


def _rule_problems(document: Mapping[str, Any], merchant: Merchant) -> list[Problem]:
    """The rules the sync would refuse a day for, checked up front, all of
    them whatever fails first: the mapping's own (`parse_configuration`:
    payout conflicts, formats ...), required accounts, and payment types
    seen in the merchant's data without a clearing account."""
    problems: list[Problem] = []
    try:
        parse_configuration(document)
    except MappingError as error:
        problems.extend(Problem("configuration", i.message, i.code) for i in error.issues)

    def need(present: bool, where: str, message: str, code: str) -> None:
        if not present:
            problems.append(Problem(f"configuration.{where}", message, code))

    sales, payments, fees = (_mapped(document, s) for s in ("sales", "payments", "fees"))
    settings = document.get("mapSettings")
    invoice = isinstance(settings, Mapping) and settings.get("outputFormat") == INVOICE
    if _on(document, "sales", "syncSales"):
        for key in ("sales", "refund"):
            need(
                key in sales,
                f"sales.accounts.{key}.selectedAccountId",
                f"Map a {key} account",
                "Required",
            )
        if invoice:
            need(
                _selections_of(document, "customer"),
                "sales.salesCustomer.selectedCustomerId",
                "Invoices need a sales customer",
                "MissingSalesCustomer",
            )
    if _on(document, "payments", "syncPayments"):
        seen = payment_types_seen(merchant=merchant, since=timezone.now() - PAYMENT_TYPES_WINDOW)
        for payment_type in sorted(seen or {"Card"}):
            key = payment_account_key(payment_type)
            need(
                key.lower() in payments,
                f"payments.accounts.{key}.selectedAccountId",
                f"Payment type {payment_type} is in the merchant's data: map its clearing "
                f"account (payments.accounts.{key})",
                "MissingPaymentAccount",
            )
        need(
            "payout" in payments,
            "payments.accounts.payout.selectedAccountId",
            "Map the payout (bank) account",
            "Required",
        )
    if _on(document, "fees", "syncFees"):
        need(
            "paymentfee" in fees,
            "fees.accounts.paymentFee.selectedAccountId",
            "Map a payment fee account",
            "Required",
        )
        if invoice:
            need(
                _selections_of(document, "supplier"),
                "fees.feesSupplier.selectedSupplierId",
                "Invoices need a fees supplier for the daily fee bill",
                "MissingFeesSupplier",
            )
    return problems


def _selections_of(document: Mapping[str, Any], kind: str) -> bool:
    return any(found == kind for _, found, _ in _selections(document))


@dataclass
class SetOutcome:
    config: SyncConfiguration
    warnings: list[Problem]


@dataclass
class CheckOutcome:
    """What `sync_configuration_check` found: every problem (empty: it may be
    saved), the warnings, the parsed schedule (None when it has problems)
    and the document as it would be stored."""

    problems: list[Problem]
    warnings: list[Problem]
    schedule: Schedule | None
    document: dict[str, Any]


def sync_configuration_check(
    *,
    merchant: Merchant,
    document: Any,
    schedule: Any,
    problems: list[Problem] | None = None,
) -> CheckOutcome:
    """Every rule `sync_configuration_set` applies, saving nothing: the
    schedule's fields, the mapping rules (`_rule_problems`) and, with a
    linked accounting connection, every selection against its live options
    (cached). Raises what the connector raises when the accounting software
    cannot be read (a TransientError: try again). A field Codat's `commerceConfiguration` does not have, at
    any depth, is a problem named by its dotted path (`unknownField`)."""
    problems = list(problems or [])
    warnings: list[Problem] = []
    if not isinstance(document, Mapping):
        problems.append(
            Problem("configuration", "Send the commerce configuration as an object", "invalid")
        )
        return CheckOutcome(problems, warnings, None, {})
    current = SyncConfiguration.objects.filter(merchant=merchant).first()
    parsed_schedule = _schedule(schedule, current, merchant, problems)
    problems.extend(_unknown_fields(document, CONFIGURATION_FIELDS, "configuration"))
    cleaned = document_clean(document)
    problems.extend(_rule_problems(cleaned, merchant))
    connection = accounting_connection(merchant=merchant)
    if connection is None:
        warnings.append(
            Problem(
                "configuration",
                "No accounting software is linked yet: the accounts are checked when it is",
                "NotVerified",
            )
        )
    else:
        options = accounting_options_get(connection=connection)
        problems.extend(_target_problems(cleaned, options, connection.platform_key))
        problems.extend(_freeagent_transit_problems(cleaned, connection))
        problems.extend(_sage_currency_problems(merchant, connection))
    return CheckOutcome(problems, warnings, parsed_schedule, cleaned)


def _sage_currency_problems(merchant: Merchant, connection: Connection) -> list[Problem]:
    """Sage Accounting is written in the business's base currency only
    (`connectors.sage.adapter`): a business keeping its books in another
    currency than the merchant's sales would refuse every document at each
    sync, so it is a problem now. The base currency is read live and kept
    `OPTIONS_CACHE_SECONDS` (per connection and its last change)."""
    if connection.platform_key != "sage":
        return []
    key = f"sage-base-currency:{connection.pk}:{connection.updated_at.timestamp()}"
    base = cache.get(key)
    if base is None:
        base = connection_target(connection=connection).base_currency()  # type: ignore[attr-defined]
        cache.set(key, base, OPTIONS_CACHE_SECONDS)
    if not base or base == merchant.currency:
        return []
    return [
        Problem(
            "configuration",
            f"This Sage Accounting business keeps its books in {base} and the sales are in "
            f"{merchant.currency}: connect a business whose base currency is {merchant.currency}",
            "BaseCurrencyMismatch",
        )
    ]


def _freeagent_transit_problems(
    document: Mapping[str, Any], connection: Connection
) -> list[Problem]:
    """A FreeAgent journal set cannot name a bank account: in the journal
    format a line on one (the payout, or a bank account chosen as a clearing
    account) reaches it through the connection's `transit_category`
    (`connectors.freeagent.translate`). Without one, each such selection is
    a problem now rather than a refused document at every sync."""
    if connection.platform_key != "freeagent" or (connection.settings or {}).get(
        "transit_category"
    ):
        return []
    settings = document.get("mapSettings")
    if isinstance(settings, Mapping) and settings.get("outputFormat") == INVOICE:
        return []
    from connectors.freeagent.translate import is_bank

    return [
        Problem(
            where,
            f"Account {selected} is a FreeAgent bank account: a journal reaches it through a "
            "transit category; choose one on the accounting software page",
            "TransitCategoryMissing",
        )
        for where, kind, selected in _selections(document)
        if kind == "account" and is_bank(selected)
    ]


def sync_configuration_set(
    *,
    merchant: Merchant,
    document: Any,
    schedule: Any,
    actor: str,
    problems: list[Problem] | None = None,
) -> SetOutcome:
    """Validate Codat's `configuration` (`document`) and `schedule` and save
    them as a new version (`sync_configuration_save`, audited).

    Every problem is collected before refusing (`sync_configuration_check`).
    Raises ConfigurationRefused naming them all (nothing saved), or what the
    connector raises when the accounting software cannot be read (a
    TransientError: try again). Without a linked accounting connection the
    selections are checked at its first sync; a warning says so. `problems`
    found by the caller (other fields of the request) are refused together."""
    if not isinstance(document, Mapping):
        raise ConfigurationRefused(
            [
                *(problems or []),
                Problem("configuration", "Send the commerce configuration as an object", "invalid"),
            ]
        )
    checked = sync_configuration_check(
        merchant=merchant, document=document, schedule=schedule, problems=problems
    )
    parsed_schedule = checked.schedule
    if checked.problems or parsed_schedule is None:
        raise ConfigurationRefused(checked.problems)
    config = sync_configuration_save(
        merchant=merchant,
        document=checked.document,
        start_date=parsed_schedule.start_date,
        sync_hour=parsed_schedule.sync_hour,
        time_zone=parsed_schedule.time_zone,
        frequency=parsed_schedule.frequency,
        actor=actor,
    )
    return SetOutcome(config, checked.warnings)


def _option(item: Mapping[str, str]) -> dict[str, str | None]:
    return {"id": item["id"], "name": item.get("name") or None}


def configuration_with_options(
    document: Mapping[str, Any], options: AccountingOptions | None
) -> dict[str, Any]:
    """Codat's `commerceConfiguration`: the stored choices, every account slot
    (`ACCOUNT_SLOTS`, labelled, `required` marked) and, with `options`, the
    choices offered (`accountOptions`, `taxRateOptions`, `customerOptions`,
    `supplierOptions` ...)."""
    out: dict[str, Any] = {
        "mapSettings": {"outputFormat": JOURNAL},
        **{k: v for k, v in document.items()},
    }
    account_options = (
        [
            {
                "id": a["id"],
                "name": a.get("name") or None,
                "nominalCode": None,
                "classification": a.get("type") or None,
            }
            for a in options.accounts
            if a.get("status", "Active") == "Active"
        ]
        if options is not None
        else None
    )
    for section, key, label, required in ACCOUNT_SLOTS:
        part = dict(out.get(section) or {})
        accounts = dict(part.get("accounts") or {})
        slot = dict(accounts.get(key) or {"selectedAccountId": None})
        slot.setdefault("labelText", label)
        slot.setdefault("required", required)
        accounts[key] = slot
        part["accounts"] = accounts
        out[section] = part
    for section in ("sales", "payments", "fees"):
        part = out[section]
        part["accounts"] = {
            k: {**v, "accountOptions": account_options} for k, v in part["accounts"].items()
        }
    if options is not None:
        sales, fees = out["sales"], out["fees"]
        rate_options = [_option(r) for r in options.tax_rates]
        sales["taxRates"] = {
            k: {**v, "taxRateOptions": rate_options}
            for k, v in (sales.get("taxRates") or {}).items()
        }
        sales["newTaxRates"] = {
            **(sales.get("newTaxRates") or {}),
            "accountingTaxRateOptions": rate_options,
            "defaultZeroTaxRateOptions": rate_options,
        }
        if options.customers is not None:
            sales["salesCustomer"] = {
                "selectedCustomerId": None,
                **(sales.get("salesCustomer") or {}),
                "customerOptions": [_option(c) for c in options.customers],
            }
        if options.suppliers is not None:
            fees["feesSupplier"] = {
                "selectedSupplierId": None,
                **(fees.get("feesSupplier") or {}),
                "supplierOptions": [_option(s) for s in options.suppliers],
            }
    out["sales"]["invoiceStatus"] = {
        "selectedInvoiceStatus": "Submitted",
        **(out["sales"].get("invoiceStatus") or {}),
        "invoiceStatusOptions": ["Draft", "Submitted"],
    }
    return out
