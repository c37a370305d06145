"""Stripe: charges, refunds, balance transactions (fees, adjustments,
disputes) and payouts read over the Stripe REST API v1."""

from connectors.stripe.adapter import StripeSource

__all__ = ["StripeSource"]
