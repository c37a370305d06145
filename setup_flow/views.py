"""The merchant's pages: the entry, six stages, review, preview, finish and
the returning merchant's settings. Thin: reads come from the selectors and
`merchant_setup`, every change from a core service; the session holds the
merchant (see `session.py`) and the draft configuration.

Every page is server-rendered and works without JavaScript; every form
posts with Django's CSRF token.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.defaults import page_not_found

from commerce_sync.core.models import Connection, Merchant, SyncRun
from commerce_sync.core.platforms import NAMES
from commerce_sync.core.selectors import (
    connection_get,
    connections_for_merchant,
    sync_configuration_get,
    sync_run_get,
    sync_run_last_successful,
    sync_runs_history,
)
from commerce_sync.core.services import merchant_setup as setup
from commerce_sync.core.services.configuration import (
    ConfigurationRefused,
    sync_configuration_check,
)
from commerce_sync.core.services.connections import (
    connection_grant_revocable,
    connection_unlink,
)
from commerce_sync.core.services.merchant_alerts import (
    AlertSettingsLinkInvalid,
    alert_settings_merchant,
    merchant_alert_settings_update,
)
from commerce_sync.core.services.setup_links import SetupLinkRefusal, setup_link_consume
from commerce_sync.core.services.sync_flow import sync_flow_texts
from commerce_sync.core.validators import time_zone_get
from commerce_sync.errors import (
    ApplicationError,
    ConfigurationError,
    CredentialsRevoked,
    DocumentRejected,
)
from commerce_sync.syncs.recovery import push_items_retry_failed
from commerce_sync.syncs.scheduling import merchant_sync_enable
from setup_flow import drafts, session
from setup_flow.drafts import INVOICE, JOURNAL
from setup_flow.zones import zone_choices

STAGES: tuple[tuple[str, Any, str], ...] = (
    (
        "commerce",
        gettext_lazy("Connect your sales platform"),
        "configure-setupSidebar-checkboxes-connectToCommerce",
    ),
    (
        "accounting",
        gettext_lazy("Connect your accounting software"),
        "configure-setupSidebar-checkboxes-connectToAccounting",
    ),
    ("sales", gettext_lazy("Sales"), "configure-setupSidebar-checkboxes-sales"),
    ("fees", gettext_lazy("Fees"), "configure-setupSidebar-checkboxes-fees"),
    ("payments", gettext_lazy("Payments"), "configure-setupSidebar-checkboxes-payments"),
    ("schedule", gettext_lazy("Sync schedule"), "configure-setupSidebar-checkboxes-syncSchedule"),
)
STAGE_NAMES = [name for name, _label, _key in STAGES]

SLOT_LABELS = {
    "sales": gettext_lazy("Sales"),
    "refund": gettext_lazy("Refunds"),
    "gratuity": gettext_lazy("Gratuity (tips)"),
    "prepaid": gettext_lazy("Gift cards sold (prepaid)"),
    "serviceCharge": gettext_lazy("Service charges and shipping"),
    "discount": gettext_lazy("Discounts (leave empty to post sales net of discounts)"),
    "rounding": gettext_lazy("Rounding differences"),
    "tax": gettext_lazy("Sales tax liability"),
    "payout": gettext_lazy("Payout (bank) account"),
    "paymentFee": gettext_lazy("Payment fees"),
    "paymentFeeRefund": gettext_lazy("Payment fee refunds"),
}
# Codat's text keys that name a slot's label (the partner may override them).
SLOT_TEXT_KEYS = {
    ("sales", "sales"): "configure-content-sales-accounts-entries-sales",
    ("sales", "refund"): "configure-content-sales-accounts-entries-refund",
    ("sales", "gratuity"): "configure-content-sales-accounts-entries-gratuity",
    ("sales", "prepaid"): "configure-content-sales-accounts-entries-prepaid",
    ("fees", "paymentFee"): "configure-content-fees-accounts-entries-paymentFee",
    ("fees", "paymentFeeRefund"): "configure-content-fees-accounts-entries-paymentFeeRefund",
    ("payments", "payout"): "configure-content-payments-accounts-entries-payout",
}
# The engine's document types (mapping/documents.py) as the preview names them.
DOCUMENT_TYPES = {
    "journalEntry": pgettext_lazy("document type", "Journal entry"),
    "invoice": pgettext_lazy("document type", "Invoice"),
    "creditNote": pgettext_lazy("document type", "Credit note"),
    "payment": pgettext_lazy("document type", "Payment"),
    "bill": pgettext_lazy("document type", "Bill"),
    "billPayment": pgettext_lazy("document type", "Bill payment"),
    "deposit": pgettext_lazy("document type", "Deposit"),
    "transfer": pgettext_lazy("document type", "Transfer"),
}
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
HOURS = list(range(24))


# --- Plumbing ------------------------------------------------------------------------------


def _activate(request: HttpRequest) -> str:
    locale = session.get(request, "locale") or session.locale_default(request)
    if locale not in session.LOCALES:
        locale = "en-us"
    translation.activate(locale)
    request.LANGUAGE_CODE = locale
    return locale


def merchant_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Pages of a merchant's session: without one, the 401 page."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        _activate(request)
        merchant = session.flow_merchant(request)
        if merchant is None:
            return _refused(request, None)
        only = session.get(request, "stage") or ""
        if only and not _invitee_may(request, only):
            return render(
                request,
                "setup_flow/problem.html",
                _context(
                    request,
                    merchant,
                    only,
                    {"detail": _("This invitation is for one step of the setup only.")},
                ),
                status=403,
            )
        try:
            return view(request, merchant, *args, **kwargs)
        except ApplicationError as error:
            # A platform that did not answer or refused: say so, lose nothing.
            detail = _(
                "Your sales platform or accounting software did not answer or refused the request. Try again in a few minutes; if it keeps happening, reconnect it from the first two steps."
            )
            return render(
                request,
                "setup_flow/problem.html",
                _context(request, merchant, "", {"detail": detail, "technical": error.message}),
                status=503,
            )

    return wrapped


def _invitee_may(request: HttpRequest, only: str) -> bool:
    """What an invitee's session may open: its stage, what that stage
    uses (OAuth for the connect stages, the standard set and new accounts
    for the mapping ones) and the thank-you page."""
    match = request.resolver_match
    name = match.url_name if match is not None else ""
    if name == "stage":
        return match is not None and match.kwargs.get("name") == only
    if name in ("oauth_start", "oauth_callback", "organisation", "reconnect", "shopify_shop"):
        return only in ("commerce", "accounting")
    if name in ("suggest", "account_new"):
        return only in ("sales", "fees", "payments")
    if name == "locations":
        return only == "sales"
    return name == "invited_done"


def _refused(request: HttpRequest, refusal: SetupLinkRefusal | None) -> HttpResponse:
    reasons = {
        SetupLinkRefusal.USED: _("This link has already been used."),
        SetupLinkRefusal.EXPIRED: _("This link has expired."),
        SetupLinkRefusal.UNKNOWN: _("This link is not valid."),
        None: _("Your session has ended."),
    }
    return render(
        request,
        "setup_flow/refused.html",
        {"reason": reasons[refusal], "locale": request.LANGUAGE_CODE, "brand": _brand(None)},
        status=401,
    )


def _brand(merchant: Merchant | None) -> dict[str, str]:
    branding = merchant.partner.branding if merchant is not None else {}
    branding = branding if isinstance(branding, dict) else {}
    logo = str(branding.get("logoUrl") or branding.get("logo") or "")
    # Pages load nothing from another origin: a logo is shown when served here.
    if not logo.startswith("/") or logo.startswith("//"):
        logo = ""
    name = branding.get("name") or branding.get("displayName")
    return {
        "name": str(name or (merchant.partner.name if merchant else "Commerce Sync")),
        "logo": logo,
    }


def _texts(merchant: Merchant, locale: str) -> dict[str, str]:
    """The partner's texts (or Codat's defaults) for the keyed elements."""
    texts = sync_flow_texts(
        partner=merchant.partner, locale="en-us" if locale == "en-us" else "fr-fr"
    )
    return {key: value["text"] for key, value in texts.items()}


def _draft(request: HttpRequest, merchant: Merchant) -> dict[str, Any]:
    draft = session.get(request, "draft")
    if draft is None:
        config = sync_configuration_get(merchant=merchant)
        draft = drafts.draft_new(
            config.document if config else None,
            {
                "startDate": config.start_date.isoformat(),
                "syncHour": config.sync_hour,
                "timeZone": config.time_zone,
            }
            if config
            else None,
        )
        # The version the draft begins from: finishing it after another
        # finish saved one since saves nothing (two clicks at once, two tabs).
        draft["base_version"] = config.version if config else 0
        session.put(request, "draft", draft)
    shared = setup.shared_draft_get(merchant=merchant)
    if (
        shared
        and shared.get("at", 0) > draft.get("shared_at", 0)
        and not session.get(request, "stage")
    ):
        for key, value in shared.items():
            if key == "schedule":
                draft["schedule"] = value
            elif key in ("sales", "fees", "payments", "mapSettings"):
                draft["document"][key] = value
        draft["done"] = sorted(set(draft.get("done") or []) | set(shared.get("stages") or []))
        draft["shared_at"] = shared["at"]
        session.put(request, "draft", draft)
    return draft


def _save_draft(request: HttpRequest, draft: dict[str, Any]) -> None:
    session.put(request, "draft", draft)


def _done_stages(merchant: Merchant, draft: dict[str, Any]) -> set[str]:
    done = set(draft.get("done") or [])
    links = {c.source_type for c in _linked(merchant)}
    if "commerce" in links:
        done.add("commerce")
    if "accounting" in links:
        done.add("accounting")
    return done


def _linked(merchant: Merchant) -> list[Connection]:
    return [
        c
        for c in connections_for_merchant(merchant=merchant)
        if c.status == Connection.Status.LINKED
    ]


def _context(
    request: HttpRequest, merchant: Merchant, current: str, extra: dict[str, Any]
) -> dict[str, Any]:
    locale = request.LANGUAGE_CODE
    texts = _texts(merchant, locale)
    draft = session.get(request, "draft") or {}
    done = _done_stages(merchant, draft)
    stages = []
    for index, (name, label, key) in enumerate(STAGES, start=1):
        stages.append(
            {
                "name": name,
                "number": index,
                "label": texts.get(key) or label,
                "url": reverse("setup_flow:stage", args=[name]),
                "current": name == current,
                "done": name in done,
            }
        )
    only = session.get(request, "stage") or ""
    if only:
        stages = [s for s in stages if s["name"] == only]
    position = STAGE_NAMES.index(current) if current in STAGE_NAMES and not only else None
    return {
        "merchant": merchant,
        "brand": _brand(merchant),
        "locale": locale,
        "locales": [
            ("en-us", "English (US)"),
            ("fr-fr", "Français (France)"),
            ("fr-ca", "Français (Canada)"),
        ],
        "texts": texts,
        "stages": stages,
        "current": current,
        "previous_url": (
            reverse("setup_flow:stage", args=[STAGE_NAMES[position - 1]])
            if position is not None and position > 0
            else None
        ),
        "sidebar_title": texts.get("configure-setupSidebar-title") or _("Set up your sync"),
        "next_label": texts.get("configure-misc-nextButton") or _("Next"),
        "previous_label": texts.get("configure-misc-previousButton") or _("Previous"),
        "required_label": texts.get("configure-required-indicator") or _("Required"),
        "configured": merchant.configured and not only,
        "invited": bool(only),
        "err": {k.replace(".", "_"): v for k, v in (extra.get("errors") or {}).items()},
        "flash": session.pop(request, "flash") or "",
        "notice": session.pop(request, "notice") or "",
        **extra,
    }


def _advance(request: HttpRequest, merchant: Merchant, name: str) -> HttpResponseRedirect:
    """After a stage is complete: the next one; for an invitee, its work is
    handed to the merchant's session (mapping stages) and it is thanked."""
    if session.get(request, "stage"):
        draft = _draft(request, merchant)
        sections: dict[str, Any] = {"stages": [name]}
        if name == "schedule":
            sections["schedule"] = draft.get("schedule") or {}
        elif name in ("sales", "fees", "payments"):
            sections[name] = draft["document"].get(name) or {}
            if name == "sales":
                sections["mapSettings"] = draft["document"].get("mapSettings") or {}
        setup.shared_draft_put(merchant=merchant, sections=sections)
        return redirect("setup_flow:invited_done")
    if name == "schedule":
        return redirect("setup_flow:review")
    return _next_after(name)


