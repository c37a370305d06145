"""Sandbox commerce source: a deterministic café POS for demos and tests."""

from connectors.sandbox.adapter import SandboxSource

__all__ = ["SandboxSource"]
