"""Who may see what in the health portal.

Operators are Django superusers and see every partner. Everyone else needs a
`PartnerMembership`: a support agent (or a partner's admin) of exactly one
partner, who sees that partner's merchants and what hangs off them, and
nothing else.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from commerce_sync.core.models import Partner
from commerce_sync.core.validators import validate_time_zone


class PartnerMembership(models.Model):
    class Role(models.TextChoices):
        SUPPORT = "support", "Support agent"
        ADMIN = "admin", "Partner admin (may invite support agents)"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="partner_membership"
    )
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.SUPPORT)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.CharField(max_length=200, blank=True)  # an audit actor string
    # The zone the portal shows this user's times in (IANA); blank: settings.TIME_ZONE.
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="IANA time zone for the times the portal shows (blank: the site's TIME_ZONE).",
    )

    class Meta:
        verbose_name = "support user"

    def __str__(self) -> str:
        return f"{self.user} ({self.partner}, {self.role})"


class SyncRunDailyCount(models.Model):
    """How many of a partner's sync runs created on a UTC `day` are now in
    `status`: the dashboard's per-day chart and success rate read this
    (a few rows per day) instead of counting millions of runs.

    On PostgreSQL it is kept by statement-level triggers on `core_syncrun`
    (migration 0002): every INSERT, UPDATE (a status move, by the state
    machine or a bulk `.update()`), DELETE and TRUNCATE adjusts the counts in
    the same transaction, with `INSERT ... ON CONFLICT DO UPDATE SET n = n +
    delta` (atomic under concurrent writers; rows taken in key order, so
    two writers cannot deadlock on them). The migration backfills it under a
    lock; `manage.py portal_counts_rebuild` recomputes it from the runs and
    reports any drift (run it too after moving a merchant to another
    partner, which no trigger follows). Other databases (SQLite) have no trigger: the
    dashboard counts the runs themselves there (`portal.selectors`)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    status = models.CharField(max_length=20)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "day", "status"], name="portal_syncrundailycount_key"
            ),
        ]
        indexes = [models.Index(fields=["day"], name="portal_syncrundailycount_day")]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.day} {self.status}: {self.n}"
