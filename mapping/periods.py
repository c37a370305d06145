"""Sync periods in the merchant's time zone.

A business day D runs from D at the sync hour (inclusive) to D+1 at the sync
hour (exclusive), local time, so it lasts 23 or 25 hours on DST days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mapping.errors import refuse, shown


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise refuse(
            "InvalidTimeZone",
            f"Unknown time zone {shown(name)}: use an IANA name such as Europe/London",
        ) from None


def local_instant(day: date, hour: int, tz: ZoneInfo) -> datetime:
    """The instant `day` at `hour`:00 local, in UTC; a wall time skipped by
    DST maps to the first instant after the gap. UTC because Python compares
    and subtracts two datetimes of the same zone by wall clock, which is
    wrong on DST days."""
    try:
        return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)
    except OverflowError:
        raise refuse("InvalidPeriod", f"{day} is too close to either end of the calendar") from None


def business_day(instant: datetime, hour: int, tz: ZoneInfo) -> date:
    """The business day holding `instant` (aware)."""
    local = instant.astimezone(tz)
    day = local.date()
    if local < local_instant(day, hour, tz):
        day -= timedelta(days=1)
    return day


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) as aware datetimes, with the schedule that cut it."""

    start: datetime
    end: datetime
    sync_hour: int
    tz: ZoneInfo

    @classmethod
    def from_dates(cls, start: date, end: date, *, sync_hour: int, tz: ZoneInfo) -> Period:
        if end <= start:
            raise refuse(
                "InvalidPeriod", f"The period ends ({end}) on or before it starts ({start})"
            )
        return cls(
            local_instant(start, sync_hour, tz), local_instant(end, sync_hour, tz), sync_hour, tz
        )

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def day_of(self, instant: datetime) -> date:
        return business_day(instant, self.sync_hour, self.tz)

    @property
    def last_day(self) -> date:
        return business_day(self.end - timedelta(microseconds=1), self.sync_hour, self.tz)

    @property
    def first_day(self) -> date:
        return business_day(self.start, self.sync_hour, self.tz)
