"""`SumUpSource`: one period of a SumUp merchant read into canonical records.

History items are read by creation time in [start, end) (`oldest_time`,
`newest_time`). Payout records carry a date only: a record dated D is read
by the period holding the start of D in the merchant's time zone, and
booked at that instant (so each date is read by exactly one period, whatever
the sync hour). Anything that does not fit the canonical model stops the
read with a `DataProcessingError` naming every record concerned.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from commerce_sync.errors import DataProcessingError
from connectors.common import problems_error
from connectors.context import ConnectorContext, SumUpSettings
from connectors.protocols import CommerceBatch
from connectors.sumup.client import SumUpClient
from connectors.sumup.translate import LOCATION, translate_period


def utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("read_period needs aware datetimes")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def payout_days(start: datetime, end: datetime, zone: ZoneInfo) -> list[tuple[date, datetime]]:
    """The dates whose local midnight lies in [start, end), with that instant."""
    day = start.astimezone(zone).date()
    found: list[tuple[date, datetime]] = []
    while True:
        midnight = datetime.combine(day, time(0), zone)
        if midnight >= end:
            return found
        if midnight >= start:
            found.append((day, midnight))
        day += timedelta(days=1)


class SumUpSource:
    platform_key = "sumup"

    def __init__(self, client: SumUpClient, *, time_zone: str) -> None:
        self.client = client
        self.zone = ZoneInfo(time_zone)

    def read_period(self, *, start: datetime, end: datetime) -> CommerceBatch:
        """The period's records. Raises `DataProcessingError` (records that do
        not fit, named), `CredentialsRevoked`, `RateLimited` /
        `PlatformUnavailable` (try again later)."""
        calls_before = self.client.calls
        history = list(self.client.history(oldest=utc_text(start), newest=utc_text(end)))
        payouts: list[tuple[dict, str]] = []
        days = dict(payout_days(start, end, self.zone))
        if days:
            first, last = min(days).isoformat(), max(days).isoformat()
            for record in self.client.payouts(first=first, last=last):
                try:
                    booked = days.get(date.fromisoformat(str(record.get("date"))))
                except ValueError:
                    booked = None
                if booked is None:
                    raise DataProcessingError(
                        f"SumUp payout record {record.get('id')} has date {record.get('date')!r}, "
                        f"outside {first}..{last} asked for"
                    )
                payouts.append((record, booked.isoformat()))
        result = translate_period(history=history, payouts=payouts)
        if result.problems:
            raise problems_error("SumUp", result.problems)
        return CommerceBatch(
            orders=result.orders,
            transactions=result.transactions,
            locations=[dict(LOCATION)],
            api_calls=self.client.calls - calls_before,
        )


def sumup_source_build(context: ConnectorContext[SumUpSettings]) -> SumUpSource:
    """The source for a linked SumUp connection: its merchant code
    (`SumUpSettings`) and either its API key (credentials `api_key`) or its
    OAuth tokens (`access_token`, `refresh_token`, kept fresh by the core's
    token source)."""
    if context.credentials.get("access_token"):
        from connectors.sumup.oauth import sumup_oauth_client

        client = SumUpClient(
            merchant_code=context.settings.merchant_code,
            tokens=context.token_source(sumup_oauth_client()),
        )
    else:
        client = SumUpClient(
            merchant_code=context.settings.merchant_code,
            api_key=str(context.credentials.get("api_key") or ""),
        )
    return SumUpSource(client, time_zone=context.time_zone)