def _next_after(stage: str) -> HttpResponseRedirect:
    position = STAGE_NAMES.index(stage)
    if position + 1 < len(STAGE_NAMES):
        return redirect("setup_flow:stage", STAGE_NAMES[position + 1])
    return redirect("setup_flow:review")


def _labels(
    merchant: Merchant, options: setup.FlowOptions, texts: dict[str, str]
) -> dict[str, str]:
    """Field name -> label, for messages and the review."""
    labels: dict[str, str] = {}
    for (section, key), text_key in SLOT_TEXT_KEYS.items():
        labels[f"{section}.accounts.{key}"] = texts.get(text_key) or str(SLOT_LABELS[key])
    for key, label in SLOT_LABELS.items():
        for section in ("sales", "fees", "payments"):
            labels.setdefault(f"{section}.accounts.{key}", str(label))
    for payment_type in options.payment_types:
        key = setup.payment_account_key(payment_type)
        labels[f"payments.accounts.{key}"] = _("%(type)s clearing account") % {
            "type": setup.payment_type_label(payment_type)
        }
    labels.setdefault("payments.accounts.card", _("Card clearing account"))
    labels.update(
        {
            "sales.salesCustomer": _("Sales customer"),
            "fees.feesSupplier": _("Fees supplier"),
            "sales.invoiceStatus": _("Invoice status"),
            "mapSettings.outputFormat": _("Output format"),
            "schedule.startDate": _("Start date"),
            "schedule.syncHour": _("Sync hour"),
            "schedule.timeZone": _("Time zone"),
            "sales.newTaxRates": _("Tax rate for untaxed lines"),
        }
    )
    for pct in (*setup.TAX_PERCENTAGES, *options.seen.tax_percentages):
        labels[f"sales.taxRates.{pct}"] = _("Sales taxed at %(pct)s %%") % {"pct": pct}
    for component_id, name, pct in options.seen.tax_components:
        labels[f"sales.accounts.tax-{component_id}"] = (
            _("Tax component %(name)s (%(pct)s %%)") % {"name": name, "pct": pct}
            if pct
            else _("Tax component %(name)s") % {"name": name}
        )
    labels["sales.newTaxRates"] = _("Untaxed lines, gift cards and tips")
    return labels


def _tax_percentages(options: setup.FlowOptions, document: dict[str, Any]) -> list[str]:
    """The percentages to map: those the recent sales use, and any mapped before."""
    mapped = (document.get("sales") or {}).get("taxRates") or {}
    return list(dict.fromkeys((*options.seen.tax_percentages, *mapped)))


def _errors(
    problems: list[Any], labels: dict[str, str], platform: str
) -> tuple[dict[str, str], list[dict[str, str]]]:
    by_field: dict[str, str] = {}
    summary = []
    for problem in problems:
        field = drafts.field_of(problem)
        text = drafts.message(problem, labels, NAMES.get(platform, platform))
        by_field.setdefault(field, text)
        summary.append({"field": field, "id": "f-" + field.replace(".", "-"), "message": text})
    return by_field, summary


def _slot(
    merchant: Merchant,
    options: setup.FlowOptions,
    document: dict[str, Any],
    labels: dict[str, str],
    errors: dict[str, str],
    section: str,
    key: str,
    required: bool,
) -> dict[str, Any] | None:
    if not setup.slot_visible(
        merchant=merchant, platform_key=options.platform_key, section=section, key=key
    ):
        return None
    name = f"{section}.accounts.{key}"
    return {
        "name": name,
        "id": "f-" + name.replace(".", "-"),
        "label": labels.get(name, key),
        "required": required,
        "value": drafts.account(document, section, key),
        "options": options.accounts_for(section, key),
        "error": errors.get(name, ""),
    }


def _check(merchant: Merchant, draft: dict[str, Any]) -> list[Any]:
    return sync_configuration_check(
        merchant=merchant, document=draft["document"], schedule=draft.get("schedule") or {}
    ).problems


# --- Entry ---------------------------------------------------------------------------------


@require_GET
def start(request: HttpRequest, code: str) -> HttpResponse:
    """The partner's start URL: spend the code, start the merchant's session."""
    consumed = setup_link_consume(code=code)
    if not consumed.ok or consumed.merchant is None:
        link_locale = consumed.link.locale if consumed.link is not None else ""
        translation.activate(link_locale or session.locale_default(request))
        request.LANGUAGE_CODE = translation.get_language()
        return _refused(request, consumed.refusal)
    session.flow_begin(request, merchant=consumed.merchant, link=consumed.link)
    if consumed.link is not None and consumed.link.stage:
        return redirect("setup_flow:stage", consumed.link.stage)
    if consumed.merchant.configured:
        return redirect("setup_flow:settings")
    return redirect("setup_flow:stage", "commerce")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The site's 404 (`handler404`): under /setup/ a page of the flow in
    the merchant's language with the way back to its setup (Django's bare
    English "Not Found" otherwise); elsewhere Django's own."""
    if not request.path.startswith(reverse("setup_flow:index")):
        return page_not_found(request, exception)
    _activate(request)
    merchant = session.flow_merchant(request)
    return render(
        request,
        "setup_flow/not_found.html",
        {"locale": request.LANGUAGE_CODE, "brand": _brand(merchant)},
        status=404,
    )


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """`/setup/`: the merchant's way back into its flow; without a session,
    how a merchant gets in (the personal link from its partner's app)."""
    _activate(request)
    merchant = session.flow_merchant(request)
    if merchant is None:
        return render(
            request,
            "setup_flow/welcome.html",
            {"locale": request.LANGUAGE_CODE, "brand": _brand(None), "debug": settings.DEBUG},
        )
    if merchant.configured:
        return redirect("setup_flow:settings")
    return redirect("setup_flow:stage", "commerce")


@require_POST
def language(request: HttpRequest) -> HttpResponse:
    """Switch the flow's language (a form: works without JavaScript)."""
    locale = request.POST.get("locale", "")
    if locale in session.LOCALES and session.get(request, "merchant"):
        session.put(request, "locale", locale)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("setup_flow:index")
    return HttpResponseRedirect(target)


@require_GET
def brand_css(request: HttpRequest) -> HttpResponse:
    """The partner's colours as CSS custom properties (a stylesheet of this
    origin, so the Content-Security-Policy needs no inline style)."""
    merchant = session.flow_merchant(request)
    branding = merchant.partner.branding if merchant is not None else {}
    branding = branding if isinstance(branding, dict) else {}
    lines = []
    for name, keys, default in (
        ("primary", ("primaryColor", "primaryColour", "primary_colour"), "#1f4e8c"),
        ("secondary", ("secondaryColor", "secondaryColour", "secondary_colour"), "#e8eef6"),
    ):
        value = next((str(branding[k]) for k in keys if k in branding), default)
        if not COLOUR.match(value):
            value = default
        lines.append(f"--{name}: {value};")
        lines.append(f"--on-{name}: {_readable_on(value)};")
    response = HttpResponse(":root {" + " ".join(lines) + "}\n", content_type="text/css")
    response["Cache-Control"] = "private, max-age=300"
    return response


