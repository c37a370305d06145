"""A ledger reached over plain JSON/HTTP: documents in the shape `preview_sync`
prints, written by idempotency key. For partners whose own back office keeps
the books, and the target the fleet benchmark measures against."""

from connectors.http_ledger.adapter import HttpLedgerTarget

__all__ = ["HttpLedgerTarget"]
