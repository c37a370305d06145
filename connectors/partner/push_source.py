"""`PartnerPushSource`: the records a partner pushed, read back for a sync."""

from __future__ import annotations

from datetime import datetime

from commerce_sync.core.models import Merchant
from connectors.partner.models import PushedRecord
from connectors.partner.selectors import pushed_records_for_period, pushed_reference
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
    platform_key = "partner-push"

    def __init__(self, *, merchant: Merchant) -> None:
        self.merchant = merchant

    def read_period(self, *, start: datetime, end: datetime) -> CommerceBatch:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("read_period needs aware datetimes")

        def period(kind: str) -> list[dict]:
            rows = pushed_records_for_period(
                merchant=self.merchant, kind=kind, start=start, end=end
            )
            return [row.payload for row in rows]

        batch = CommerceBatch(orders=period(Kind.ORDER), transactions=period(Kind.TRANSACTION))
        for attribute, kind in REFERENCE.items():
            rows = pushed_reference(merchant=self.merchant, kind=kind)
            setattr(batch, attribute, [row.payload for row in rows])
        return batch  # api_calls stays 0: nothing was called
