"""Tables the connectors share across workers: the rate limiter's call log."""

from __future__ import annotations

from django.db import models


class RateLimitKey(models.Model):
    """One row per limited key (e.g. "xero:<tenant id>"). Updating it opens
    each acquire: on PostgreSQL that locks the row, on SQLite it takes the
    write lock, so the count-then-record below is atomic on both."""

    key = models.CharField(max_length=200, primary_key=True)
    touched_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.key


class RateLimitCall(models.Model):
    """One call made (or in flight, while `finished_at` is null) under a key.
    Sliding windows are counted from these rows; old rows are pruned."""

    key = models.CharField(max_length=200)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["key", "started_at"], name="connectors_call_key_started")]

    def __str__(self) -> str:
        return f"{self.key} @ {self.started_at:%Y-%m-%d %H:%M:%S}"
