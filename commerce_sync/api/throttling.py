"""Rate limits per partner, shared by every web process
(`commerce_sync.core.services.rate_limits`: Redis when
RATE_LIMIT_REDIS_URL is set, else one upsert in the database).

`PartnerRateThrottle` counts every request of a partner against
`PARTNER_API_RATE` (e.g. "600/min": up to 600 at once, then one every 0.1 s);
`PartnerSyncRateThrottle` counts sync requests against the stricter
`PARTNER_API_SYNC_RATE`. Over the limit DRF raises `Throttled`, answered as
a 429 `ErrorMessage` with `Retry-After` (commerce_sync/api/errors.py).
The rates are read per request, so a settings change applies at once.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from commerce_sync.core.services.rate_limits import (
    Decision,
    rate_limit_take,
    rate_parse,
    retry_after_header,
)


class PartnerRateThrottle(BaseThrottle):
    scope = "partner"
    rate_setting = "PARTNER_API_RATE"

    def allow_request(self, request: Request, view: Any) -> bool:
        partner = getattr(request.user, "partner", None)
        if partner is None:  # unauthenticated: refused before any work anyway
            return True
        self.decision: Decision = rate_limit_take(
            key=f"{self.scope}:{partner.pk}", rate=rate_parse(getattr(settings, self.rate_setting))
        )
        return self.decision.allowed

    def wait(self) -> float | None:
        """Seconds to wait (whole, at least 1) before a request is allowed."""
        return retry_after_header(self.decision)


class PartnerSyncRateThrottle(PartnerRateThrottle):
    scope = "partner-sync"
    rate_setting = "PARTNER_API_SYNC_RATE"
