"""`PartnerPushSource`: the records a partner pushed, read back for a sync.

Registered in the connectors' registry as the `partner-push` commerce source
(see `commerce_sync.inbound.apps`)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from commerce_sync.inbound.models import PushedRecord
from commerce_sync.inbound.selectors import pushed_records_for_period, pushed_reference
from connectors.context import ConnectorContext, NoSettings
from connectors.protocols import CommerceBatch

Kind = PushedRecord.Kind
REFERENCE = {
    "locations": Kind.LOCATION,
    "products": Kind.PRODUCT,
    "product_categories": Kind.PRODUCT_CATEGORY,
    "tax_components": Kind.TAX_COMPONENT,
    "payment_methods": Kind.PAYMENT_METHOD,
}


class PartnerPushSource:
    """`CommerceSource` over the merchant's pushed records."""

    platform_key = "partner-push"

    def __init__(self, *, merchant_id: UUID) -> None:
        self.merchant_id = merchant_id

    def read_period(self, *, start: datetime, end: datetime) -> CommerceBatch:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("read_period needs aware datetimes")

        def period(kind: str) -> list[dict]:
            rows = pushed_records_for_period(
                merchant_id=self.merchant_id, kind=kind, start=start, end=end
            )
            return [row.payload for row in rows]

        batch = CommerceBatch(orders=period(Kind.ORDER), transactions=period(Kind.TRANSACTION))
        for attribute, kind in REFERENCE.items():
            rows = pushed_reference(merchant_id=self.merchant_id, kind=kind)
            setattr(batch, attribute, [row.payload for row in rows])
        return batch  # api_calls stays 0: nothing was called


def push_source_build(context: ConnectorContext[NoSettings]) -> PartnerPushSource:
    """The `partner-push` source for a connection: its merchant's rows."""
    return PartnerPushSource(merchant_id=context.merchant_id)
