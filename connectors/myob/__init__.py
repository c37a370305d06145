"""MYOB Business (AccountRight, API v2, per company file) as an accounting target."""

from connectors.myob.adapter import MyobTarget

__all__ = ["MyobTarget"]
