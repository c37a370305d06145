"""Xero: OAuth 2 with rotating refresh tokens, the Accounting API client and
the `AccountingTarget` adapter (platform key "xero")."""

from connectors.xero.adapter import XeroTarget

__all__ = ["XeroTarget"]
