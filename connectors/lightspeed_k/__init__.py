"""Lightspeed Restaurant K-Series: business locations, sales (V2 financial
API) and Lightspeed Payments fees and payouts, read over OAuth 2."""

from connectors.lightspeed_k.adapter import LightspeedKSource

__all__ = ["LightspeedKSource"]
