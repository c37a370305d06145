"""The local Beancount ledger: the product's embedded default accounting target."""

from connectors.beancount.adapter import BeancountTarget

__all__ = ["BeancountTarget"]
