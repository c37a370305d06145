from __future__ import annotations

from django.db import models, transaction
from django.db.models.functions import Cast

from commerce_sync.core.models import Connection
from commerce_sync.core.services.audit import SYSTEM, audit_log_write
from connectors.credentials import reencrypt


def credential_rotate(*, actor: str = SYSTEM) -> int:
    """Re-encrypt every connection's credentials with the newest key.

    Works on the raw tokens (no decode/encode of the JSON) and one row at a
    time under a row lock, so a token refresh running concurrently is never
    overwritten with the old secret. Safe to re-run. Returns the row count.
    """
    rotated = 0
    for pk in list(Connection.objects.order_by("pk").values_list("pk", flat=True)):
        with transaction.atomic():
            token = (
                Connection.objects.select_for_update()
                .filter(pk=pk)
                # Cast to plain text so the field's decryption is bypassed.
                .annotate(token=Cast("credentials", output_field=models.TextField()))
                .values_list("token", flat=True)
                .first()
            )
            if token is None:  # deleted meanwhile
                continue
            Connection.objects.filter(pk=pk).update(
                credentials=models.Value(reencrypt(token), output_field=models.TextField())
            )
            rotated += 1
    audit_log_write(actor=actor, action="credentials.rotate", obj=None, changes={"rows": rotated})
    return rotated
