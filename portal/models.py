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

    class Meta:
        verbose_name = "support user"

    def __str__(self) -> str:
        return f"{self.user} ({self.partner}, {self.role})"
