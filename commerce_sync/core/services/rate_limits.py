"""Rate limits shared by every process: the generic cell rate algorithm
(GCRA), one stored number per limit.

A limit of N per P seconds lets a client send up to N requests at once, and
then one every P/N seconds: over any span of time t it is allowed at most
N + t*N/P requests, so its sustained rate never exceeds N per P. The state
is the limit's theoretical arrival time (TAT); a request at `now` is allowed
when max(TAT, now) + P/N <= now + P, and then moves the TAT there; when
refused, `retry_after` is how long until it would be allowed.

Where it is counted (`settings.RATE_LIMIT_REDIS_URL`):

* a Redis URL: one Lua script per request (one round trip, atomic in
  Redis, the time taken from Redis's clock so every process agrees); the
  key expires once the TAT has passed. If Redis cannot be reached the
  request is allowed and a warning logged: the limit protects the service,
  it is not a permission.
* empty: the database, one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`
  per request on `RateLimitBucket` (atomic under concurrent processes: the
  row is locked for the statement), a second read only when refused. The
  time is this machine's clock.

Both are exact across processes: two requests racing cannot both take the
last slot.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection

from commerce_sync.core.models import RateLimitBucket

log = logging.getLogger(__name__)

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_PERIODS |= {"h": 3600, "hour": 3600, "d": 86400, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$")


@dataclass(frozen=True)
class Rate:
    limit: int  # requests ...
    period: float  # ... per this many seconds


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float  # seconds until a request would be allowed; 0 when allowed


@cache
def rate_parse(text: str) -> Rate:
    """`"600/min"` -> Rate(600, 60.0). Units: s, sec, second, m, min, minute,
    h, hour, d, day (plural or not). Raises ValueError naming the text."""
    match = _RATE.match(text.lower())
    unit = match.group(2).removesuffix("s") if match else ""
    if match is None or int(match.group(1)) < 1 or (unit or "s") not in _PERIODS:
        raise ValueError(f"{text!r} is not a rate: write N/s, N/min, N/hour or N/day with N >= 1")
    return Rate(int(match.group(1)), float(_PERIODS[unit or "s"]))


def rate_limit_take(*, key: str, rate: Rate) -> Decision:
    """Count one request against `key` (e.g. `partner:42`) limited to `rate`."""
    url = settings.RATE_LIMIT_REDIS_URL
    if url:
        return _redis_take(url, key, rate)
    return _database_take(key, rate)


def rate_limit_peek(*, key: str, rate: Rate) -> Decision:
    """Whether one more request against `key` would be allowed under `rate`,
    counting nothing (e.g. to refuse an address that spent its budget of
    failed API keys before its next key is even looked up). Redis when
    RATE_LIMIT_REDIS_URL is set (unreachable: allowed, as `rate_limit_take`),
    else the database."""
    tat: float | None
    now = time.time()
    url = settings.RATE_LIMIT_REDIS_URL
    if url:
        import redis

        try:
            client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
            stored, (seconds, micros) = client.get(f"commerce-sync:rate:{key}"), client.time()
        except redis.RedisError as error:
            log.warning("rate limit not read: Redis unavailable (%s)", error)
            return Decision(True, 0.0)
        now = seconds + micros / 1_000_000
        tat = float(stored) if stored is not None else None
    else:
        tat = RateLimitBucket.objects.filter(key=key).values_list("tat", flat=True).first()
    interval = rate.period / rate.limit
    wait = max(tat or now, now) + interval - rate.period - now
    return Decision(wait <= 0, max(0.0, wait))


# --- Redis ------------------------------------------------------------------------

# KEYS[1]: the limit's key; ARGV: interval (P/N), period P, in seconds.
# Returns {1, "0"} allowed or {0, "<retry after>"}; floats travel as strings
# (Redis would truncate a Lua number to an integer).
_GCRA_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat > now + period then
  return {0, tostring(new_tat - period - now)}
end
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', math.ceil((new_tat - now) * 1000))
return {1, '0'}
"""


@cache
def _redis_script(url: str) -> Any:
    import redis  # only needed when configured

    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    return client.register_script(_GCRA_LUA)


def _redis_take(url: str, key: str, rate: Rate) -> Decision:
    import redis

    try:
        allowed, retry = _redis_script(url)(
            keys=[f"commerce-sync:rate:{key}"], args=[rate.period / rate.limit, rate.period]
        )
    except redis.RedisError as error:
        log.warning("rate limit not counted: Redis unavailable (%s)", error)
        return Decision(True, 0.0)
    return Decision(bool(allowed), 0.0 if allowed else float(retry))


# --- Database ---------------------------------------------------------------------

_TABLE = RateLimitBucket._meta.db_table
# Portable (PostgreSQL, SQLite >= 3.35): no GREATEST, no server-side clock.
_UPSERT = f"""
INSERT INTO {_TABLE} (key, tat) VALUES (%(key)s, %(now)s + %(interval)s)
ON CONFLICT (key) DO UPDATE
SET tat = (CASE WHEN {_TABLE}.tat > %(now)s THEN {_TABLE}.tat ELSE %(now)s END) + %(interval)s
WHERE (CASE WHEN {_TABLE}.tat > %(now)s THEN {_TABLE}.tat ELSE %(now)s END) + %(interval)s
      <= %(now)s + %(period)s
RETURNING tat
"""  # noqa: S608 - the table name is ours


def _database_take(key: str, rate: Rate) -> Decision:
    now = time.time()
    interval = rate.period / rate.limit
    params = {"key": key, "now": now, "interval": interval, "period": rate.period}
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT, params)
        if cursor.fetchone() is not None:
            return Decision(True, 0.0)
        cursor.execute(f"SELECT tat FROM {_TABLE} WHERE key = %s", [key])  # noqa: S608
        row = cursor.fetchone()
    tat = row[0] if row else now
    return Decision(False, max(0.0, max(tat, now) + interval - rate.period - now))


def retry_after_header(decision: Decision) -> int:
    """Whole seconds for a `Retry-After` header (at least 1)."""
    return max(1, math.ceil(decision.retry_after))
