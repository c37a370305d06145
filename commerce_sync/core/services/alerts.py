"""Alerts: the things support must hear about without looking (a merchant
whose grant was revoked, a merchant disabled after a month of failures).

Each alert is kept in the audit trail, logged at error level with the
merchant's id, and mailed to the operators (ALERT_EMAILS) once the change
that raised it has committed. Webhooks to partners come with the partner API.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from commerce_sync.core.models import Merchant
from commerce_sync.core.services.audit import SYSTEM, audit_log_write

log = logging.getLogger(__name__)


def alert_raise(*, merchant: Merchant, code: str, message: str, actor: str = SYSTEM) -> None:
    audit_log_write(actor=actor, action=f"alert.{code}", obj=merchant, changes={"message": message})
    log.error("alert", extra={"merchant": str(merchant.pk), "alert": code, "detail": message})
    recipients = list(settings.ALERT_EMAILS)
    if recipients:
        subject = f"[Commerce Sync] {merchant.name}: {code}"
        transaction.on_commit(
            lambda: send_mail(
                subject, message, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=True
            )
        )
