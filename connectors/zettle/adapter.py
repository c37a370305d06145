"""`ZettleSource`: one period of a Zettle merchant's purchases, fees and payouts.

Currency and time zone are the merchant's (Zettle's Finance API carries no
currency; an organisation has one). Purchases are read for the period itself;
anything that does not fit the canonical model stops the read with a
`DataProcessingError` naming every offending record, so nothing is lost
quietly. Kinds of finance transaction a sales sync does not post are kept in
`warnings` and logged by id.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings

from commerce_sync.errors import DataProcessingError
from connectors.context import ConnectorContext, ZettleSettings
from connectors.protocols import CommerceBatch
from connectors.zettle.client import ZettleClient
from connectors.zettle.translate import translate, utc_text

log = logging.getLogger(__name__)
LOCATION_ID = "zettle"  # a Zettle organisation sells from one place


class ZettleSource:
    platform_key = "zettle"

    def __init__(
        self,
        client: ZettleClient,
        *,
        currency: str,
        time_zone: str,
        location_id: str = LOCATION_ID,
        location_name: str = "Zettle",
    ) -> None:
        ZoneInfo(time_zone)  # fail at setup, not mid-sync, on an unknown zone
        self.client = client
        self.currency = currency.upper()
        self.time_zone = time_zone
        self.location = {"id": location_id, "name": location_name}
        self.warnings: list[str] = []

    def read_period(self, *, start: datetime, end: datetime) -> CommerceBatch:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("read_period needs aware datetimes")
        calls_before = self.client.calls
        purchases = [
            p for p in self.client.purchases(start=start, end=end) if _inside(p, start, end)
        ]
        finance = list(self.client.transactions(start=start, end=end))
        result = translate(
            purchases, finance, currency=self.currency, location_id=self.location["id"]
        )
        self.warnings = result.warnings
        for warning in result.warnings:
            log.warning("%s", warning)
        if result.problems:
            raise DataProcessingError(
                f"{len(result.problems)} Zettle record(s) do not fit: " + "; ".join(result.problems)
            )
        return CommerceBatch(
            orders=result.orders,
            transactions=result.transactions,
            products=list(result.products.values()),
            locations=[dict(self.location)],
            api_calls=self.client.calls - calls_before,
        )


def _inside(purchase: dict, start: datetime, end: datetime) -> bool:
    """The Purchase API's date filter is coarser than a sync period; trim to
    [start, end). A purchase without a readable time is kept so that the
    translation reports it rather than it vanishing here."""
    try:
        moment = datetime.fromisoformat(utc_text(purchase["timestamp"]))
    except (KeyError, TypeError, ValueError, AttributeError):
        return True
    return start <= moment < end


def zettle_source_build(context: ConnectorContext[ZettleSettings]) -> ZettleSource:
    """The source for a linked Zettle connection, with its stored tokens; its
    organisation (`ZettleSettings`, else the connection id) keys the limits."""
    from connectors.zettle.oauth import zettle_oauth_client

    client = ZettleClient(
        purchase_url=settings.ZETTLE_PURCHASE_API_URL,
        finance_url=settings.ZETTLE_FINANCE_API_URL,
        tokens=context.token_source(zettle_oauth_client()),
        organization=context.settings.organization_uuid or context.connection_id,
    )
    return ZettleSource(client, currency=context.currency, time_zone=context.time_zone)
