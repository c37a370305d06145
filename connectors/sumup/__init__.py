"""SumUp: transaction history and payouts (with their fees and deductions)
read over the SumUp REST API."""

from connectors.sumup.adapter import SumUpSource

__all__ = ["SumUpSource"]
