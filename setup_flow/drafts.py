"""The configuration being built in the flow: reading and writing the choices
of Codat's `commerceConfiguration` document held in the session, and the
problems of `sync_configuration_check` turned into messages for a page.

Pure helpers over dicts; the rules themselves are the core's.
"""

from __future__ import annotations

import copy
from typing import Any

from django.utils.translation import gettext as _

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
    if code == "PayoutAccountConflict":
        return _(
            "A clearing account must not be the payout account: choose a different account for one of them (%(detail)s)."
        ) % {"detail": problem.message}
    if where.startswith("schedule."):
        return _("%(field)s: %(detail)s.") % {"field": label, "detail": problem.message}
    return problem.message
