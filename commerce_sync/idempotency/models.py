from django.db import models
from django.utils import timezone

from commerce_sync.core.models import Partner
from connectors.credentials import EncryptedJSONField


class IdempotencyKey(models.Model):
    """One `Idempotency-Key` a partner sent with a POST: the request's
    fingerprint and, once answered, the answer to replay. `status_code` is
    null while the first request is still being handled."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # sha256 hex of method, path and body
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # Encrypted like connection credentials: an answer may hold a secret shown
    # once (a webhook's signing secret), replayed to the same key only.
    response_body = EncryptedJSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "key"], name="idempotency_key_unique_per_partner"
            ),
        ]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code or 'in progress'})"
