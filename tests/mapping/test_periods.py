"""Period arithmetic across time zones and DST transitions (property tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapping.errors import MappingError
from mapping.periods import Period, business_day, local_instant, zone

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


# -- what a merchant reads when the schedule cannot be used ----------------------


def refusal(call: Callable[[], object]) -> list[tuple[str, str]]:
    with pytest.raises(MappingError) as raised:
        call()
    return [(issue.code, issue.message) for issue in raised.value.issues]


def test_an_unknown_time_zone_is_refused_naming_it_and_what_to_use():
    assert refusal(lambda: zone("Europe/Lndon")) == [
        (
            "InvalidTimeZone",
            "Unknown time zone 'Europe/Lndon': use an IANA name such as Europe/London",
        )
    ]


def test_a_period_that_ends_where_it_starts_is_refused():
    day = date(2026, 3, 8)
    london = ZoneInfo("Europe/London")
    assert refusal(lambda: Period.from_dates(day, day, sync_hour=4, tz=london)) == [
        ("InvalidPeriod", "The period ends (2026-03-08) on or before it starts (2026-03-08)")
    ]


def test_a_day_at_the_end_of_the_calendar_is_refused_not_a_crash():
    los_angeles = ZoneInfo("America/Los_Angeles")  # 9999-12-31 23:00 there is in year 10000 UTC
    assert refusal(lambda: local_instant(date.max, 23, los_angeles)) == [
        ("InvalidPeriod", "9999-12-31 is too close to either end of the calendar")
    ]


def test_instants_are_in_utc_whatever_the_servers_own_time_zone(monkeypatch):
    """A server set to Toronto time still gets UTC instants (documents and
    reports print them; a local offset would shift what they show)."""
    monkeypatch.setenv("TZ", "America/Toronto")
    time.tzset()
    try:
        start = local_instant(date(2026, 3, 8), 3, ZoneInfo("America/Toronto"))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert start.isoformat() == "2026-03-08T07:00:00+00:00"


def test_a_period_files_an_instant_before_the_sync_hour_under_the_day_before():
    """Sync hour 04:00 Toronto (EDT, UTC-4): a sale at 03:30 on 10 June
    belongs to 9 June, one at 04:00 to 10 June."""
    toronto = ZoneInfo("America/Toronto")
    period = Period.from_dates(date(2026, 6, 9), date(2026, 6, 11), sync_hour=4, tz=toronto)
    assert period.day_of(datetime(2026, 6, 10, 7, 30, tzinfo=UTC)) == date(2026, 6, 9)
    assert period.day_of(datetime(2026, 6, 10, 8, 0, tzinfo=UTC)) == date(2026, 6, 10)
