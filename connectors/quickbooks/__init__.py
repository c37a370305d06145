"""QuickBooks Online as an accounting target: a thin client of the v3
Accounting API (`client`), the translation of our documents into its
entities (`translate`), the `AccountingTarget` adapter and the OAuth 2
parameters a generic OAuth helper needs (`oauth`)."""

from connectors.quickbooks.adapter import QuickBooksTarget

__all__ = ["QuickBooksTarget"]