def _readable_on(colour: str) -> str:
    """Black or white text, whichever contrasts more with `colour` (WCAG)."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#000000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"


# --- The stages ------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@merchant_required
def stage(request: HttpRequest, merchant: Merchant, name: str) -> HttpResponse:
    if name not in STAGE_NAMES:
        raise Http404
    handler = {
        "commerce": _stage_connect,
        "accounting": _stage_connect,
        "sales": _stage_sales,
        "fees": _stage_fees,
        "payments": _stage_payments,
        "schedule": _stage_schedule,
    }[name]
    return handler(request, merchant, name)


def _stage_connect(request: HttpRequest, merchant: Merchant, name: str) -> HttpResponse:
    draft = _draft(request, merchant)
    every = list(connections_for_merchant(merchant=merchant, source_type=name))
    connections = [c for c in every if c.status != Connection.Status.UNLINKED]
    # Disconnected, with nothing in its place: offered to reconnect.
    disconnected = [] if connections else every[-1:]
    if request.method == "POST":
        if any(c.status == Connection.Status.LINKED for c in connections):
            draft.setdefault("done", [])
            if name not in draft["done"]:
                draft["done"].append(name)
            _save_draft(request, draft)
            return _advance(request, merchant, name)
        error = _("Connect it first: use the Connect button, then come back here.")
    else:
        error = ""
    rows = [
        {
            "connection": c,
            "name": NAMES.get(c.platform_key, c.platform_key),
            "linked": c.status == Connection.Status.LINKED,
            "oauth": c.platform_key in setup.OAUTH_PLATFORMS,
            "needs_shop": c.platform_key == "shopify" and not (c.settings or {}).get("shop"),
            "needs_region": c.platform_key == "clover" and not (c.settings or {}).get("region"),
            "needs_code": c.platform_key == "sumup" and not (c.settings or {}).get("merchant_code"),
            # Chosen but not connected yet: a wrong pick can still be changed
            # (the consent screen is on the region's or the shop's own host).
            "region": str((c.settings or {}).get("region") or "")
            if c.platform_key == "clover"
            else "",
            "shop": str((c.settings or {}).get("shop") or "")
            if c.platform_key == "shopify"
            else "",
            "no_consent": c.platform_key in ("sandbox", "beancount", "partner-push", "partner"),
            "organisation": _organisation(c),
            "transit": _transit(c),
        }
        for c in connections
    ]
    return render(
        request,
        "setup_flow/stage_connect.html",
        _context(
            request,
            merchant,
            name,
            {
                "rows": rows,
                "clover_regions": CLOVER_REGIONS,
                "side": name,
                "error": error,
                "disconnected": [
                    {"connection": c, "name": NAMES.get(c.platform_key, c.platform_key)}
                    for c in disconnected
                ],
            },
        ),
        status=400 if error else 200,
    )


def _transit(connection: Connection) -> dict[str, Any] | None:
    """For a linked FreeAgent connection, the categories its journals may
    reach a bank account through and the one chosen ("" for none); None
    for any other connection."""
    if connection.platform_key != "freeagent" or connection.status != Connection.Status.LINKED:
        return None
    return {
        "chosen": str((connection.settings or {}).get("transit_category") or ""),
        "categories": setup.freeagent_transit_categories(connection=connection),
    }


def _organisation(connection: Connection) -> str:
    """What a linked connection posts to, as its platform named it when
    chosen: "Organisation: Double Ltd" (Xero), "Company: Double Café Ltd"
    (QuickBooks); "" when unknown."""
    name = setup.organisation_name(connection)
    if not name or connection.status != Connection.Status.LINKED:
        return ""
    if connection.platform_key == "quickbooks":
        return _("Company: %(name)s") % {"name": name}
    if connection.platform_key == "sage":
        return _("Business: %(name)s") % {"name": name}
    if connection.platform_key == "myob":
        return _("Company file: %(name)s") % {"name": name}
    if connection.platform_key == "exact":
        return _("Administration: %(name)s") % {"name": name}
    return _("Organisation: %(name)s") % {"name": name}


def _options(merchant: Merchant) -> setup.FlowOptions:
    return setup.flow_options(merchant=merchant)


def _stage_sales(request: HttpRequest, merchant: Merchant, name: str) -> HttpResponse:
    draft = _draft(request, merchant)
    document = draft["document"]
    options = _options(merchant)
    texts = _texts(merchant, request.LANGUAGE_CODE)
    labels = _labels(merchant, options, texts)
    saved = sync_configuration_get(merchant=merchant)
    locked = str(
        ((saved.document if saved else {}).get("mapSettings") or {}).get("outputFormat") or ""
    )
    problems: list[Any] = []
    extra_errors: dict[str, str] = {}
    if request.method == "POST":
        before = {p.message for p in _check(merchant, draft) if not drafts.field_of(p)}
        chosen = request.POST.get("mapSettings.outputFormat", "")
        if locked and chosen and chosen != locked:
            extra_errors["mapSettings.outputFormat"] = _(
                "Output format: it is locked to %(format)s because documents were set up in that format; keep it, or ask your partner to start a new connection."
            ) % {"format": _format_label(locked)}
        elif chosen not in (JOURNAL, INVOICE) and not locked:
            extra_errors["mapSettings.outputFormat"] = _(
                "Output format: choose journal entries or invoices."
            )
        else:
            drafts.nested_set(document, locked or chosen, "mapSettings", "outputFormat")
        for key, _required in setup.SALES_SLOTS:
            if setup.slot_visible(
                merchant=merchant, platform_key=options.platform_key, section="sales", key=key
            ):
                drafts.account_set(
                    document, "sales", key, request.POST.get(f"sales.accounts.{key}", "")
                )
        for category in setup.product_categories_recent(merchant=merchant):
            key = f"category-{category['id']}"
            drafts.account_set(
                document, "sales", key, request.POST.get(f"sales.accounts.{key}", "")
            )
        for pct in _tax_percentages(options, document):
            value = request.POST.get(f"sales.taxRates.{pct}", "")
            rates = document.setdefault("sales", {}).setdefault("taxRates", {})
            if value:
                rates[pct] = {"selectedTaxRateId": value}
            else:
                rates.pop(pct, None)
        for component_id, _name, _pct in options.seen.tax_components:
            key = f"tax-{component_id}"
            drafts.account_set(
                document, "sales", key, request.POST.get(f"sales.accounts.{key}", "")
            )
        drafts.nested_set(
            document,
            request.POST.get("sales.newTaxRates.defaultZero", ""),
            "sales",
            "newTaxRates",
            "selectedDefaultZeroTaxRateId",
        )
        status = request.POST.get("sales.invoiceStatus", "Submitted")
        drafts.nested_set(
            document,
            status if status in ("Draft", "Submitted") else "Submitted",
            "sales",
            "invoiceStatus",
            "selectedInvoiceStatus",
        )
        drafts.nested_set(
            document,
            request.POST.get("sales.salesCustomer", "").strip(),
            "sales",
            "salesCustomer",
            "selectedCustomerId",
        )
        drafts.nested_set(
            document, "Daily", "sales", "grouping", "groupingPeriod", "selectedGroupingPeriod"
        )
        by_location = ["Location"] if request.POST.get("sales.grouping.byLocation") else []
        drafts.nested_set(
            document,
            by_location or None,
            "sales",
            "grouping",
            "groupingLevels",
            "invoiceLevel",
            "selectedGroupByOptions",
        )
        document.setdefault("sales", {})["syncSales"] = True
        _save_draft(request, draft)
        everything = _check(merchant, draft)
        problems = drafts.for_stage(everything, "sales")
        problems += [p for p in everything if not drafts.field_of(p) and p.message not in before]
        if drafts.output_format(document) == INVOICE:
            extra_errors.update(_invoice_tax_errors(options, document, labels))
        if not problems and not extra_errors:
            _mark_done(request, draft, name)
            return _advance(request, merchant, name)
    by_field, summary = _errors(problems, labels, options.platform_key)
    for field, text in extra_errors.items():
        by_field[field] = text
        summary.insert(0, {"field": field, "id": "f-" + field.replace(".", "-"), "message": text})
    invoice = drafts.output_format(document) == INVOICE
    slots = [
        s
        for key, required in setup.SALES_SLOTS
        if (s := _slot(merchant, options, document, labels, by_field, "sales", key, required))
    ]
    return render(
        request,
        "setup_flow/stage_sales.html",
        _context(
            request,
            merchant,
            name,
            {
                "slots": slots,
                "summary": summary,
                "errors": by_field,
                "format": drafts.output_format(document) or locked,
                "locked": locked,
                "locked_label": _format_label(locked) if locked else "",
                "invoice": invoice,
                "categories": [
                    {
                        "name": f"sales.accounts.category-{c['id']}",
                        "id": f"f-sales-accounts-category-{c['id']}",
                        "label": c["name"],
                        "value": drafts.account(document, "sales", f"category-{c['id']}"),
                        "error": by_field.get(f"sales.accounts.category-{c['id']}", ""),
                    }
                    for c in setup.product_categories_recent(merchant=merchant)
                ],
                "income_accounts": options.accounts_for("sales", "sales"),
                "tax_rates": options.tax_rates,
                "tax_rows": [
                    {
                        "name": f"sales.taxRates.{pct}",
                        "id": "f-sales-taxRates-" + pct.replace(".", "-"),
                        "label": labels.get(f"sales.taxRates.{pct}")
                        or _("Sales taxed at %(pct)s %%") % {"pct": pct},
                        "value": str(
                            drafts.nested(document, "sales", "taxRates", pct, "selectedTaxRateId")
                            or ""
                        ),
                        "error": by_field.get(f"sales.taxRates.{pct}", ""),
                    }
                    for pct in _tax_percentages(options, document)
                ],
                "untaxed_seen": options.seen.untaxed,
                "component_slots": [
                    {
                        "name": f"sales.accounts.tax-{component_id}",
                        "id": f"f-sales-accounts-tax-{component_id}",
                        "label": labels[f"sales.accounts.tax-{component_id}"],
                        "required": False,
                        "value": drafts.account(document, "sales", f"tax-{component_id}"),
                        "options": options.accounts_for("sales", "tax"),
                        "error": by_field.get(f"sales.accounts.tax-{component_id}", ""),
                    }
                    for component_id, _name, _pct in options.seen.tax_components
                ],
                "tax_to_create": bool(setup.standard_tax_rate_accounts(options=options)),
                "default_zero": drafts.nested(
                    document, "sales", "newTaxRates", "selectedDefaultZeroTaxRateId"
                )
                or "",
                "invoice_status": drafts.nested(
                    document, "sales", "invoiceStatus", "selectedInvoiceStatus"
                )
                or "Submitted",
                "customers": options.customers,
                "customer": drafts.nested(document, "sales", "salesCustomer", "selectedCustomerId")
                or "",
                "by_location": bool(
                    drafts.nested(
                        document,
                        "sales",
                        "grouping",
                        "groupingLevels",
                        "invoiceLevel",
                        "selectedGroupByOptions",
                    )
                ),
                "creates_accounts": options.creates_accounts,
                "no_accounts": not options.accounts,
                "locations": options.seen.locations,
            },
        ),
        status=400 if summary else 200,
    )


def _invoice_tax_errors(
    options: setup.FlowOptions, document: dict[str, Any], labels: dict[str, str]
) -> dict[str, str]:
    """Invoices carry a tax rate on every line: each rate the recent sales
    use needs one of the software's tax rates, and untaxed lines (gift
    cards, tips) the default zero rate (or a mapped 0 %)."""
    errors: dict[str, str] = {}
    rates = (document.get("sales") or {}).get("taxRates") or {}
    for pct in options.seen.tax_percentages:
        chosen = rates.get(pct) or {}
        if not chosen.get("selectedTaxRateId") and not (
            pct == "0"
            and drafts.nested(document, "sales", "newTaxRates", "selectedDefaultZeroTaxRateId")
        ):
            errors[f"sales.taxRates.{pct}"] = _(
                "%(field)s: your recent sales use this rate and invoices need a tax rate on every line; choose one."
            ) % {"field": labels.get(f"sales.taxRates.{pct}", pct)}
    zero = drafts.nested(document, "sales", "newTaxRates", "selectedDefaultZeroTaxRateId") or (
        rates.get("0") or {}
    ).get("selectedTaxRateId")
    if options.seen.untaxed and not zero:
        errors["sales.newTaxRates"] = _(
            "%(field)s: your recent sales have lines without tax; choose the zero tax rate they go on invoices with."
        ) % {"field": labels["sales.newTaxRates"]}
    if errors and not options.tax_rates:
        hint = (
            _("Use “Suggest a standard set” to create the tax rates, or create one below.")
            if options.creates_accounts
            else _("Add the tax rates in your accounting software, then reload this page.")
        )
        errors = {field: f"{text} {hint}" for field, text in errors.items()}
    return errors


def _format_label(value: str) -> str:
    return _("Invoices") if value == INVOICE else _("Journal entries")


def _mark_done(request: HttpRequest, draft: dict[str, Any], name: str) -> None:
    draft.setdefault("done", [])
    if name not in draft["done"]:
        draft["done"].append(name)
    _save_draft(request, draft)


def _stage_accounts(
    request: HttpRequest,
    merchant: Merchant,
    name: str,
    slots_of: Callable[[setup.FlowOptions], list[tuple[str, bool]]],
    apply_extra: Callable[[dict[str, Any]], None],
    extra_context: Callable[[dict[str, Any], setup.FlowOptions, dict[str, str]], dict[str, Any]],
) -> HttpResponse:
    """The fees and payments pages: account slots of one section, checked
    with every rule of the core, problems on this page's fields shown."""
    draft = _draft(request, merchant)
    document = draft["document"]
    options = _options(merchant)
    labels = _labels(merchant, options, _texts(merchant, request.LANGUAGE_CODE))
    problems: list[Any] = []
    if request.method == "POST":
        before = {p.message for p in _check(merchant, draft) if not drafts.field_of(p)}
        for key, _required in slots_of(options):
            if setup.slot_visible(
                merchant=merchant, platform_key=options.platform_key, section=name, key=key
            ):
                drafts.account_set(
                    document, name, key, request.POST.get(f"{name}.accounts.{key}", "")
                )
        document.setdefault(name, {})[f"sync{name.title()}"] = True
        apply_extra(document)
        _save_draft(request, draft)
        everything = _check(merchant, draft)
        problems = drafts.for_stage(everything, name)
        problems += [p for p in everything if not drafts.field_of(p) and p.message not in before]
        if not problems:
            _mark_done(request, draft, name)
            return _advance(request, merchant, name)
    by_field, summary = _errors(problems, labels, options.platform_key)
    slots = [
        s
        for key, required in slots_of(options)
        if (s := _slot(merchant, options, document, labels, by_field, name, key, required))
    ]
    return render(
        request,
        f"setup_flow/stage_{name}.html",
        _context(
            request,
            merchant,
            name,
            {
                "slots": slots,
                "summary": summary,
                "errors": by_field,
                "creates_accounts": options.creates_accounts,
                "no_accounts": not options.accounts,
                **extra_context(document, options, by_field),
            },
        ),
        status=400 if summary else 200,
    )


