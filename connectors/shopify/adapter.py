"""`ShopifySource`: one period of a Shopify store, as Codat commerce records."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from commerce_sync.errors import DataProcessingError
from connectors.common import TokenSource
from connectors.context import ConnectorContext, ShopifySettings
from connectors.protocols import CommerceBatch
from connectors.shopify import queries
from connectors.shopify.client import ShopifyClient
from connectors.shopify.oauth import shop_domain
from connectors.shopify.translate import translate

log = logging.getLogger(__name__)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ShopifySource:
    platform_key = "shopify"

    def __init__(self, *, client: ShopifyClient) -> None:
        self.client = client

    @classmethod
    def for_shop(cls, shop: str, tokens: TokenSource, **client_options: Any) -> ShopifySource:
        template = getattr(
            settings,
            "SHOPIFY_API_URL_TEMPLATE",
            "https://{shop}/admin/api/2025-01/graphql.json",
        )
        url = template.format(shop=shop_domain(shop))
        return cls(client=ShopifyClient(api_url=url, tokens=tokens, **client_options))

    def read_period(self, *, start: datetime, end: datetime) -> CommerceBatch:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("read_period needs aware datetimes")
        calls_before = self.client.calls
        # updated_at has no upper bound: an order created in the period may
        # have been edited since, and still belongs to it.
        orders = self.client.paginate(
            queries.ORDERS,
            {
                "first": queries.ORDERS_PAGE_SIZE,
                "query": queries.search_range("updated_at", _iso(start)),
            },
            ("orders",),
        )
        window = {"first": queries.PAYMENTS_PAGE_SIZE}
        balance = self.client.paginate(
            queries.BALANCE_TRANSACTIONS,
            window | {"query": queries.search_range("processed_at", _iso(start), _iso(end))},
            ("shopifyPaymentsAccount", "balanceTransactions"),
        )
        payouts = self.client.paginate(
            queries.PAYOUTS,
            window | {"query": queries.search_range("issued_at", _iso(start), _iso(end))},
            ("shopifyPaymentsAccount", "payouts"),
        )
        result = translate(
            orders=list(orders),
            balance_transactions=list(balance),
            payouts=list(payouts),
            start=start,
            end=end,
        )
        if result.skipped_test_records:
            log.info("Shopify test records skipped: %s", ", ".join(result.skipped_test_records))
        if result.problems:
            # Refuse the period rather than post it with records missing.
            raise DataProcessingError(
                f"{len(result.problems)} Shopify record(s) do not fit the commerce model: "
                + "; ".join(result.problems[:20])
            )
        return CommerceBatch(
            orders=result.orders,
            transactions=result.transactions,
            products=list(result.products.values()),
            locations=list(result.locations.values()),
            tax_components=list(result.tax_components.values()),
            api_calls=self.client.calls - calls_before,
        )


def shopify_source_build(context: ConnectorContext[ShopifySettings]) -> ShopifySource:
    """The source for a linked Shopify connection: its shop (`ShopifySettings`)
    and its stored tokens."""
    from connectors.shopify.oauth import shopify_oauth_client

    shop = context.settings.shop
    tokens = context.token_source(shopify_oauth_client(shop))
    return ShopifySource.for_shop(shop, tokens)
