"""The platforms a connection can use, as the partner API lists them.

A platform is a key of the connector registry (`connectors.registry`):
`COMMERCE_SOURCES` keys are Commerce platforms, `ACCOUNTING_TARGETS` keys
Accounting ones. This module gives each its display name and the stable
identifiers Codat's `Integration` and `Connection` shapes carry
(`integrationId`, `sourceId`: UUIDs derived from the key, so they never
change between processes or releases).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from connectors import registry

_NAMESPACE = uuid.UUID("5b0f7c1e-6a43-4f4e-9d0c-2f1c8a6e3b10")

NAMES = {
    "sandbox": "Sandbox POS",
    "partner": "Partner commerce API",
    "partner-push": "Partner push",
    "square": "Square",
    "shopify": "Shopify",
    "zettle": "Zettle",
    "stripe": "Stripe",
    "sumup": "SumUp",
    "lightspeed-k": "Lightspeed Restaurant (K-Series)",
    "clover": "Clover",
    "beancount": "Beancount ledger",
    "http-ledger": "HTTP ledger",
    "xero": "Xero",
    "quickbooks": "QuickBooks Online",
    "exact": "Exact Online",
}
NAMES["freeagent"] = "FreeAgent"
NAMES["sage"] = "Sage Accounting"
NAMES["myob"] = "MYOB Business"

# Platforms a merchant never has to authorise: the sandbox POS, the local
# Beancount ledger and records the partner pushes. Their connections are
# Linked as soon as they are made; every other starts PendingAuth.
NO_AUTHORIZATION = frozenset({"sandbox", "beancount", "partner-push"})

COMMERCE = "Commerce"
ACCOUNTING = "Accounting"


@dataclass(frozen=True)
class Platform:
    key: str  # the registry key, Codat's platformKey / integrationKey
    name: str
    source_type: str  # "Commerce" or "Accounting" (Codat's sourceType)

    @property
    def integration_id(self) -> uuid.UUID:
        return uuid.uuid5(_NAMESPACE, f"integration:{self.key}")

    @property
    def source_id(self) -> uuid.UUID:
        return uuid.uuid5(_NAMESPACE, f"source:{self.key}")

    @property
    def needs_authorization(self) -> bool:
        """Whether a new connection waits for credentials (PendingAuth)."""
        return self.key not in NO_AUTHORIZATION

    @property
    def connection_source_type(self) -> str:
        """The `Connection.source_type` value ("commerce" / "accounting")."""
        return self.source_type.lower()


def platforms_all() -> list[Platform]:
    """Every installed platform, commerce first, each sorted by key."""
    commerce = [
        Platform(key, NAMES.get(key, key.replace("-", " ").title()), COMMERCE)
        for key in sorted(registry.COMMERCE_SOURCES)
    ]
    accounting = [
        Platform(key, NAMES.get(key, key.replace("-", " ").title()), ACCOUNTING)
        for key in sorted(registry.ACCOUNTING_TARGETS)
    ]
    return commerce + accounting


def platform_get(key: str, *, source_type: str | None = None) -> Platform | None:
    """The platform with this key (of that source type, "Commerce" or
    "Accounting", when given), or None."""
    for platform in platforms_all():
        if platform.key == key and (source_type is None or platform.source_type == source_type):
            return platform
    return None
