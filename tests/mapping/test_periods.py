"""Period arithmetic across time zones and DST transitions (property tests)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from mapping.periods import Period, business_day, local_instant

ZONES = [
    "Europe/London",
    "America/Toronto",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Australia/Sydney",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/St_Johns",
    "Asia/Tokyo",
    "Africa/Casablanca",
]
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
hours = st.integers(min_value=0, max_value=23)
zones = st.sampled_from(ZONES).map(ZoneInfo)


@settings(max_examples=400, deadline=None)
@given(day=days, hour=hours, tz=zones)
def test_consecutive_days_chain_without_gap_or_overlap(day, hour, tz):
    today = Period.from_dates(day, day + timedelta(days=1), sync_hour=hour, tz=tz)
    tomorrow = Period.from_dates(
        day + timedelta(days=1), day + timedelta(days=2), sync_hour=hour, tz=tz
    )
    assert today.end == tomorrow.start
    length = today.end - today.start
    assert timedelta(hours=22) <= length <= timedelta(hours=26)
    assert today.first_day == day == today.last_day


@settings(max_examples=400, deadline=None)
@given(day=days, hour=hours, tz=zones, offset=st.integers(min_value=0, max_value=26 * 3600 - 1))
def test_every_instant_belongs_to_exactly_the_day_that_contains_it(day, hour, tz, offset):
    period = Period.from_dates(day, day + timedelta(days=1), sync_hour=hour, tz=tz)
    instant = period.start + timedelta(seconds=offset)
    inside = period.contains(instant)
    assert inside == (business_day(instant, hour, tz) == day)


@settings(max_examples=200, deadline=None)
@given(day=days, hour=hours, tz=zones, span=st.integers(min_value=1, max_value=40))
def test_a_range_is_the_sum_of_its_days(day, hour, tz, span):
    whole = Period.from_dates(day, day + timedelta(days=span), sync_hour=hour, tz=tz)
    total = sum(
        (
            local_instant(day + timedelta(days=i + 1), hour, tz)
            - local_instant(day + timedelta(days=i), hour, tz)
            for i in range(span)
        ),
        timedelta(0),
    )
    assert whole.end - whole.start == total
    assert whole.last_day == day + timedelta(days=span - 1)


def test_the_dst_days_of_london_and_toronto():
    london, toronto = ZoneInfo("Europe/London"), ZoneInfo("America/Toronto")
    spring = Period.from_dates(date(2026, 3, 29), date(2026, 3, 30), sync_hour=0, tz=london)
    autumn = Period.from_dates(date(2026, 11, 1), date(2026, 11, 2), sync_hour=0, tz=toronto)
    assert spring.end - spring.start == timedelta(hours=23)
    assert autumn.end - autumn.start == timedelta(hours=25)
    assert autumn.start == datetime(2026, 11, 1, 4, tzinfo=UTC)
    assert autumn.end == datetime(2026, 11, 2, 5, tzinfo=UTC)


def test_a_sync_hour_skipped_by_dst_starts_after_the_gap():
    # 02:00 does not exist in Toronto on 8 March 2026: the day starts at 03:00 EDT.
    toronto = ZoneInfo("America/Toronto")
    start = local_instant(date(2026, 3, 8), 2, toronto)
    assert start == datetime(2026, 3, 8, 7, tzinfo=UTC)
    assert business_day(start, 2, toronto) == date(2026, 3, 8)
    assert business_day(start - timedelta(seconds=1), 2, toronto) == date(2026, 3, 7)
