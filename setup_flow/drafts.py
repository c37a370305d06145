"""The configuration being built in the flow: reading and writing the choices
of Codat's `commerceConfiguration` document held in the session, and the
problems of `sync_configuration_check` turned into messages for a page.

Pure helpers over dicts; the rules themselves are the core's.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from commerce_sync.core.services.configuration import Problem

JOURNAL, INVOICE = "JournalEntry", "Invoice"

# What each stage's fields are called in problem item ids (after "configuration.").
STAGE_PREFIXES = {
    "sales": ("sales.", "mapSettings"),
    "fees": ("fees.",),
    "payments": ("payments.",),
    "schedule": ("schedule.",),
}


def draft_new(document: dict[str, Any] | None, schedule: dict[str, Any] | None) -> dict[str, Any]:
    """A draft from a saved configuration (its copy) or empty."""
    return {
        "document": copy.deepcopy(document) if document else {},
        "schedule": dict(schedule or {}),
    }


def account(document: dict[str, Any], section: str, key: str) -> str:
    value = ((document.get(section) or {}).get("accounts") or {}).get(key) or {}
    return str(value.get("selectedAccountId") or "")


def account_set(document: dict[str, Any], section: str, key: str, value: str) -> None:
    part = document.setdefault(section, {})
    accounts = part.setdefault("accounts", {})
    if value:
        accounts[key] = {"selectedAccountId": value}
    else:
        accounts.pop(key, None)


def nested(document: dict[str, Any], *keys: str) -> Any:
    value: Any = document
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def nested_set(document: dict[str, Any], value: Any, *keys: str) -> None:
    target = document
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    if value in (None, ""):
        target.pop(keys[-1], None)
    else:
        target[keys[-1]] = value


def output_format(document: dict[str, Any]) -> str:
    return str(nested(document, "mapSettings", "outputFormat") or "")


def field_of(problem: Problem) -> str:
    """The form field a problem is about: "sales.accounts.refund",
    "fees.feesSupplier", "schedule.syncHour"; "" for the whole document."""
    item = problem.item_id
    if item.startswith("configuration."):
        item = item[len("configuration.") :]
    elif item == "configuration":
        return ""
    parts = item.split(".")
    if parts and parts[-1].startswith("selected"):
        parts = parts[:-1]
    return ".".join(parts)


def for_stage(problems: list[Problem], stage: str) -> list[Problem]:
    prefixes = STAGE_PREFIXES.get(stage, ())
    return [p for p in problems if field_of(p).startswith(prefixes)]


def message(problem: Problem, labels: dict[str, str], platform: str) -> str:
    """The problem in the merchant's language, naming the field and the fix."""
    where = field_of(problem)
    label = labels.get(where, where)
    code = problem.code
    if code == "Required":
        return _("%(field)s: choose an account. It is required.") % {"field": label}
    if code == "MissingPaymentAccount":
        return _(
            "%(field)s: this payment type is in your recent sales; choose the clearing account its money is held in until payout."
        ) % {"field": label}
    if code == "MissingSalesCustomer":
        return _("%(field)s: invoices need a customer to be addressed to; choose one.") % {
            "field": label
        }
    if code == "MissingFeesSupplier":
        return _(
            "No fees supplier has been configured: choose the supplier whose daily fee bill is recorded (%(field)s)."
        ) % {"field": label}
    if code == "NotFound":
        return _("%(field)s: this no longer exists in %(platform)s; choose another.") % {
            "field": label,
            "platform": platform,
        }
    if code == "NotActive":
        return _("%(field)s: this is archived in %(platform)s; choose an active one.") % {
            "field": label,
            "platform": platform,
        }
    if code == "BaseCurrencyMismatch":
        found = re.search(r"books in (\w+) and the sales are in (\w+)", problem.message)
        base, sales = found.groups() if found else ("?", "?")
        return _(
            "Your %(platform)s business keeps its books in %(base)s and your sales are in %(sales)s: on the accounting software page, disconnect it and connect a business whose currency is %(sales)s."
        ) % {"platform": platform, "base": base, "sales": sales}
    if code == "TransitCategoryMissing":
        return _(
            "%(field)s: FreeAgent journals reach a bank account through a transit category; choose one on the accounting software page, or choose a category here."
        ) % {"field": label}
    if code == "PayoutAccountConflict":
        return _(
            "A clearing account must not be the payout account: choose a different account for one of them (%(detail)s)."
        ) % {"detail": _account_named(problem.message)}
    if where == "schedule.startDate":
        return _("%(field)s: enter a date as year-month-day, for example 2026-11-30.") % {
            "field": label
        }
    if where == "schedule.timeZone":
        return _("%(field)s: choose a time zone from the list.") % {"field": label}
    if where == "schedule.syncHour":
        return _("%(field)s: choose an hour from 0 to 23.") % {"field": label}
    if where.startswith("schedule."):
        return _("%(field)s: check this value.") % {"field": label}
    found = preview_message(problem.code, problem.message, labels)
    return found["message"]


