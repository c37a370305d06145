"""A partner's customisation of the setup flow: its texts per locale and the
accounts it shows per accounting platform (Codat's "Sync flow settings":
`get-config-text-sync-flow`, `update-config-text-sync-flow`,
`get-visible-accounts`, `update-visible-accounts-sync-flow`).

Text keys and account keys are Codat's (listed in
shared/reference/codat/NOTES.md). Texts follow Codat's PATCH rule: a string
sets the text, `""` hides it, `null` restores the default. Accounts marked
required (Codat's `*`) are always shown.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from commerce_sync.core.models import Partner, PartnerSyncFlowSettings
from commerce_sync.core.services.audit import audit_log_write

LOCALES = ("en-us", "fr-fr")

# --- The account keys ----------------------------------------------------------------

_PAYMENTS = [
    "card",
    "cash",
    "invoice",
    "onlineCard",
    "payout",
    "custom",
    "storeCredit",
    "paypal",
    "paypalQr",
    "mobile",
    "vipps",
    "swish",
    "prepaidPayment",
    "manual",
]
_FEES = ["paymentFee", "paymentFeeRefund", "loan", "loanPayment", "loanFee", "cashback"]
REQUIRED_ACCOUNTS = (
    "sales-accounts-sales",
    "sales-accounts-refund",
    "sales-taxRates-0",
    "sales-taxRates-5",
    "sales-taxRates-10",
    "sales-taxRates-20",
    "sales-other-invoiceStatus",
    "sales-other-groupingPeriod",
    "payments-accounts-card",
)
ACCOUNT_KEYS = (
    "sales-accounts-sales",
    "sales-accounts-refund",
    "sales-accounts-gratuity",
    "sales-accounts-prepaid",
    "sales-taxRates-0",
    "sales-taxRates-5",
    "sales-taxRates-10",
    "sales-taxRates-20",
    "sales-other-invoiceStatus",
    "sales-other-groupingPeriod",
    *(f"fees-accounts-{name}" for name in _FEES),
    *(f"payments-accounts-{name}" for name in _PAYMENTS),
)

# --- The text keys and their default texts ---------------------------------------------

_LABELS: dict[str, tuple[str, str]] = {  # name: (en-us, fr-fr)
    "sales": ("Sales", "Ventes"),
    "refund": ("Refunds", "Remboursements"),
    "gratuity": ("Gratuities", "Pourboires"),
    "prepaid": ("Prepaid (gift cards)", "Prépayé (cartes cadeaux)"),
    "sales-other": ("Other sales", "Autres ventes"),
    "fees": ("Fees", "Frais"),
    "payments": ("Payments", "Paiements"),
    "invoiceStatus": ("Invoice status", "Statut des factures"),
    "groupingPeriod": ("Grouping period", "Période de regroupement"),
    "paymentFee": ("Payment fees", "Frais de paiement"),
    "paymentFeeRefund": ("Payment fee refunds", "Remboursements de frais de paiement"),
    "loan": ("Loans", "Prêts"),
    "loanPayment": ("Loan repayments", "Remboursements de prêt"),
    "loanFee": ("Loan fees", "Frais de prêt"),
    "cashback": ("Cashback", "Remises en argent"),
    "card": ("Card", "Carte"),
    "cash": ("Cash", "Espèces"),
    "invoice": ("Invoice", "Facture"),
    "onlineCard": ("Online card", "Carte en ligne"),
    "payout": ("Payouts", "Versements"),
    "custom": ("Custom payments", "Paiements personnalisés"),
    "storeCredit": ("Store credit", "Avoir"),
    "paypal": ("PayPal", "PayPal"),
    "paypalQr": ("PayPal QR", "PayPal QR"),
    "mobile": ("Mobile payments", "Paiements mobiles"),
    "vipps": ("Vipps", "Vipps"),
    "swish": ("Swish", "Swish"),
    "prepaidPayment": ("Prepaid payments", "Paiements prépayés"),
    "manual": ("Manual payments", "Paiements manuels"),
}


def _both(en: str, fr: str) -> dict[str, str]:
    return {"en-us": en, "fr-fr": fr}


def _catalogue() -> dict[str, tuple[dict[str, str], bool]]:
    """{text key: ({locale: default text}, required?)}."""
    texts: dict[str, tuple[dict[str, str], bool]] = {}

    def add(key: str, en: str, fr: str, required: bool = False) -> None:
        texts[key] = (_both(en, fr), required)

    add("configure-setupSidebar-title", "Set up your sync", "Configurez votre synchronisation")
    for name, en, fr in (
        ("connectToCommerce", "Connect your sales platform", "Connectez votre plateforme de vente"),
        (
            "connectToAccounting",
            "Connect your accounting software",
            "Connectez votre logiciel comptable",
        ),
        ("sales", "Sales", "Ventes"),
        ("fees", "Fees", "Frais"),
        ("payments", "Payments", "Paiements"),
    ):
        add(f"configure-setupSidebar-checkboxes-{name}", en, fr)
    # Codat's docs spell this one with "=" (sic); the corrected form is accepted too.
    add(
        "configure-setupSidebar=checkboxes-syncSchedule",
        "Sync schedule",
        "Calendrier de synchronisation",
    )
    add(
        "configure-setupSidebar-checkboxes-syncSchedule",
        "Sync schedule",
        "Calendrier de synchronisation",
    )
    add("configure-misc-previousButton", "Previous", "Précédent")
    add("configure-misc-nextButton", "Next", "Suivant")
    add("configure-required-indicator", "Required", "Obligatoire")
    for section in ("sales", "fees", "payments"):
        en, fr = _LABELS[section]
        add(f"configure-content-{section}-title", en, fr)
        add(
            f"configure-content-{section}-description",
            f"Choose the accounts your {en.lower()} are posted to.",
            f"Choisissez les comptes où passer vos {fr.lower()}.",
        )
    for group, en, fr in (
        ("sales-accounts", "Sales accounts", "Comptes de ventes"),
        ("sales-taxRates", "Tax rates", "Taux de taxe"),
        ("sales-other", "Other settings", "Autres paramètres"),
        ("fees-accounts", "Fee accounts", "Comptes de frais"),
    ):
        add(f"configure-content-{group}-title", en, fr)
        add(f"configure-content-{group}-description", f"{en}.", f"{fr}.")
    for name in ("sales", "refund", "gratuity", "prepaid", "sales-other"):
        en, fr = _LABELS[name]
        add(
            f"configure-content-sales-accounts-entries-{name}",
            en,
            fr,
            required=f"sales-accounts-{name}" in REQUIRED_ACCOUNTS,
        )
    # The docs map 5 % to "10" and 10 % to "15" (sic).
    for key, rate in (("0", "0 %"), ("10", "5 %"), ("15", "10 %"), ("20", "20 %")):
        add(
            f"configure-content-sales-accounts-taxRates-entries-{key}",
            f"Tax {rate}",
            f"Taxe {rate}",
            True,
        )
    for name in ("invoiceStatus", "groupingPeriod"):
        en, fr = _LABELS[name]
        add(f"configure-content-sales-other-entries-{name}", en, fr, True)
    for name in _FEES:
        en, fr = _LABELS[name]
        add(f"configure-content-fees-accounts-entries-{name}", en, fr)
    for name in _PAYMENTS:
        en, fr = _LABELS[name]
        add(f"configure-content-payments-accounts-entries-{name}", en, fr, name == "card")
    return texts


TEXTS = _catalogue()


def _settings_row(partner: Partner, *, lock: bool) -> PartnerSyncFlowSettings:
    if lock:
        row, _ = PartnerSyncFlowSettings.objects.select_for_update().get_or_create(partner=partner)
        return row
    return PartnerSyncFlowSettings.objects.filter(partner=partner).first() or (
        PartnerSyncFlowSettings(partner=partner)
    )


def sync_flow_texts(*, partner: Partner, locale: str) -> dict[str, dict[str, Any]]:
    """Codat's `LocalizationInfo` for `locale`: {text key: {"text", "required"}},
    the partner's text where it set one, else the default. `ValidationError`
    on `locale` for a locale other than en-us and fr-fr."""
    if locale not in LOCALES:
        raise ValidationError({"locale": f"Use one of {', '.join(LOCALES)}."})
    overrides = (_settings_row(partner, lock=False).texts or {}).get(locale, {})
    return {
        key: {"text": overrides.get(key, defaults[locale]), "required": required}
        for key, (defaults, required) in TEXTS.items()
    }


@transaction.atomic
def sync_flow_texts_update(
    *, partner: Partner, locale: str, changes: dict[str, Any], actor: str
) -> dict[str, dict[str, Any]]:
    """Apply Codat's PATCH to the partner's texts for `locale`: each key of
    `changes` maps to {"text": str | null} (or directly to str | null); a
    string sets it (`""` hides it), null restores the default. Returns the
    texts as `sync_flow_texts`. Raises `ValidationError` naming every unknown
    key or bad value, changing nothing."""
    if locale not in LOCALES:
        raise ValidationError({"locale": f"Use one of {', '.join(LOCALES)}."})
    if not isinstance(changes, dict):
        raise ValidationError({"body": 'Send an object of text key: {"text": ...}.'})
    problems: dict[str, str] = {}
    parsed: dict[str, str | None] = {}
    for key, value in changes.items():
        if key not in TEXTS:
            problems[key] = "Unknown text key."
            continue
        text = value.get("text") if isinstance(value, dict) else value
        if isinstance(value, dict) and set(value) - {"text", "required"}:
            problems[key] = "Only text (and required, ignored) may be sent."
        elif text is not None and (not isinstance(text, str) or len(text) > 2000 or "\x00" in text):
            problems[key] = "text is a string of at most 2000 characters (no NUL), or null."
        else:
            parsed[key] = text
    if problems:
        raise ValidationError(problems)
    row = _settings_row(partner, lock=True)
    texts = dict(row.texts or {})
    current = dict(texts.get(locale, {}))
    for key, text in parsed.items():
        if text is None:
            current.pop(key, None)
        else:
            current[key] = text
    texts[locale] = current
    row.texts = texts
    row.save()
    audit_log_write(
        actor=actor,
        action="sync_flow.texts_update",
        obj=row,
        changes={"locale": locale, "keys": sorted(parsed)},
    )
    return sync_flow_texts(partner=partner, locale=locale)


def visible_accounts_get(*, partner: Partner, platform_key: str) -> list[str]:
    """The account keys shown for `platform_key` (every key when the partner
    chose none), in the catalogue's order."""
    chosen = (_settings_row(partner, lock=False).visible_accounts or {}).get(platform_key)
    if chosen is None:
        return list(ACCOUNT_KEYS)
    return [key for key in ACCOUNT_KEYS if key in chosen or key in REQUIRED_ACCOUNTS]


