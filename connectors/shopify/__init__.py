"""Shopify as a commerce source, through the GraphQL Admin API (2025-01)."""

from connectors.shopify.adapter import ShopifySource

__all__ = ["ShopifySource"]
