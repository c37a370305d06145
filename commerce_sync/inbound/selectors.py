"""Reads of pushed records, for the push source."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.db.models import Q, QuerySet

from commerce_sync.inbound.models import PushedRecord


def pushed_records_for_period(
    *, merchant_id: UUID, kind: str, start: datetime, end: datetime
) -> QuerySet[PushedRecord]:
    """Records created in [start, end), plus older ones received or edited
    since `start` (late arrivals and edits, which the sync classifies).
    Nothing created at or after `end`: that belongs to the next period."""
    in_period = Q(created_date__gte=start, created_date__lt=end)
    touched = Q(updated_at__gte=start, created_date__lt=end)
    return (
        PushedRecord.objects.filter(merchant_id=merchant_id, kind=kind)
        .filter(in_period | touched)
        .order_by("created_date", "source_id")
    )


def pushed_reference(*, merchant_id: UUID, kind: str) -> QuerySet[PushedRecord]:
    """Every pushed reference record of `kind` (locations, products ...)."""
    return PushedRecord.objects.filter(merchant_id=merchant_id, kind=kind).order_by("source_id")
