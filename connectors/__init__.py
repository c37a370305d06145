"""Connectors: one package per platform behind the protocols in `protocols`."""
