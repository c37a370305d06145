"""Sage Accounting (API v3.1, one business per connection) as an accounting target."""

from connectors.sage.adapter import SageTarget

__all__ = ["SageTarget"]
