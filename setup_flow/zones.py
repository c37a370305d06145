"""The time zones a merchant chooses from: canonical IANA names only.

`zoneinfo.available_timezones()` also lists aliases kept for old systems
(`localtime`, `posixrules`, `US/Eastern`, `GB`, `Factory`, `EST5EDT` ...).
The IANA database (the pinned `tzdata` package) marks which names are
zones (`Z` lines of `tzdata.zi`) and which are links (`L` lines), and
`zone.tab` names one zone per country region, including those now merged
into another country's (Europe/Oslo); the list is those, by name.
"""

from __future__ import annotations

import importlib.resources
from functools import cache


@cache
def canonical_zones() -> tuple[str, ...]:
    """Sorted canonical IANA zone names (Area/Location) plus Etc/UTC."""
    folder = importlib.resources.files("tzdata") / "zoneinfo"
    names = {"Etc/UTC"}
    for line in (folder / "tzdata.zi").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        zone = len(parts) >= 2 and parts[0] == "Z" and "/" in parts[1]
        if zone and not parts[1].startswith(("Etc/", "SystemV/", "US/")):
            names.add(parts[1])
    for line in (folder / "zone.tab").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            names.add(line.split("\t")[2])
    return tuple(sorted(names))


def zone_choices(current: str) -> list[str]:
    """The zones to offer, with `current` kept (an alias saved earlier stays selectable)."""
    zones = list(canonical_zones())
    if current and current not in zones:
        zones = sorted([*zones, current])
    return zones
