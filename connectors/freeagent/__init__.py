"""FreeAgent (API v2): OAuth 2 with refresh limits (`oauth`), the HTTP client
(`client`), the translation of our documents into its resources
(`translate`) and the `AccountingTarget` adapter (platform key "freeagent")."""

from connectors.freeagent.adapter import FreeAgentTarget

__all__ = ["FreeAgentTarget"]
