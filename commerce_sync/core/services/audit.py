"""The audit trail: who changed what, written inside the change's transaction."""

from __future__ import annotations

from typing import Any

from django.db import models

from commerce_sync.core.models import AuditLog, Merchant

SYSTEM = "system"


def operator_actor(username: str) -> str:
    return f"operator:{username}"


def partner_actor(slug: str) -> str:
    return f"partner:{slug}"


def audit_log_write(
    *,
    actor: str,
    action: str,
    obj: models.Model | None,
    merchant: Merchant | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditLog:
    """Record `action` (e.g. "merchant.create") on `obj`.

    The merchant is taken from `obj` when not given, so per-merchant history
    finds rows about its connections and configuration too. Never put secrets
    in `changes`.
    """
    merchant_id = None
    if merchant is not None:
        merchant_id = merchant.pk
    elif isinstance(obj, Merchant):
        merchant_id = obj.pk
    elif obj is not None:
        merchant_id = getattr(obj, "merchant_id", None)
    return AuditLog.objects.create(
        actor=actor,
        action=action,
        merchant_id=merchant_id,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        changes=changes or {},
    )
