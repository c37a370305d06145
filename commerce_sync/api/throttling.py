"""Rate limits per partner, shared by every web process through Django's
cache (settings.CACHES: Redis, or the database table).

`PartnerRateThrottle` counts every request of a partner against
`PARTNER_API_RATE` (e.g. "600/min"); `PartnerSyncRateThrottle` counts sync
requests against the stricter `PARTNER_API_SYNC_RATE`. Over the limit DRF
raises `Throttled`, answered as a 429 `ErrorMessage` with `Retry-After`
(commerce_sync/api/errors.py). The count is a sliding window kept under one
cache key per partner and scope; two processes racing may let a request or
two more through, never fewer.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class PartnerRateThrottle(SimpleRateThrottle):
    scope = "partner"
    rate_setting = "PARTNER_API_RATE"

    def get_rate(self) -> str | None:
        """The rate from settings, read per request (so it can be changed)."""
        return getattr(settings, self.rate_setting, None)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        partner = getattr(request.user, "partner", None)
        if partner is None:  # unauthenticated: refused before any work anyway
            return None
        return f"throttle:{self.scope}:{partner.pk}"


class PartnerSyncRateThrottle(PartnerRateThrottle):
    scope = "partner-sync"
    rate_setting = "PARTNER_API_SYNC_RATE"
