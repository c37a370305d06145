"""Square: orders, payments (fees), refunds and payouts read over the Connect API v2."""

from connectors.square.adapter import SquareSource

__all__ = ["SquareSource"]
