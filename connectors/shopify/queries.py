"""The GraphQL documents the connector sends, one constant each.

Every document here is validated against the published 2025-01 schema in the
tests. Each top-level connection asks for `pageInfo` so the client can follow
`endCursor` to the end. Nested lists are fetched in one go (Shopify caps them
at 250); each nested connection also asks for `hasNextPage`, so that a
truncated order is reported instead of being read short.
"""

from __future__ import annotations

ORDERS_PAGE_SIZE = 10  # with 100 line items each, a page stays under Shopify's 1000-point cap
PAYMENTS_PAGE_SIZE = 100

_MONEY = "shopMoney { amount currencyCode }"

_TAX_LINES = f"taxLines {{ title ratePercentage priceSet {{ {_MONEY} }} }}"

_DISCOUNTS = f"""discountAllocations {{
  allocatedAmountSet {{ {_MONEY} }}
  discountApplication {{
    __typename
    ... on DiscountCodeApplication {{ code }}
    ... on AutomaticDiscountApplication {{ title }}
    ... on ManualDiscountApplication {{ title }}
    ... on ScriptDiscountApplication {{ title }}
  }}
}}"""

_TRANSACTION = f"""id kind status gateway createdAt processedAt
amountSet {{ {_MONEY} }}"""

# Orders touched since the period began: an order created in the period, or
# an older order refunded in it, has `updated_at` at or after the start.
# Which records fall inside the period is decided on createdAt / refund
# createdAt while translating.
ORDERS = f"""
query ShopifyOrders($first: Int!, $after: String, $query: String!) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id name createdAt updatedAt currencyCode taxesIncluded sourceName test
      retailLocation {{ id name }}
      totalPriceSet {{ {_MONEY} }}
      totalTaxSet {{ {_MONEY} }}
      totalDiscountsSet {{ {_MONEY} }}
      totalTipReceivedSet {{ {_MONEY} }}
      lineItems(first: 100) {{
        pageInfo {{ hasNextPage }}
        nodes {{
          id title sku quantity isGiftCard
          product {{ id title }}
          originalUnitPriceSet {{ {_MONEY} }}
          {_TAX_LINES}
          {_DISCOUNTS}
        }}
      }}
      shippingLines(first: 10) {{
        pageInfo {{ hasNextPage }}
        nodes {{
          id title
          originalPriceSet {{ {_MONEY} }}
          discountedPriceSet {{ {_MONEY} }}
          {_TAX_LINES}
        }}
      }}
      transactions(first: 50) {{ {_TRANSACTION} }}
      refunds(first: 20) {{
        id createdAt note
        totalRefundedSet {{ {_MONEY} }}
        refundLineItems(first: 100) {{
          pageInfo {{ hasNextPage }}
          nodes {{
            quantity
            subtotalSet {{ {_MONEY} }}
            totalTaxSet {{ {_MONEY} }}
            lineItem {{ id title isGiftCard product {{ id title }} {_TAX_LINES} }}
          }}
        }}
        refundShippingLines(first: 10) {{
          pageInfo {{ hasNextPage }}
          nodes {{
            subtotalAmountSet {{ {_MONEY} }}
            taxAmountSet {{ {_MONEY} }}
            shippingLine {{ title {_TAX_LINES} }}
          }}
        }}
        transactions(first: 20) {{
          pageInfo {{ hasNextPage }}
          nodes {{ {_TRANSACTION} }}
        }}
      }}
    }}
  }}
}}
"""

# Balance transactions carry the processing fee of each charge (and the fee
# returned on some refunds), linked to the order transaction by its numeric id.
BALANCE_TRANSACTIONS = """
query ShopifyBalanceTransactions($first: Int!, $after: String, $query: String!) {
  shopifyPaymentsAccount {
    balanceTransactions(first: $first, after: $after, query: $query) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id type test transactionDate sourceType sourceOrderTransactionId
        amount { amount currencyCode }
        fee { amount currencyCode }
        net { amount currencyCode }
        associatedOrder { id name }
      }
    }
  }
}
"""

PAYOUTS = """
query ShopifyPayouts($first: Int!, $after: String, $query: String!) {
  shopifyPaymentsAccount {
    payouts(first: $first, after: $after, query: $query) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id issuedAt status transactionType
        net { amount currencyCode }
      }
    }
  }
}
"""

LOCATIONS = """
query ShopifyLocations($first: Int!, $after: String) {
  locations(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id name isActive }
  }
}
"""

ALL = {
    "orders": ORDERS,
    "balance_transactions": BALANCE_TRANSACTIONS,
    "payouts": PAYOUTS,
    "locations": LOCATIONS,
}


def search_range(field: str, start: str, end: str | None = None) -> str:
    """A Shopify search-syntax range on a time field (ISO instants, UTC)."""
    terms = [f"{field}:>='{start}'"]
    if end is not None:
        terms.append(f"{field}:<'{end}'")
    return " AND ".join(terms)