@transaction.atomic
def visible_accounts_set(
    *, partner: Partner, platform_key: str, visible: list[str] | None, actor: str
) -> list[str]:
    """Choose the accounts shown for `platform_key`: None resets to all, a
    list shows those plus the required ones. Returns `visible_accounts_get`.
    `ValidationError` on `visibleAccounts` naming unknown keys."""
    if visible is not None:
        if not isinstance(visible, list) or not all(isinstance(k, str) for k in visible):
            raise ValidationError({"visibleAccounts": "Send a list of account keys, or null."})
        unknown = sorted(set(visible) - set(ACCOUNT_KEYS))
        if unknown:
            raise ValidationError(
                {"visibleAccounts": f"Unknown account keys: {', '.join(unknown)}."}
            )
    row = _settings_row(partner, lock=True)
    chosen = dict(row.visible_accounts or {})
    if visible is None:
        chosen.pop(platform_key, None)
    else:
        chosen[platform_key] = sorted(set(visible))
    row.visible_accounts = chosen
    row.save()
    audit_log_write(
        actor=actor,
        action="sync_flow.visible_accounts_set",
        obj=row,
        changes={"platform_key": platform_key, "visible": chosen.get(platform_key)},
    )
    return visible_accounts_get(partner=partner, platform_key=platform_key)