def _stage_fees(request: HttpRequest, merchant: Merchant, name: str) -> HttpResponse:
    def apply(document: dict[str, Any]) -> None:
        drafts.nested_set(
            document,
            request.POST.get("fees.feesSupplier", "").strip(),
            "fees",
            "feesSupplier",
            "selectedSupplierId",
        )

    def extra(
        document: dict[str, Any], options: setup.FlowOptions, errors: dict[str, str]
    ) -> dict[str, Any]:
        return {
            "invoice": drafts.output_format(document) == INVOICE,
            "suppliers": options.suppliers,
            "supplier": drafts.nested(document, "fees", "feesSupplier", "selectedSupplierId") or "",
        }

    return _stage_accounts(request, merchant, name, lambda o: list(setup.FEES_SLOTS), apply, extra)


def _payment_slots(options: setup.FlowOptions) -> list[tuple[str, bool]]:
    keys = [
        (setup.payment_account_key(t), t not in options.payment_types_optional)
        for t in options.payment_types
    ]
    return [*keys, ("payout", True)]


def _stage_payments(request: HttpRequest, merchant: Merchant, name: str) -> HttpResponse:
    def extra(
        document: dict[str, Any], options: setup.FlowOptions, errors: dict[str, str]
    ) -> dict[str, Any]:
        return {"payment_types": options.payment_types}

    return _stage_accounts(request, merchant, name, _payment_slots, lambda d: None, extra)


def _stage_schedule(request: HttpRequest, merchant: Merchant, name: str) -> HttpResponse:
    draft = _draft(request, merchant)
    schedule = draft.setdefault("schedule", {})
    problems: list[Any] = []
    extra_errors: dict[str, str] = {}
    if request.method == "POST":
        hour = request.POST.get("schedule.syncHour", "")
        schedule.update(
            {
                "startDate": request.POST.get("schedule.startDate", "").strip(),
                "syncHour": int(hour) if hour.isascii() and hour.isdigit() else hour,
                "timeZone": request.POST.get("schedule.timeZone", "").strip(),
            }
        )
        if not schedule["startDate"]:
            schedule["startDate"] = "missing"
        _save_draft(request, draft)
        problems = drafts.for_stage(_check(merchant, draft), "schedule")
        too_early = _backfill_too_long(merchant, schedule["startDate"])
        if too_early:
            extra_errors["schedule.startDate"] = too_early
        if not problems and not extra_errors:
            _mark_done(request, draft, name)
            return _advance(request, merchant, name)
    options = setup.FlowOptions(payment_types=[])
    labels = _labels(merchant, options, {})
    by_field, summary = _errors(problems, labels, "")
    for field, text in extra_errors.items():
        by_field[field] = text
        summary.append({"field": field, "id": "f-" + field.replace(".", "-"), "message": text})
    tz = zoneinfo.ZoneInfo(merchant.time_zone)
    # The last business day complete at the sync hour: the first sync posts it.
    hour_shown = schedule.get("syncHour", 2)
    default_start = _last_complete_day(
        hour_shown if isinstance(hour_shown, int) and 0 <= hour_shown <= 23 else 2, tz
    )
    start_value = schedule.get("startDate")
    posted = setup.posted_first_day(merchant=merchant)
    return render(
        request,
        "setup_flow/stage_schedule.html",
        _context(
            request,
            merchant,
            name,
            {
                "summary": summary,
                "errors": by_field,
                "start_date": ""
                if start_value == "missing"
                else (start_value or default_start.isoformat()),
                "sync_hour": schedule.get("syncHour", 2),
                "hours": HOURS,
                "time_zone": schedule.get("timeZone") or merchant.time_zone,
                "zones": zone_choices(str(schedule.get("timeZone") or merchant.time_zone)),
                "posted_first": posted,
            },
        ),
        status=400 if summary else 200,
    )


# --- Locations ------------------------------------------------------------------------------

# How a tracking kind that is the platform's own (not the merchant's tracking
# category name) is shown: (platform, kind) -> label.
TRACKING_KIND_LABELS = {
    ("myob", "Category"): pgettext_lazy("MYOB location tracking", "Category"),
    ("exact", "CostCenter"): gettext_lazy("Cost centre"),
}


