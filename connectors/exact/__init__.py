"""Exact Online (REST over OData v2, per division) as an accounting target."""

from connectors.exact.adapter import ExactTarget

__all__ = ["ExactTarget"]
