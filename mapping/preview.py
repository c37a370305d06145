"""The dry run behind `manage.py preview_sync`: a scenario document in, the
documents a sync would post out. Pure: the command only reads and prints.

Beyond the shared scenario format, the input may carry what a real sync
knows from earlier runs, each a `commerce`-shaped object:

* `previouslyPosted`: records posted by an earlier run; those sent again
  unchanged post nothing, changed ones post the difference (adjustments);
* `late`: records whose day was posted before they arrived; posted on the
  period's last day, flagged `late` (an order whose payments settled after
  it waited comes back this way);
* `history`: records of earlier periods, stored but not posted again; fees,
  fee refunds and payouts of this period that name their payments or orders
  are resolved against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from mapping.canonical import CommerceData, Order, Transaction
from mapping.config import parse_configuration
from mapping.engine import Edit, MappingResult, map_period, payment_index
from mapping.errors import Issue, MappingError, refuse, shown
from mapping.fields import BadField
from mapping.parsing import parse_commerce
from mapping.periods import Period, local_instant, zone


def _period(spec: Any, sync_hour: int, tz_name: str) -> Period:
    tz = zone(tz_name)
    if not isinstance(spec, Mapping) or "start" not in spec or "end" not in spec:
        raise refuse("InvalidPeriod", "period must be an object with start and end")
    bounds = []
    for name in ("start", "end"):
        value = spec[name]
        if not isinstance(value, str):
            raise refuse("InvalidPeriod", f"period.{name} must be a date or date-time string")
        try:
            if len(value) == 10:
                bounds.append(local_instant(date.fromisoformat(value), sync_hour, tz))
            else:
                parsed = datetime.fromisoformat(value)
                bounds.append(
                    (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).astimezone(UTC)
                )
        except (ValueError, OverflowError):
            raise refuse(
                "InvalidPeriod",
                f"period.{name} {shown(value)} is not an ISO 8601 date or date-time in range",
            ) from None
    if bounds[1] <= bounds[0]:
        raise refuse("InvalidPeriod", "period.end must be after period.start")
    return Period(bounds[0], bounds[1], sync_hour, tz)


def _schedule(scenario: Mapping[str, Any]) -> tuple[int, str]:
    schedule = scenario.get("schedule") or {}
    if not isinstance(schedule, Mapping):
        raise refuse("InvalidSchedule", "schedule must be an object")
    hour = schedule.get("syncHour", 0)
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        raise refuse(
            "InvalidSchedule", f"schedule.syncHour must be an hour from 0 to 23, got {shown(hour)}"
        )
    tz_name = scenario.get("timeZone") or schedule.get("timeZone")
    if not isinstance(tz_name, str):
        raise refuse("InvalidTimeZone", "timeZone is missing: give the merchant's IANA time zone")
    return hour, tz_name


def _split_edits(data: CommerceData, previous: CommerceData) -> tuple[list[Edit], int]:
    """Pull records that were posted before out of the normal flow; the ones
    that changed become edits. Returns the edits and how many were unchanged."""
    edits: list[Edit] = []
    unchanged = 0
    for attr in ("orders", "transactions"):
        before = {r.id: r for r in getattr(previous, attr)}
        kept = []
        for record in getattr(data, attr):
            old = before.get(record.id)
            if old is None:
                kept.append(record)
            elif old == record:
                unchanged += 1
            else:
                edits.append(Edit(old, record))
        setattr(data, attr, kept)
    return edits, unchanged


def preview(scenario: Any) -> MappingResult:
    """Map one scenario; every refusal comes back as errors, never raised."""
    try:
        if not isinstance(scenario, Mapping):
            raise refuse("InvalidInput", "The input must be a JSON object")
        hour, tz_name = _schedule(scenario)
        tz = zone(tz_name)
        period = _period(scenario.get("period"), hour, tz_name)
        config = parse_configuration(scenario.get("configuration"))
        data = parse_commerce(scenario.get("commerce") or {}, tz)
        edits: list[Edit] = []
        warnings: list[Issue] = []
        # Fees name their payment: know every payment, posted before or not.
        payment_types = payment_index(data.orders)
        if scenario.get("previouslyPosted"):
            previous = parse_commerce(scenario["previouslyPosted"], tz)
            payment_types = payment_index(previous.orders) | payment_types
            edits, unchanged = _split_edits(data, previous)
            if unchanged:
                warnings.append(
                    Issue(
                        "AlreadyPosted",
                        f"{unchanged} record(s) were posted before and are unchanged",
                    )
                )
        if scenario.get("history"):
            # Records of earlier periods, as a sync keeps them: they are not
            # posted, but a fee or payout of this period may name them.
            history = parse_commerce(scenario["history"], tz)
            payment_types = payment_index(history.orders) | payment_types
        late_data = parse_commerce(scenario.get("late") or {}, tz)
        late: list[Order | Transaction] = [*late_data.orders, *late_data.transactions]
        prefix = str(scenario.get("merchantId") or "preview")
        result = map_period(
            data,
            config,
            period,
            key_prefix=prefix,
            late=late,
            edits=edits,
            payment_types=payment_types,
        )
        result.warnings[:0] = warnings
        return result
    except MappingError as error:
        return MappingResult([], [], error.issues)
    except BadField as bad:  # pragma: no cover - parse errors are wrapped by parse_commerce
        return MappingResult([], [], [Issue("InvalidInput", str(bad))])
