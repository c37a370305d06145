"""The date each target recorded for each document, to compare with the
period's business day (test code). Xero and QuickBooks both post a document
without its date on the day it arrives, so a missing or shifted date shows
only when the recorded date is read back and compared."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

XERO_COLLECTIONS = (
    "Invoices",
    "CreditNotes",
    "ManualJournals",
    "Payments",
    "BankTransactions",
    "BankTransfers",
)
QUICKBOOKS_ENTITIES = (
    "Invoice",
    "CreditMemo",
    "JournalEntry",
    "Payment",
    "Bill",
    "BillPayment",
    "Deposit",
    "Transfer",
    "SalesReceipt",
    "RefundReceipt",
)


def business_days(period: dict[str, str]) -> set[str]:
    """ISO dates from period["start"] up to, not including, period["end"]."""
    day, end = date.fromisoformat(period["start"]), date.fromisoformat(period["end"])
    days = set()
    while day < end:
        days.add(day.isoformat())
        day += timedelta(days=1)
    return days


def xero_dates(documents: dict[str, list[dict[str, Any]]]) -> dict[str, str | None]:
    """ "<collection> <reference>" -> the Date Xero recorded (None when absent)."""
    return {
        f"{collection} {row.get('Reference') or row.get('InvoiceNumber') or index}": row.get("Date")
        for collection in XERO_COLLECTIONS
        for index, row in enumerate(documents.get(collection, []))
    }


def quickbooks_dates(entities: dict[str, dict[str, dict[str, Any]]]) -> dict[str, str | None]:
    """ "<entity> <Id>" -> the TxnDate QuickBooks recorded (None when absent)."""
    return {
        f"{entity} {entity_id}": row.get("TxnDate")
        for entity in QUICKBOOKS_ENTITIES
        for entity_id, row in entities.get(entity, {}).items()
    }
