"""`PartnerCommerceSource`: one period read from the partner's Codat-shaped API.

Orders and transactions come from two queries each: those created in the
period, and those modified in it (an edit to an older record, which the sync
turns into an adjustment). Reference data is read whole every time; it is
small and the setup flow needs all of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from connectors.context import ConnectorContext, PartnerSettings
from connectors.partner.client import PartnerClient
from connectors.protocols import CommerceBatch, Record

REFERENCE_TYPES = {
    "locations": "commerce-locations",
    "payment_methods": "commerce-paymentMethods",
    "tax_components": "commerce-taxComponents",
    "product_categories": "commerce-productCategories",
    "products": "commerce-products",
}


def codat_instant(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("read_period needs aware datetimes")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def period_query(field: str, start: datetime, end: datetime) -> str:
    """Codat's query language: `field>=start&&field<end` (urlencoded by the client)."""
    return f"{field}>={codat_instant(start)}&&{field}<{codat_instant(end)}"


def _created(record: Record) -> datetime | None:
    value = record.get("createdDate")
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed if parsed is None or parsed.tzinfo else parsed.replace(tzinfo=UTC)


class PartnerCommerceSource:
    platform_key = "partner"

    def __init__(self, client: PartnerClient) -> None:
        self.client = client

    def company_info(self) -> dict[str, Any]:
        """`commerce-info`: a cheap call that proves the URL and credentials work."""
        return self.client.get("commerce-info", {})

    def _period_records(self, data_type: str, start: datetime, end: datetime) -> list[Record]:
        by_id: dict[str, Record] = {}
        created = self.client.list_all(data_type, query=period_query("createdDate", start, end))
        modified = self.client.list_all(data_type, query=period_query("modifiedDate", start, end))
        for record in _chain(created, modified):
            when = _created(record)
            if when is not None and when >= end:
                continue  # created after the period: the next sync's business
            # Keep the newest copy seen when a record appears in both answers.
            by_id[str(record.get("id"))] = record
        return list(by_id.values())

    def read_period(self, *, start: datetime, end: datetime) -> CommerceBatch:
        calls_before = self.client.calls
        batch = CommerceBatch(
            orders=self._period_records("commerce-orders", start, end),
            transactions=self._period_records("commerce-transactions", start, end),
        )
        for attribute, data_type in REFERENCE_TYPES.items():
            setattr(batch, attribute, list(self.client.list_all(data_type)))
        batch.api_calls = self.client.calls - calls_before
        return batch


def _chain(*parts: Iterable[Record]) -> Iterable[Record]:
    for part in parts:
        yield from part


def partner_source_build(context: ConnectorContext[PartnerSettings]) -> PartnerCommerceSource:
    """From a connection's context: `PartnerSettings` (base URL, auth kind,
    page size); the secrets in its credentials {"api_key"} | {"client_id",
    "client_secret"}."""
    from connectors.partner.client import PartnerAuth

    partner, secrets = context.settings, context.credentials or {}
    return PartnerCommerceSource(
        PartnerClient(
            base_url=partner.base_url,
            page_size=partner.page_size,
            auth=PartnerAuth(
                kind=partner.auth_type,
                header=partner.header,
                token_url=partner.token_url,
                scope=partner.scope,
                api_key=secrets.get("api_key", ""),
                client_id=secrets.get("client_id", ""),
                client_secret=secrets.get("client_secret", ""),
            ),
        )
    )
