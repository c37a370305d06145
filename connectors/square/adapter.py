"""`SquareSource`: one merchant's period read from Square.

Orders come from two searches: created in the period, and updated in it
(an edit to an older order, which the sync turns into an adjustment).
Payments (for fees), refunds, payouts are read per location by their
creation time, and each payout's entries (for the fees no payment carries).
Anything that does not fit the canonical model stops the read with a
`DataProcessingError` naming every record concerned.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from commerce_sync.errors import ConfigurationError
from connectors.common import problems_error
from connectors.context import ConnectorContext, SquareSettings
from connectors.protocols import CommerceBatch
from connectors.square.client import SquareClient
from connectors.square.translate import translate_period


def rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("read_period needs aware datetimes")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


class SquareSource:
    platform_key = "square"

    def __init__(
        self, client: SquareClient, *, location_ids: list[str] | None = None, currency: str = ""
    ) -> None:
        self.client = client
        self.location_ids = list(location_ids or [])
        self.currency = currency  # the merchant's home currency, for the setup flow

    def _locations(self) -> tuple[list[dict], list[str]]:
        found = self.client.list_locations()
        chosen = self.location_ids or [x["id"] for x in found if x.get("status") != "INACTIVE"]
        unknown = set(chosen) - {x["id"] for x in found}
        if unknown:
            raise ConfigurationError(
                f"Square locations {', '.join(sorted(unknown))} are not visible to this connection"
            )
        return [x for x in found if x["id"] in chosen], chosen

    def _orders(self, ids: list[str], start: str, end: str, end_at: datetime) -> list[dict]:
        orders: dict[str, dict] = {}
        for field in ("created_at", "updated_at"):
            for order in self.client.search_orders(
                location_ids=ids, start=start, end=end, field=field
            ):
                created = _when(order.get("created_at"))
                if created is not None and created >= end_at:
                    continue  # created after the period: the next sync's business
                orders[order["id"]] = order
        return list(orders.values())

    def read_period(self, *, start: datetime, end: datetime) -> CommerceBatch:
        calls_before = self.client.calls
        begin, finish = rfc3339(start), rfc3339(end)
        locations, ids = self._locations()
        orders = self._orders(ids, begin, finish, end)
        payments, refunds, payouts = [], [], []
        for location in ids:
            payments += self.client.list_payments(location_id=location, start=begin, end=finish)
            refunds += self.client.list_refunds(location_id=location, start=begin, end=finish)
            payouts += self.client.list_payouts(location_id=location, start=begin, end=finish)
        entries = {p["id"]: list(self.client.list_payout_entries(p["id"])) for p in payouts}
        older = [self.client.get_payment(pid) for pid in self._missing(orders, payments, refunds)]
        result = translate_period(
            orders=orders,
            payments=payments,
            older_payments=older,
            refunds=refunds,
            payouts=payouts,
            payout_entries=entries,
            location_list=locations,
            catalog_objects=self.client.search_catalog(),
        )
        if result.problems:
            raise problems_error("Square", result.problems)
        return CommerceBatch(
            orders=result.orders,
            transactions=result.transactions,
            products=result.products,
            product_categories=result.product_categories,
            locations=result.locations,
            tax_components=result.tax_components,
            api_calls=self.client.calls - calls_before,
        )

    @staticmethod
    def _missing(orders: list[dict], payments: list[dict], refunds: list[dict]) -> list[str]:
        """Payments refunded in the period but made before it: their type is needed."""
        known = {p["id"] for p in payments}
        for order in orders:
            known.update(t.get("payment_id") or t.get("id") for t in order.get("tenders") or ())
        wanted = [r.get("payment_id") for r in refunds]
        for order in orders:
            wanted += [r.get("tender_id") for r in order.get("refunds") or ()]
        return sorted({w for w in wanted if w and w not in known})


def square_source_build(context: ConnectorContext[SquareSettings]) -> SquareSource:
    """The source for a linked Square connection: the chosen locations and
    currency (`SquareSettings`) and its stored tokens."""
    from connectors.square.oauth import square_oauth_client

    client = SquareClient(tokens=context.token_source(square_oauth_client()))
    return SquareSource(
        client,
        location_ids=list(context.settings.location_ids),
        currency=context.settings.currency or context.currency,
    )
