"""Xero: OAuth 2 with rotating refresh tokens (`oauth`), the Accounting API
client (`client`), the translation of our documents into its elements
(`translate`) and the `AccountingTarget` adapter (platform key "xero")."""

from connectors.xero.adapter import XeroTarget

__all__ = ["XeroTarget"]
