"""Clover: orders (line items, modifications, discounts, service charges,
tax rates, payments with their tenders, tips, refunds) and credits read over
Clover's REST API v3, per merchant in its own region."""

from connectors.clover.adapter import CloverSource

__all__ = ["CloverSource"]
