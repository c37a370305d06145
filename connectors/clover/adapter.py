"""`CloverSource`: one period of a Clover merchant read into canonical records.

Orders are read twice: created in [start, end), and modified in it (an
edit to an older order, which the sync turns into an adjustment; orders
created after the period are left to the next one). Refunds and credits are
read by their creation time; a refund of an order from an earlier period
has that order read by id, for the tender of the refunded payment. Clover
publishes no deposits or fees (see `translate`). Anything that does not fit
the canonical model stops the read with a `DataProcessingError` naming
every record concerned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from commerce_sync.errors import ConfigurationError
from connectors.clover.client import APP_LIMITS, TOKEN_LIMITS, CloverClient
from connectors.clover.regions import api_url
from connectors.clover.translate import GIFT_CARD_PRODUCT, translate_period
from connectors.common import problems_error
from connectors.context import CloverSettings, ConnectorContext
from connectors.protocols import CommerceBatch


def millis(moment: datetime) -> int:
    """An aware datetime as epoch milliseconds (Clover's time filters)."""
    if moment.tzinfo is None:
        raise ValueError("read_period needs aware datetimes")
    return int(moment.timestamp() * 1000)


class CloverSource:
    platform_key = "clover"

    def __init__(self, client: CloverClient, *, currency: str) -> None:
        self.client = client
        self.currency = currency  # the merchant's, for credits (which carry none)

    def _orders(self, start: int, end: int) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for field in ("createdTime", "modifiedTime"):
            for order in self.client.orders(field=field, start_ms=start, end_ms=end):
                created = order.get("createdTime")
                if isinstance(created, int) and created >= end:
                    continue  # created after the period: the next sync's business
                found[str(order.get("id"))] = order
        return list(found.values())

    def read_period(self, *, start: datetime, end: datetime) -> CommerceBatch:
        """The period's records. Raises `DataProcessingError` (records that
        do not fit, named), `CredentialsRevoked`, `RateLimited` /
        `PlatformUnavailable` (try again later)."""
        calls_before = self.client.calls
        begin, finish = millis(start), millis(end)
        orders = self._orders(begin, finish)
        refunds = list(self.client.refunds(start_ms=begin, end_ms=finish))
        credits = list(self.client.credits(start_ms=begin, end_ms=finish))
        known = {str(o.get("id")) for o in orders}
        wanted = sorted(
            {
                str((r.get("orderRef") or {}).get("id"))
                for r in refunds
                if (r.get("orderRef") or {}).get("id")
            }
            - known
        )
        older = [self.client.order(order_id) for order_id in wanted]
        location = self.client.merchant_id
        result = translate_period(
            orders=orders,
            refunds=refunds,
            credits=credits,
            refunded_orders=older,
            currency=self.currency,
            location_id=location,
        )
        if result.problems:
            raise problems_error("Clover", result.problems)
        return CommerceBatch(
            orders=result.orders,
            products=[dict(GIFT_CARD_PRODUCT)],
            locations=[{"id": location, "name": "Clover"}],
            tax_components=result.tax_components,
            api_calls=self.client.calls - calls_before,
        )


def clover_source_build(context: ConnectorContext[CloverSettings]) -> CloverSource:
    """The source for a linked Clover connection: its merchant id and region
    (`CloverSettings`, `ConfigurationError` when either is missing), its
    OAuth tokens kept fresh by the core's token source, and the shared
    database rate limiter (per token and per app)."""
    from connectors.clover.oauth import clover_oauth_client
    from connectors.limits import DatabaseRateLimiter

    chosen = context.settings
    if not chosen.region or not chosen.merchant_id:
        raise ConfigurationError(
            "This Clover connection has no "
            + ("region" if not chosen.region else "merchant id")
            + " yet: connect Clover from the setup flow (or set region and merchant_id)"
        )
    client = CloverClient(
        merchant_id=chosen.merchant_id,
        base_url=api_url(chosen.region),
        tokens=context.token_source(clover_oauth_client(chosen.region)),
        limiters=(
            (DatabaseRateLimiter(TOKEN_LIMITS), f"clover:token:{chosen.merchant_id}"),
            (DatabaseRateLimiter(APP_LIMITS), "clover:app"),
        ),
    )
    return CloverSource(client, currency=context.currency)