_ACCOUNT_IN_PARENS = re.compile(r"\(([^()]+)\)\s*$")
# The configuration key a refusal names: sales.accounts.tax-GST, payments.accounts.card ...
_KEY = re.compile(
    r"((?:sales|payments|fees)\.accounts\.[\w\-]+|sales\.taxRates\.[\d.]+"
    r"|fees\.feesSupplier|sales\.salesCustomer|newTaxRates)"
)
_STAGE_OF_CODE = {
    "MissingSalesAccount": "sales",
    "MissingTaxAccount": "sales",
    "MissingTaxRateMapping": "sales",
    "MissingSalesCustomer": "sales",
    "InvalidOutputFormat": "sales",
    "MissingPaymentAccount": "payments",
    "MissingPayoutAccount": "payments",
    "PayoutAccountConflict": "payments",
    "MissingFeeAccount": "fees",
    "MissingFeesSupplier": "fees",
    "NoCommerceConnection": "commerce",
}
_STAGE_LABELS = {
    "commerce": _lazy("Connect your sales platform"),
    "sales": _lazy("Sales"),
    "fees": _lazy("Fees"),
    "payments": _lazy("Payments"),
}


# Refusals `preview_message` words itself (others keep the engine's text).
KNOWN_CODES = frozenset(
    {
        *_STAGE_OF_CODE,
        "TaxComponentMismatch",
        "UnbalancedOrder",
        "CurrencyMismatch",
        "InvalidCommerceData",
    }
)


def _account_named(message: str) -> str:
    match = _ACCOUNT_IN_PARENS.search(message)
    return match.group(1) if match else ""


def preview_message(code: str, detail: str, labels: dict[str, str]) -> dict[str, str]:
    """A refusal of the engine (the preview's, a sync's: `code` and its
    English `detail`) in the merchant's language, naming what to choose and
    the stage to fix it on: {"stage": stage name or "", "field": config
    key or "", "message": text}. Details that are the merchant's own data
    (an order id, an amount) are kept in parentheses."""
    stage = _STAGE_OF_CODE.get(code, "")
    match = _KEY.search(detail)
    key = match.group(1) if match else ""
    if key == "newTaxRates":
        key = "sales.newTaxRates"
    label = labels.get(key) or ""
    if not label and key.startswith("sales.taxRates."):
        label = _("Sales taxed at %(pct)s %%") % {"pct": key.rsplit(".", 1)[-1]}
    if not label and key.startswith("sales.accounts.tax-"):
        label = _("Tax component %(name)s") % {"name": key[len("sales.accounts.tax-") :]}
    label = label or key
    where = str(_STAGE_LABELS.get(stage, ""))
    texts = {
        "MissingSalesAccount": _(
            "%(field)s: your sales need this account; choose one on the %(stage)s page."
        ),
        "MissingTaxAccount": _(
            "%(field)s: your sales carry this tax; choose its liability account on the %(stage)s page."
        ),
        "MissingTaxRateMapping": _(
            "%(field)s: your sales use this tax rate; choose a tax rate of your accounting software on the %(stage)s page."
        ),
        "MissingSalesCustomer": _(
            "Sales customer: invoices need a customer; choose one on the %(stage)s page."
        ),
        "MissingPaymentAccount": _(
            "%(field)s: your sales were paid this way; choose its clearing account on the %(stage)s page."
        ),
        "MissingPayoutAccount": _("Payout (bank) account: choose it on the %(stage)s page."),
        "MissingFeeAccount": _("Payment fees: choose the expense account on the %(stage)s page."),
        "MissingFeesSupplier": _(
            "Fees supplier: fees are recorded as a bill from a supplier; choose one on the %(stage)s page."
        ),
        "PayoutAccountConflict": _(
            "A clearing account must not be the payout account: choose a different account for one of them on the %(stage)s page (%(detail)s)."
        ),
        "NoCommerceConnection": _("Connect your sales platform first (%(stage)s)."),
        "TaxComponentMismatch": _(
            "An order's tax components do not add up to its tax: check it in your sales platform (%(detail)s)."
        ),
        "UnbalancedOrder": _(
            "An order's payments do not match its total: check it in your sales platform (%(detail)s)."
        ),
        "CurrencyMismatch": _(
            "An order was paid in another currency than it was sold in: check it in your sales platform (%(detail)s)."
        ),
        "InvalidCommerceData": _(
            "Your sales platform sent a record that cannot be read; contact your partner's support (%(detail)s)."
        ),
    }
    text = texts.get(code) or _(
        "This day cannot be posted as it is; contact your partner's support (%(detail)s)."
    )
    detail_shown = _account_named(detail) if code == "PayoutAccountConflict" else detail
    return {
        "stage": stage,
        "field": key,
        "message": text % {"field": label, "stage": where, "detail": detail_shown},
    }


def warning_message(code: str, detail: str) -> str:
    """A warning of the engine in the merchant's language (its detail kept)."""
    texts = {
        "OutsidePeriod": _(
            "Some records belong to another day and are posted with that day (%(detail)s)."
        ),
        "LateRecord": _(
            "A record arrived after its day was posted; it is posted on a later day (%(detail)s)."
        ),
        "Adjustment": _(
            "A record changed after it was posted; the difference is posted (%(detail)s)."
        ),
        "ZeroPayment": _("Payments of 0.00 are not posted (%(detail)s)."),
        "TransactionNotPosted": _(
            "A transaction of a kind we do not post was left out (%(detail)s)."
        ),
        "DuplicateRecord": _("A record was sent twice; it is posted once (%(detail)s)."),
        "AlreadyPosted": _(
            "Some records were posted before and are not posted again (%(detail)s)."
        ),
        "OrderWaiting": _(
            "An order waits for its payment to settle; it is posted when it does (%(detail)s)."
        ),
        "PaymentNotSettled": _(
            "An order waits for its payment to settle; it is posted when it does (%(detail)s)."
        ),
    }
    return (texts.get(code) or _("Note (%(detail)s).")) % {"detail": detail}
