"""`StripeSource`: one period of a Stripe account read into canonical records.

Charges, refunds, balance transactions and payouts are listed by their
`created` time in [start, end) (Stripe objects carry no modification time;
what changes later, a failed payout or refund, a dispute, arrives as a new
balance transaction, read in the period that creates it). Each automatic
payout's settled balance transactions are listed too (`payout` filter), to
check that the payout sweeps what the books hold (see `translate`).
Anything that does not fit the canonical model stops the read with a
`DataProcessingError` naming every record concerned; payouts that do not
reconcile are logged and kept in `warnings`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings

from connectors.common import problems_error
from connectors.context import ConnectorContext, NoSettings
from connectors.protocols import CommerceBatch
from connectors.stripe.client import StripeClient
from connectors.stripe.translate import LOCATION, translate_period

log = logging.getLogger(__name__)


def unix(moment: datetime) -> int:
    """An aware datetime as unix seconds (Stripe's `created` filter)."""
    if moment.tzinfo is None:
        raise ValueError("read_period needs aware datetimes")
    return int(moment.timestamp())


class StripeSource:
    platform_key = "stripe"

    def __init__(self, client: StripeClient) -> None:
        self.client = client
        self.warnings: list[str] = []

    def read_period(self, *, start: datetime, end: datetime) -> CommerceBatch:
        """The period's records (see the module docstring). Raises
        `DataProcessingError` (records that do not fit, named by id),
        `CredentialsRevoked` (key revoked or lacking permissions),
        `RateLimited` / `PlatformUnavailable` (try again later)."""
        calls_before = self.client.calls
        begin, finish = unix(start), unix(end)
        charges = list(self.client.charges(start=begin, end=finish))
        refunds = list(self.client.refunds(start=begin, end=finish))
        balance = list(self.client.balance_transactions(start=begin, end=finish))
        payouts = list(self.client.payouts(start=begin, end=finish))
        settled = {
            p["id"]: list(self.client.payout_transactions(p["id"]))
            for p in payouts
            if p.get("automatic") and p.get("id")
        }
        result = translate_period(
            charges=charges,
            refunds=refunds,
            balance_transactions=balance,
            payouts=payouts,
            settled=settled,
        )
        self.warnings = result.warnings
        for warning in result.warnings:
            log.warning("Stripe: %s", warning)
        if result.problems:
            raise problems_error("Stripe", result.problems)
        return CommerceBatch(
            orders=result.orders,
            transactions=result.transactions,
            locations=[dict(LOCATION)],
            api_calls=self.client.calls - calls_before,
        )


def stripe_source_build(context: ConnectorContext[NoSettings]) -> StripeSource:
    """The source for a linked Stripe connection: its restricted (or secret)
    API key, stored encrypted in the connection's credentials as `api_key`;
    or, connected through Stripe Connect, its account (`stripe_account`),
    read with the platform's `STRIPE_SECRET_KEY` and the `Stripe-Account` header."""
    account = str(context.credentials.get("stripe_account") or "")
    if account:
        return StripeSource(StripeClient(api_key=settings.STRIPE_SECRET_KEY, account=account))
    return StripeSource(StripeClient(api_key=str(context.credentials.get("api_key") or "")))
