"""`SandboxSource`: the built-in commerce source behind the laptop demo and tests.

It "calls" its platform once per merchant-local day: each day is generated in
full and then filtered to the requested period, so a period may start at any
sync hour and span DST days of 23 or 25 hours.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from connectors.protocols import CommerceBatch
from connectors.sandbox.generator import Merchant, generate_day, reference_data


class SandboxSource:
    platform_key = "sandbox"

    def __init__(
        self,
        *,
        merchant_seed: str,
        time_zone: str,
        currency: str,
        orders_per_day: int = 40,
        country: str = "GB",
        location_id: str = "MAIN",
        location_name: str = "Main street",
    ) -> None:
        ZoneInfo(time_zone)  # fail at setup, not mid-sync, on an unknown zone
        self.merchant = Merchant(
            seed=merchant_seed,
            time_zone=time_zone,
            currency=currency,
            orders_per_day=orders_per_day,
            country=country,
            location_id=location_id,
            location_name=location_name,
        )

    def local_days(self, start: datetime, end: datetime) -> list[date]:
        """The merchant-local dates that [start, end) touches."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("read_period needs aware datetimes")
        if end <= start:
            return []
        zone = ZoneInfo(self.merchant.time_zone)
        first = start.astimezone(zone).date()
        last = (end - timedelta(microseconds=1)).astimezone(zone).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def read_period(self, *, start: datetime, end: datetime) -> CommerceBatch:
        days = self.local_days(start, end)
        reference = reference_data(self.merchant)
        batch = CommerceBatch(
            products=reference["products"],
            product_categories=reference["productCategories"],
            locations=reference["locations"],
            tax_components=reference["taxComponents"],
            payment_methods=reference["paymentMethods"],
            api_calls=len(days),
        )

        def inside(record: dict) -> bool:
            return start <= datetime.fromisoformat(record["createdDate"]) < end

        for day in days:
            orders, transactions = generate_day(self.merchant, day)
            batch.orders += filter(inside, orders)
            batch.transactions += filter(inside, transactions)
        return batch
