"""Zettle (PayPal) point of sale as a commerce source."""

from connectors.zettle.adapter import ZettleSource

__all__ = ["ZettleSource"]