@require_http_methods(["GET", "POST"])
@merchant_required
def locations(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    """The Sales stage's page for the locations the recent sales come from:
    one document per location, and (where the accounting software tracks
    them: Xero's tracking categories, QuickBooks' departments and classes,
    MYOB's categories, Exact Online's cost centres) the tracking option of
    each."""
    draft = _draft(request, merchant)
    document = draft["document"]
    options = _options(merchant)

    def shown(kind: str) -> str:
        return str(TRACKING_KIND_LABELS.get((options.platform_key or "", kind), kind))

    seen = list(options.seen.locations)
    choices = setup.location_tracking_options(merchant=merchant)
    current = setup.location_tracking_get(merchant=merchant)
    level = ("sales", "grouping", "groupingLevels", "invoiceLevel", "selectedGroupByOptions")
    by_location = bool(drafts.nested(document, *level))
    category = str(current.get("category") or "")
    chosen = dict(current.get("options") or {})
    errors: dict[str, str] = {}
    if request.method == "POST":
        by_location = bool(request.POST.get("sales.grouping.byLocation"))
        drafts.nested_set(document, ["Location"] if by_location else None, *level)
        _save_draft(request, draft)
        if choices is not None:
            category = request.POST.get("tracking.category", "")
            chosen = {loc: request.POST.get(f"tracking.{loc}", "") for loc, _name in seen}
            names = dict(seen)
            if category and not by_location:
                errors["tracking.category"] = _(
                    "Tracking category: each location is tracked on its own document; tick “One document per location”, or choose no tracking."
                )
            for loc, value in chosen.items():
                if category and not value:
                    errors[f"tracking.{loc}"] = _(
                        "%(location)s: choose its option of %(category)s, or choose no tracking."
                    ) % {"location": names[loc], "category": shown(category)}
                elif (
                    category
                    and value
                    and not any(c["category"] == category and c["value"] == value for c in choices)
                ):
                    label = next((c["option"] for c in choices if c["value"] == value), value)
                    errors[f"tracking.{loc}"] = _(
                        "%(location)s: %(option)s is not an option of %(category)s; choose one of its options."
                    ) % {"location": names[loc], "option": label, "category": shown(category)}
            if not errors:
                setup.location_tracking_set(
                    merchant=merchant, category=category, options=chosen if category else {}
                )
        if not errors:
            session.put(request, "notice", _("Locations saved."))
            return redirect("setup_flow:stage", "sales")
    categories = sorted({c["category"] for c in choices or []})
    grouped = [
        (
            name,
            sorted(
                ((c["value"], c["option"]) for c in choices or [] if c["category"] == name),
                key=lambda pair: pair[1],
            ),
        )
        for name in categories
    ]
    summary = [
        {"field": field, "id": "f-" + field.replace(".", "-"), "message": text}
        for field, text in errors.items()
    ]
    return render(
        request,
        "setup_flow/locations.html",
        _context(
            request,
            merchant,
            "sales",
            {
                "summary": summary,
                "errors": errors,
                "by_location": by_location,
                "tracks": choices is not None,
                "category": category,
                "categories": categories,
                "category_choices": [(c, shown(c)) for c in categories],
                "grouped": grouped,
                "grouped_shown": [(shown(name), opts) for name, opts in grouped],
                "rows": [
                    {
                        "id": "f-tracking-" + loc,
                        "name": f"tracking.{loc}",
                        "label": name,
                        "value": chosen.get(loc, ""),
                        "error": errors.get(f"tracking.{loc}", ""),
                    }
                    for loc, name in seen
                ],
                "category_error": errors.get("tracking.category", ""),
                "platform": NAMES.get(options.platform_key, options.platform_key),
            },
        ),
        status=400 if errors else 200,
    )


def _backfill_too_long(merchant: Merchant, start: str) -> str:
    """The message when `start` reaches further before the first day posted
    than one historic sync covers; "" otherwise (or when not a date)."""
    from datetime import date

    try:
        chosen = date.fromisoformat(start)
    except ValueError:
        return ""
    posted = setup.posted_first_day(merchant=merchant)
    if posted is None or (posted - chosen).days <= setup.BACKFILL_MAX_DAYS:
        return ""
    return _(
        "First day to post: at most %(n)s days before %(posted)s (the first day already posted) can be added; choose %(earliest)s or later."
    ) % {
        "n": setup.BACKFILL_MAX_DAYS,
        "posted": posted.isoformat(),
        "earliest": (posted - timedelta(days=setup.BACKFILL_MAX_DAYS)).isoformat(),
    }


# --- Suggest a standard set ----------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@merchant_required
def suggest(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    """Propose accounts for the common slots; with consent, create the
    missing ones (where the software allows) and fill the draft."""
    options = _options(merchant)
    language = request.LANGUAGE_CODE
    proposals = setup.standard_set(
        options=options, language=language
    ) + setup.standard_tax_rate_accounts(options=options, language=language)
    labels = _labels(merchant, options, _texts(merchant, request.LANGUAGE_CODE))
    back = request.POST.get("back") or request.GET.get("back") or "sales"
    if back not in STAGE_NAMES:
        back = "sales"
    if request.method == "POST":
        draft = _draft(request, merchant)
        missing = [p for p in proposals if not p.exists]
        chosen = list(proposals)
        if missing and request.POST.get("create") == "yes":
            setup.standard_accounts_create(merchant=merchant, proposals=missing)
        elif missing:
            chosen = [p for p in proposals if p.exists]
        if missing and request.POST.get("create") == "yes":
            options = _options(merchant)  # the new tax rates are options now
        for proposal in chosen:
            if proposal.section == "taxRates":
                continue  # filled from the software's rates below
            if not drafts.account(draft["document"], proposal.section, proposal.key):
                drafts.account_set(
                    draft["document"], proposal.section, proposal.key, proposal.account_id
                )
        document = draft["document"]
        for pct, rate_id in setup.standard_tax_rates(options=options).items():
            if pct == "zero":
                if not drafts.nested(
                    document, "sales", "newTaxRates", "selectedDefaultZeroTaxRateId"
                ):
                    drafts.nested_set(
                        document, rate_id, "sales", "newTaxRates", "selectedDefaultZeroTaxRateId"
                    )
            elif not drafts.nested(document, "sales", "taxRates", pct, "selectedTaxRateId"):
                drafts.nested_set(document, rate_id, "sales", "taxRates", pct, "selectedTaxRateId")
        _save_draft(request, draft)
        return redirect("setup_flow:stage", back)
    rows = [
        {
            "label": labels.get(f"sales.taxRates.{p.key}")
            or _("Sales taxed at %(pct)s %%") % {"pct": p.key}
            if p.section == "taxRates"
            else labels.get(f"{p.section}.accounts.{p.key}", p.key),
            "account": p.account_id,
            "name": p.name,
            "exists": p.exists,
        }
        for p in proposals
    ]
    return render(
        request,
        "setup_flow/suggest.html",
        _context(
            request,
            merchant,
            back,
            {"rows": rows, "missing": sum(not p.exists for p in proposals), "back": back},
        ),
    )


@require_POST
@merchant_required
def account_new(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    """Create an account inline (where the software allows), then back to the page."""
    back = request.POST.get("back", "sales")
    if back not in STAGE_NAMES:
        back = "sales"
    account_id = request.POST.get("account_id", "").strip()
    account_type = request.POST.get("account_type", "")
    if not account_id or account_type not in ("Asset", "Liability", "Income", "Expense"):
        session.put(request, "flash", _("New account: give its name and choose its type."))
        return redirect("setup_flow:stage", back)
    tax_rate = request.POST.get("tax_rate", "").strip().rstrip("%").strip()
    if tax_rate and account_type != "Liability":
        session.put(
            request,
            "flash",
            _(
                "New account: only a liability account can be a tax rate; choose Liability or leave the rate empty."
            ),
        )
        return redirect("setup_flow:stage", back)
    try:
        setup.account_create(
            merchant=merchant,
            account_id=account_id,
            name=request.POST.get("name", ""),
            account_type=account_type,
            tax_rate=tax_rate or None,
        )
    except PermissionError:
        raise Http404 from None
    except setup.AccountExists as exists:
        session.put(
            request,
            "flash",
            _(
                "New account: %(id)s already exists in your accounting software; choose it in the list below."
            )
            % {"id": exists.account_id},
        )
        return redirect("setup_flow:stage", back)
    except DocumentRejected as error:
        if "not a valid Beancount account name" in error.message:
            text = _(
                "New account: %(id)s is not a valid Beancount account name: it starts with Assets, Liabilities, Equity, Income or Expenses, and each part after a colon starts with a capital letter or a digit (for example Income:Sales:Cakes)."
            ) % {"id": account_id}
        elif "cannot be of type" in error.message:
            text = _(
                "New account: %(id)s cannot be of that type: its first part decides it (Income, Expenses, Assets, Liabilities); change the name or the type."
            ) % {"id": account_id}
        elif "Tax rate" in error.message:
            text = _("New account: the tax rate must be a percentage from 0 to 100, e.g. 20.")
        else:
            text = _("New account: %(detail)s") % {"detail": error.message}
        session.put(request, "flash", text)
        return redirect("setup_flow:stage", back)
    session.put(
        request, "notice", _("Account %(id)s created: choose it below.") % {"id": account_id}
    )
    return redirect("setup_flow:stage", back)


@require_POST
@merchant_required
def invite(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    """Email someone a single-use link to complete this stage alone."""
    stage_name = request.POST.get("stage", "")
    if stage_name not in STAGE_NAMES:
        raise Http404
    email = request.POST.get("email", "").strip()
    base = getattr(settings, "SITE_URL", "") or f"{request.scheme}://{request.get_host()}"
    try:
        setup.stage_invite_send(
            merchant=merchant,
            stage=stage_name,
            email=email,
            base_url=base,
            locale=request.LANGUAGE_CODE,
        )
    except ValidationError:
        session.put(
            request,
            "flash",
            _("Invite: %(email)s is not an email address; check it and send again.")
            % {"email": email or "—"},
        )
        return redirect("setup_flow:stage", stage_name)
    session.put(
        request,
        "notice",
        _("We emailed %(email)s a link to complete this step; it works once, for 3 days.")
        % {"email": email},
    )
    return redirect("setup_flow:stage", stage_name)


@require_GET
@merchant_required
def invited_done(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    if not session.get(request, "stage"):  # the merchant's own session: nobody to thank
        return redirect("setup_flow:index")
    return render(
        request,
        "setup_flow/invited_done.html",
        _context(request, merchant, session.get(request, "stage") or "", {}),
    )


# --- Review, preview, finish ----------------------------------------------------------------


def _review_rows(
    merchant: Merchant, document: dict[str, Any], labels: dict[str, str], options: setup.FlowOptions
) -> list[dict[str, str]]:
    names = {a["id"]: a.get("name") or a["id"] for a in options.accounts}
    rows = [{"label": _("Output format"), "value": _format_label(drafts.output_format(document))}]
    for section in ("sales", "fees", "payments"):
        for key, value in sorted(((document.get(section) or {}).get("accounts") or {}).items()):
            account = str(value.get("selectedAccountId") or "")
            rows.append(
                {
                    "label": labels.get(f"{section}.accounts.{key}", key),
                    "value": f"{names.get(account, account)} ({account})"
                    if names.get(account, account) != account
                    else account,
                }
            )
    sales = document.get("sales") or {}
    rates = {r["id"]: f"{r.get('name') or r['id']} ({r.get('rate')} %)" for r in options.tax_rates}
    for pct, value in sorted((sales.get("taxRates") or {}).items()):
        chosen = str((value or {}).get("selectedTaxRateId") or "")
        if chosen:
            rows.append(
                {
                    "label": labels.get(f"sales.taxRates.{pct}")
                    or _("Sales taxed at %(pct)s %%") % {"pct": pct},
                    "value": rates.get(chosen, chosen),
                }
            )
    zero = str(
        drafts.nested(document, "sales", "newTaxRates", "selectedDefaultZeroTaxRateId") or ""
    )
    if zero:
        rows.append({"label": labels["sales.newTaxRates"], "value": rates.get(zero, zero)})
    if drafts.output_format(document) == INVOICE:
        status = drafts.nested(document, "sales", "invoiceStatus", "selectedInvoiceStatus")
        customer = str(
            drafts.nested(document, "sales", "salesCustomer", "selectedCustomerId") or ""
        )
        supplier = str(drafts.nested(document, "fees", "feesSupplier", "selectedSupplierId") or "")
        customers = {c["id"]: c.get("name") or c["id"] for c in options.customers or []}
        suppliers = {c["id"]: c.get("name") or c["id"] for c in options.suppliers or []}
        rows += [
            {
                "label": _("Invoice status"),
                "value": _("Draft") if status == "Draft" else _("Submitted (approved)"),
            },
            {"label": _("Sales customer"), "value": customers.get(customer, customer) or "—"},
            {"label": _("Fees supplier"), "value": suppliers.get(supplier, supplier) or "—"},
        ]
    return rows


@require_GET
@merchant_required
def review(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    return _review(request, merchant, problems=None, preview=None)


def _review(
    request: HttpRequest,
    merchant: Merchant,
    *,
    problems: list[Any] | None,
    preview: Any,
    refused: bool = False,
) -> HttpResponse:
    draft = _draft(request, merchant)
    options = _options(merchant)
    labels = _labels(merchant, options, _texts(merchant, request.LANGUAGE_CODE))
    if problems is None:
        problems = _check(merchant, draft)
    _by_field, summary = _errors(problems, labels, options.platform_key)
    for item in summary:
        field = item["field"]
        stage_name = field.split(".")[0] if field else ""
        if stage_name == "mapSettings":
            stage_name = "sales"
        item["stage_url"] = (
            reverse("setup_flow:stage", args=[stage_name]) if stage_name in STAGE_NAMES else ""
        )
    schedule = draft.get("schedule") or {}
    context = _context(
        request,
        merchant,
        "review",
        {
            "rows": _review_rows(merchant, draft["document"], labels, options),
            "schedule": schedule,
            "summary": summary,
            "preview": preview,
            "redirect_url": session.get(request, "redirect") or "",
            "refused": refused,
        },
    )
    status = 400 if (summary and problems) or refused else 200
    return render(request, "setup_flow/review.html", context, status=status)


def _last_complete_day(hour: int, zone: zoneinfo.ZoneInfo) -> date:
    """The latest business day (from `hour` to `hour` the next day, in
    `zone`) that has ended: "yesterday" once today's sync hour has passed,
    the day before until then."""
    from mapping.periods import business_day

    return business_day(timezone.now(), hour, zone) - timedelta(days=1)


def _preview_of(request: HttpRequest, merchant: Merchant) -> dict[str, Any]:
    """What yesterday would post with the draft (the sync's engine, nothing
    written), as the review shows it: refusals in the merchant's language,
    each naming the stage to fix."""
    draft = _draft(request, merchant)
    schedule = draft.get("schedule") or {}
    hour = schedule.get("syncHour", 0)
    hour = hour if isinstance(hour, int) and 0 <= hour <= 23 else 0
    zone_name = str(schedule.get("timeZone") or merchant.time_zone)
    zone = time_zone_get(zone_name)
    if zone is None:
        zone_name, zone = merchant.time_zone, zoneinfo.ZoneInfo(merchant.time_zone)
    day = _last_complete_day(hour, zone)
    result = setup.setup_preview(
        merchant=merchant, document=draft["document"], sync_hour=hour, time_zone=zone_name, day=day
    )
    options = _options(merchant)
    labels = _labels(merchant, options, _texts(merchant, request.LANGUAGE_CODE))
    documents = [doc.as_json() for doc in result.result.documents]
    shown = []
    for doc in documents:
        lines = doc.get("journalLines") or doc.get("lineItems") or _transfer_lines(doc)
        shown.append(
            {
                "type": doc.get("type"),
                "type_label": str(DOCUMENT_TYPES.get(str(doc.get("type")), doc.get("type"))),
                "date": doc.get("date"),
                "description": doc.get("description"),
                "total": doc.get("totalAmount"),
                "account": (doc.get("accountRef") or {}).get("id", ""),
                "lines": [
                    {
                        "account": (line.get("accountRef") or {}).get("id", ""),
                        "amount": line.get(
                            "netAmount", line.get("totalAmount", line.get("unitAmount", ""))
                        ),
                        "description": line.get("description", ""),
                    }
                    for line in lines
                ],
            }
        )
    errors = []
    for issue in result.result.errors:
        found = drafts.preview_message(issue.code, issue.message, labels)
        stage_name = found["stage"]
        errors.append(
            {
                "message": found["message"],
                "stage_url": reverse("setup_flow:stage", args=[stage_name])
                if stage_name in STAGE_NAMES
                else "",
            }
        )
    if not errors:
        # What the accounting software itself would refuse (a control account
        # the company file lacks, a tax code gone): said now, not by the
        # first sync after "Your sync is set up".
        try:
            refused = setup.setup_preview_references(merchant=merchant, documents=documents)
        except ApplicationError:  # unreadable just now: the sync checks again
            refused = []
        for problem in refused:
            errors.append(
                {
                    "message": _(
                        "Your accounting software would refuse yesterday's documents: %(problem)s. Fix it there (or choose another account), then preview again."
                    )
                    % {"problem": problem},
                    "stage_url": "",
                }
            )
    return {
        "day": result.day,
        "orders": result.orders,
        "documents": shown,
        "errors": errors,
        "warnings": [drafts.warning_message(i.code, i.message) for i in result.result.warnings],
    }


def _transfer_lines(document: dict[str, Any]) -> list[dict[str, Any]]:
    """A transfer (a payout moving money from a clearing account to the
    bank) as the two lines a merchant reads: into its `toAccountRef`, out of
    its `fromAccountRef`; [] for any other document without lines."""
    if document.get("type") != "transfer":
        return []
    amount = Decimal(str(document.get("amount") or 0))
    return [
        {
            "accountRef": document.get("toAccountRef") or {},
            "netAmount": amount,
            "description": _("Transferred in"),
        },
        {
            "accountRef": document.get("fromAccountRef") or {},
            "netAmount": -amount,
            "description": _("Transferred out"),
        },
    ]


@require_GET
@merchant_required
def preview(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    """What yesterday would post with the draft: the sync's engine, nothing written."""
    return _review(request, merchant, problems=None, preview=_preview_of(request, merchant))


@require_POST
@merchant_required
def finish(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    """Save the draft as a configuration version and request the first sync;
    refused (nothing saved) while the rules or yesterday's preview refuse.
    Finish pressed again (a second click, or the review posted again from
    the browser's history) saves nothing: the version saved stands."""
    if session.get(request, "draft") is None and merchant.configured:
        # The draft was saved and spent: nothing is being edited.
        return redirect(
            "setup_flow:done" if session.get(request, "finished") else "setup_flow:settings"
        )
    draft = _draft(request, merchant)
    problems = _check(merchant, draft)
    if problems:
        return _review(request, merchant, problems=problems, preview=None)
    shown = _preview_of(request, merchant)
    if shown["errors"]:
        return _review(request, merchant, problems=None, preview=shown, refused=True)
    try:
        finished = setup.setup_finish(
            merchant=merchant,
            document=draft["document"],
            schedule=draft.get("schedule") or {},
            base_version=draft.get("base_version"),
        )
    except ConfigurationRefused as refused:
        return _review(request, merchant, problems=refused.problems, preview=None)
    except setup.ConfigurationMoved as moved:
        # Saved elsewhere meanwhile: these choices are kept, to check and finish again.
        draft["base_version"] = moved.version
        _save_draft(request, draft)
        session.put(
            request,
            "flash",
            _(
                "Your configuration was changed elsewhere since you began (it is version %(version)s now). Your choices here are kept and were not saved yet: check them, then finish again."
            )
            % {"version": moved.version},
        )
        return redirect("setup_flow:review")
    except ValueError:  # the start date reaches too far before the days posted
        session.put(
            request,
            "flash",
            _backfill_too_long(merchant, str((draft.get("schedule") or {}).get("startDate"))),
        )
        return redirect("setup_flow:stage", "schedule")
    session.pop(request, "draft")
    if finished.superseded:  # another finish saved a version since this draft began
        session.put(
            request,
            "notice",
            _("Your choices were already saved (version %(version)s).")
            % {"version": finished.outcome.config.version},
        )
        return redirect("setup_flow:settings")
    backfill = finished.backfill
    session.put(
        request,
        "finished",
        {
            "version": finished.outcome.config.version,
            "run": str(finished.run.pk) if finished.run else "",
            "backfill": [d.isoformat() for d in backfill] if backfill else [],
        },
    )
    return redirect("setup_flow:done")


@require_GET
@merchant_required
def done(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    finished = session.get(request, "finished") or {}
    if not finished:  # nothing was finished in this session: nothing to confirm
        return redirect("setup_flow:settings" if merchant.configured else "setup_flow:review")
    run = (
        sync_run_get(partner=merchant.partner, merchant_id=merchant.pk, sync_id=finished.get("run"))
        if finished.get("run")
        else None
    )
    return render(
        request,
        "setup_flow/done.html",
        _context(
            request,
            merchant,
            "",
            {
                "version": finished.get("version"),
                "run": run,
                "run_status": _run_status(run) if run else "",
                "redirect_url": session.get(request, "redirect") or "",
                "backfill": finished.get("backfill") or [],
            },
        ),
    )


# --- OAuth ---------------------------------------------------------------------------------


def _callback_uri(request: HttpRequest) -> str:
    base = getattr(settings, "SITE_URL", "") or f"{request.scheme}://{request.get_host()}"
    return base.rstrip("/") + reverse("setup_flow:oauth_callback")


@require_GET
@merchant_required
def oauth_start(request: HttpRequest, merchant: Merchant, connection_id: str) -> HttpResponse:
    """Send the merchant to the platform's consent screen (state and PKCE
    verifier kept in this session only)."""
    connection = connection_get(merchant=merchant, connection_id=connection_id)
    if connection is None or connection.platform_key not in setup.OAUTH_PLATFORMS:
        raise Http404
    if connection.platform_key == "clover" and not (connection.settings or {}).get("region"):
        return redirect("setup_flow:stage", connection.source_type)  # its region first
    if connection.platform_key == "sumup" and not (connection.settings or {}).get("merchant_code"):
        return redirect("setup_flow:stage", connection.source_type)  # its merchant code first
    begun = setup.oauth_begin(connection=connection, redirect_uri=_callback_uri(request))
    session.put(
        request,
        "oauth",
        {"state": begun.state, "verifier": begun.code_verifier, "connection": str(connection.pk)},
    )
    return HttpResponseRedirect(begun.url)


def _organisation_picker(
    request: HttpRequest,
    merchant: Merchant,
    connection: Connection,
    organisations: list[setup.Organisation],
    *,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    """The page where the merchant chooses among the books (or business
    locations) a consent reached: Xero organisation, Exact administration,
    Sage business, MYOB company file, Lightspeed location."""
    locations = connection.platform_key == "lightspeed-k"
    extra: dict[str, Any] = {"organisations": organisations, "locations": locations}
    if error:
        extra["error"] = error
    return render(
        request,
        "setup_flow/organisation.html",
        _context(request, merchant, connection.source_type, extra),
        status=status,
    )


def _organisation_pending(request: HttpRequest, merchant: Merchant) -> Connection | None:
    """The connection whose books the merchant has still to choose (its
    consent given, the picker shown), or None."""
    chosen = session.get(request, "organisation_connection") or ""
    return connection_get(merchant=merchant, connection_id=chosen) if chosen else None


@require_GET
@merchant_required
def oauth_callback(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    pending = session.pop(request, "oauth") or {}
    waiting = None if pending else _organisation_pending(request, merchant)
    same_answer = constant_time_compare(
        str(request.GET.get("state") or ""), str(session.get(request, "organisation_state") or "")
    )
    if waiting is not None and same_answer and not request.GET.get("error"):
        # The picker's own address (the same answer, its state), loaded
        # again: the language switched on it, the page reloaded, or Back from
        # the stage. The code is not exchanged again (it is spent); the
        # choice is still to make: show the picker again.
        listed = session.get(request, "organisations") or []
        return _organisation_picker(
            request, merchant, waiting, [setup.Organisation(i, n) for i, n in listed]
        )
    connection = (
        connection_get(merchant=merchant, connection_id=pending.get("connection", ""))
        if pending
        else None
    )
    side = connection.source_type if connection is not None else "commerce"
    if connection is None or request.GET.get("error"):
        message = (
            _("The connection was cancelled or refused; you can try again.")
            if request.GET.get("error")
            else _("This answer does not belong to a connection started here; connect again.")
        )
        return render(
            request,
            "setup_flow/problem.html",
            _context(request, merchant, side, {"detail": message}),
            status=400,
        )
    try:
        done_ = setup.oauth_finish(
            connection=connection,
            params=request.GET.dict(),
            expected_state=pending["state"],
            code_verifier=pending["verifier"],
            redirect_uri=_callback_uri(request),
        )
    except CredentialsRevoked:  # a forged or stale answer, or a refused code
        ours = constant_time_compare(str(request.GET.get("state") or ""), pending["state"])
        detail = (
            # Our own answer, yet the platform would not exchange its code.
            _(
                "%(platform)s did not accept this connection; connect again. If it happens again, tell whoever gave you this page."
            )
            % {"platform": NAMES.get(connection.platform_key, connection.platform_key)}
            if ours
            else _("This answer does not belong to a connection started here; connect again.")
        )
        return render(
            request,
            "setup_flow/problem.html",
            _context(request, merchant, side, {"detail": detail}),
            status=400,
        )
    if done_.organisations:
        session.put(request, "organisation_connection", str(connection.pk))
        session.put(request, "organisations", [[o.id, o.name] for o in done_.organisations])
        session.put(request, "organisation_state", pending["state"])
        return _organisation_picker(request, merchant, connection, list(done_.organisations))
    if done_.connection.status != Connection.Status.LINKED:
        # Consent given, yet the grant reaches nothing to book into (a Sage
        # login without a business, MYOB without a company file, Exact
        # without an administration): an empty picker would be a dead end.
        detail = _(
            "%(platform)s gave access to nothing to post to: no organisation, business, company file or location. Create one in %(platform)s (or ask its owner to invite you), then connect again."
        ) % {"platform": NAMES.get(connection.platform_key, connection.platform_key)}
        return render(
            request,
            "setup_flow/problem.html",
            _context(request, merchant, side, {"detail": detail}),
            status=400,
        )
    return redirect("setup_flow:stage", side)


@require_POST
@merchant_required
def organisation(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    connection = _organisation_pending(request, merchant)
    if connection is None:
        # Nothing left to choose: the form sent twice (a double click) after
        # the first choice was saved. The saved choice stands; on to its stage.
        done_side = session.get(request, "organisation_done")
        if done_side in (Connection.SourceType.COMMERCE, Connection.SourceType.ACCOUNTING):
            return redirect("setup_flow:stage", done_side)
        raise Http404
    try:
        setup.oauth_organisation_choose(
            connection=connection, organisation_id=request.POST.get("organisation", "")
        )
    except ConfigurationError:  # not one the grant reaches (a tampered form)
        listed = session.get(request, "organisations") or []
        locations = connection.platform_key == "lightspeed-k"
        return _organisation_picker(
            request,
            merchant,
            connection,
            [setup.Organisation(i, n) for i, n in listed],
            error=_("Choose one of the business locations listed.")
            if locations
            else _("Choose one of the organisations listed."),
            status=400,
        )
    session.pop(request, "organisation_connection")
    session.pop(request, "organisations")
    session.pop(request, "organisation_state")
    session.put(request, "organisation_done", connection.source_type)
    return redirect("setup_flow:stage", connection.source_type)


# Clover's regions as the merchant chooses among them (`connectors.clover.regions`).
CLOVER_REGIONS = (
    ("na", gettext_lazy("North America (United States, Canada)")),
    ("eu", gettext_lazy("Europe")),
    ("la", gettext_lazy("Latin America")),
    ("sandbox", gettext_lazy("Clover sandbox (for developers)")),
)


@require_POST
@merchant_required
def clover_region(request: HttpRequest, merchant: Merchant, connection_id: str) -> HttpResponse:
    """The Clover region the merchant's account is in, chosen by the
    merchant (when the partner did not set it); then back to the stage,
    whose Connect link leads to Clover's consent screen in that region (a
    form may not redirect to another site: the policy's `form-action 'self'`
    holds for the redirects after a POST too)."""
    from commerce_sync.errors import ConfigurationError

    connection = connection_get(merchant=merchant, connection_id=connection_id)
    if connection is None or connection.platform_key != "clover":
        raise Http404
    try:
        setup.clover_region_set(connection=connection, region=request.POST.get("region", ""))
    except ConfigurationError:
        session.put(
            request,
            "flash",
            _("Clover region: choose the region your Clover account is in from the list."),
        )
    return redirect("setup_flow:stage", connection.source_type)


@require_POST
@merchant_required
def sumup_code(request: HttpRequest, merchant: Merchant, connection_id: str) -> HttpResponse:
    """The SumUp merchant code, typed by the merchant (SumUp's API paths name
    it); then back to the stage, whose Connect link leads to SumUp's consent."""
    connection = connection_get(merchant=merchant, connection_id=connection_id)
    if connection is None or connection.platform_key != "sumup":
        raise Http404
    return _setting_post(
        request,
        connection,
        setup.sumup_merchant_code_set,
        "merchant_code",
        _(
            "SumUp merchant code: enter it as your SumUp dashboard shows it, letters and digits (e.g. MH4H92C7)."
        ),
    )


def _setting_post(
    request: HttpRequest,
    connection: Connection,
    apply: Callable[..., object],
    name: str,
    refusal: str,
) -> HttpResponse:
    """Apply the setting the merchant typed or chose for `connection` in
    the form field `name`: `apply(connection=..., <name>=value)`; a
    ConfigurationError puts `refusal` in the flash, nothing kept. Then back
    to the connection's stage."""
    try:
        apply(connection=connection, **{name: request.POST.get(name, "")})
    except ConfigurationError:
        session.put(request, "flash", refusal)
    return redirect("setup_flow:stage", connection.source_type)


@require_POST
@merchant_required
def freeagent_transit(request: HttpRequest, merchant: Merchant, connection_id: str) -> HttpResponse:
    """The FreeAgent category a journal passes through to reach a bank
    account (a payout in the journal format), chosen by the merchant among
    the company's categories; then back to the accounting stage."""
    connection = connection_get(merchant=merchant, connection_id=connection_id)
    if (
        connection is None
        or connection.platform_key != "freeagent"
        or connection.status != Connection.Status.LINKED
    ):
        raise Http404
    return _setting_post(
        request,
        connection,
        setup.freeagent_transit_category_set,
        "transit_category",
        _("Transit category: choose one of your FreeAgent categories from the list."),
    )


@require_POST
@merchant_required
def shopify_shop(request: HttpRequest, merchant: Merchant, connection_id: str) -> HttpResponse:
    """The shop a Shopify connection is for, typed by the merchant; then
    back to the stage, whose Connect link goes to that shop's consent screen."""

    connection = connection_get(merchant=merchant, connection_id=connection_id)
    if connection is None or connection.platform_key != "shopify":
        raise Http404
    shop = request.POST.get("shop", "").strip()
    try:
        setup.shopify_shop_set(connection=connection, shop=shop)
    except ConfigurationError:
        session.put(
            request,
            "flash",
            _(
                "Shop address: %(shop)s is not a Shopify shop address; enter it as your-shop.myshopify.com (see your Shopify admin)."
            )
            % {"shop": shop or "—"},
        )
    # Back to the stage, whose Connect link leads to the shop's consent
    # screen: a form's redirect may not leave this site (`form-action 'self'`
    # holds for the redirects after a POST too: Chromium blocks them).
    return redirect("setup_flow:stage", connection.source_type)


@require_POST
@merchant_required
def reconnect(request: HttpRequest, merchant: Merchant, connection_id: str) -> HttpResponse:
    """Connect a disconnected platform again: a fresh connection (or the
    same one when the platform, not the merchant, cut it); for OAuth
    platforms then the stage whose Connect link leads to the consent screen,
    for the others back to `next` (a stage or the settings)."""
    connection = connection_get(merchant=merchant, connection_id=connection_id)
    if connection is None:
        raise Http404
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("setup_flow:settings")
    name = NAMES.get(connection.platform_key, connection.platform_key)
    try:
        fresh = setup.connection_reconnect(connection=connection)
    except ValidationError:
        session.put(
            request,
            "notice",
            _("Another connection is already in place for this step; disconnect it first."),
        )
        return HttpResponseRedirect(back)
    if fresh.platform_key in setup.OAUTH_PLATFORMS and fresh.status != Connection.Status.LINKED:
        # To the stage and its Connect link, not on to the consent screen: a
        # form's redirect may not leave this site (`form-action 'self'`).
        session.put(
            request,
            "notice",
            _("Now sign in to %(name)s again with its Connect button.") % {"name": name},
        )
        return redirect("setup_flow:stage", fresh.source_type)
    session.put(request, "notice", _("%(name)s is connected again.") % {"name": name})
    return HttpResponseRedirect(back)


# --- The returning merchant -------------------------------------------------------------------


def _run_status(run: SyncRun) -> str:
    if run.status == SyncRun.Status.SUCCEEDED:
        return _("Succeeded") if run.data_pushed else _("Succeeded, nothing to post")
    if run.status == SyncRun.Status.FAILED:
        return _("Failed")
    return _("Waiting") if run.status == SyncRun.Status.PENDING else _("Running")


def _run_advice(run: SyncRun) -> str:
    code = run.status_code
    if run.status != SyncRun.Status.FAILED:
        return ""
    if code in (4040, 4260):
        return _(
            "An account or setting is missing or archived in your accounting software: edit your mappings, then retry."
        )
    if code == 5120 or code == 5100:
        return _(
            "Your sales data for this day could not be balanced: check the orders named, or contact your partner's support."
        )
    if code == 5130:
        return _(
            "Some documents could not be written to your accounting software: retry; if it fails again, check the message."
        )
    if code in (5010, 5020, 5030):
        return _(
            "Your sales platform or accounting software could not be reached or refused the connection: reconnect it, then retry."
        )
    return _("Retry; if it fails again, contact your partner's support with the date shown.")


@require_http_methods(["GET", "POST"])
@merchant_required
def settings_page(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    notice = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "pause":
            setup.merchant_sync_pause(merchant=merchant)
            notice = _("Syncing is paused.")
        elif action == "resume":
            merchant_sync_enable(merchant=merchant, actor=setup.MERCHANT)
            notice = _("Syncing is on again.")
        elif action == "retry":
            run = sync_run_get(
                partner=merchant.partner,
                merchant_id=merchant.pk,
                sync_id=request.POST.get("run", ""),
            )
            if run is None:
                raise Http404
            push_items_retry_failed(run=run, actor=setup.MERCHANT)
            notice = _("The failed sync was retried.")
        elif action == "revoke":
            connection = connection_get(
                merchant=merchant, connection_id=request.POST.get("connection", "")
            )
            if connection is None:
                raise Http404
            if request.POST.get("confirm") != "yes":
                return render(
                    request,
                    "setup_flow/disconnect.html",
                    _context(
                        request,
                        merchant,
                        "",
                        {
                            "connection": connection,
                            "name": NAMES.get(connection.platform_key, connection.platform_key),
                            "revokes": connection_grant_revocable(connection=connection),
                        },
                    ),
                )
            connection_unlink(connection=connection, actor=setup.MERCHANT)
            name = NAMES.get(connection.platform_key, connection.platform_key)
            notice = _(
                "%(name)s is disconnected. Nothing more is read from or posted to it; what was posted stays. Use Reconnect below to connect it again."
            ) % {"name": name}
            if not connection_grant_revocable(connection=connection):
                notice += " " + _(
                    "Our keys for %(name)s are deleted. %(name)s offers no way for us to withdraw its permission, so remove Commerce Sync from the connected apps in %(name)s's settings to end it there too."
                ) % {"name": name}
        elif action == "edit":
            session.pop(request, "draft")
            return redirect("setup_flow:stage", "sales")
        session.put(request, "notice", notice)
        return redirect("setup_flow:settings")
    merchant.refresh_from_db()
    config = sync_configuration_get(merchant=merchant)
    history = list(sync_runs_history(merchant=merchant)[:20])
    last = sync_run_last_successful(partner=merchant.partner, merchant_id=merchant.pk)
    next_sync = None
    if config is not None and merchant.enabled:
        from commerce_sync.syncs.periods import latest_due

        next_sync = latest_due(config, timezone.now()) + timedelta(days=1)
    everything = list(connections_for_merchant(merchant=merchant))
    active_sides = {c.source_type for c in everything if c.status != Connection.Status.UNLINKED}
    shown, seen_sides = [], set()
    for c in sorted(everything, key=lambda c: c.created_at, reverse=True):
        if c.status == Connection.Status.UNLINKED:
            # The latest disconnected one of a side left without a connection.
            if c.source_type in active_sides or c.source_type in seen_sides:
                continue
            seen_sides.add(c.source_type)
        shown.append(c)
    connections = [
        {
            "connection": c,
            "name": NAMES.get(c.platform_key, c.platform_key),
            "status": {
                Connection.Status.LINKED: _("Connected"),
                Connection.Status.PENDING_AUTH: _("Waiting for authorisation"),
                Connection.Status.DEAUTHORIZED: _("Disconnected by the platform: reconnect it"),
                Connection.Status.UNLINKED: _("Disconnected"),
            }.get(c.status, c.status),
            "linked": c.status == Connection.Status.LINKED,
            "organisation": _organisation(c),
            "reconnect": c.status == Connection.Status.UNLINKED
            or (c.platform_key in setup.OAUTH_PLATFORMS and c.status != Connection.Status.LINKED),
        }
        for c in sorted(shown, key=lambda c: (c.source_type != "commerce", c.created_at))
    ]
    labels = _labels(
        merchant, setup.FlowOptions(payment_types=[]), _texts(merchant, request.LANGUAGE_CODE)
    )
    runs = [
        {
            "run": run,
            "status": _run_status(run),
            "messages": [
                drafts.preview_message(str(m.get("code")), str(m.get("message", "")), labels)[
                    "message"
                ]
                if m.get("code") in drafts.KNOWN_CODES
                else str(m.get("message", ""))
                for m in (run.messages or [])
                # Errors, and what the books will hold differently from
                # another platform's (a target's advisories, e.g. invoices
                # left outstanding): the merchant must see both.
                if m.get("level") == "error" or m.get("code") == "TargetAdvisory"
            ][:3],
            "advice": _run_advice(run),
        }
        for run in history
    ]
    return render(
        request,
        "setup_flow/settings.html",
        _context(
            request,
            merchant,
            "",
            {
                "config": config,
                "runs": runs,
                "last": last,
                "next_sync": next_sync,
                "connections": connections,
                "redirect_url": session.get(request, "redirect") or "",
                "zone": zoneinfo.ZoneInfo(config.time_zone) if config else None,
            },
        ),
    )


# --- The merchant's alert settings (a signed link from their alert email) ---------------


class AlertSettingsForm(forms.Form):
    alert_email = forms.EmailField(
        required=False, label=gettext_lazy("Email address for alerts"), max_length=254
    )
    alerts_opt_out = forms.BooleanField(
        required=False, label=gettext_lazy("Do not email me alerts")
    )
    language = forms.ChoiceField(choices=settings.LANGUAGES, label=gettext_lazy("Language"))


@require_http_methods(["GET", "POST"])
def alert_settings(request: HttpRequest, token: str) -> HttpResponse:
    """The page an alert email links to: the merchant named by the signed
    `token` (no session needed; another merchant's is out of reach) sets
    where alerts go, opts out or back in, and the language of the emails
    and of this page. An expired or altered link is a page that says so
    (410 or 404), never a traceback."""
    try:
        merchant = alert_settings_merchant(token)
    except AlertSettingsLinkInvalid as error:
        language = translation.get_language_from_request(request)  # the browser's
        with translation.override(language):
            return render(
                request,
                "setup_flow/alert_settings_invalid.html",
                {"detail": _(str(error)), "brand": _brand(None), "locale": language},
                status=410 if error.expired else 404,
            )
    saved = False
    form = AlertSettingsForm(
        request.POST or None,
        initial={
            "alert_email": merchant.alert_email,
            "alerts_opt_out": merchant.alerts_opt_out,
            "language": merchant.language,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            merchant = merchant_alert_settings_update(
                merchant=merchant, actor=setup.MERCHANT, **form.cleaned_data
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            saved = True
            form = AlertSettingsForm(initial=form.cleaned_data)
    with translation.override(merchant.language):
        response = render(
            request,
            "setup_flow/alert_settings.html",
            {
                "form": form,
                "saved": saved,
                "account": merchant,
                "brand": _brand(merchant),
                "locale": merchant.language,
            },
        )
    response["Cache-Control"] = "no-store"
    # The token is in the URL: never sent to another site (same-origin keeps
    # the Origin header that CSRF checks; no-referrer would make it "null").
    response["Referrer-Policy"] = "same-origin"
    return response
