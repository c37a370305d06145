"""`{% load portal_time %}` `{{ value|when }}`: an aware datetime in the
portal's active time zone (the support user's, else settings.TIME_ZONE; see
`portal.sites.PortalSite.admin_view`), labelled with the zone's IANA name,
e.g. "2026-11-30 05:00 Europe/Paris"; "-" for None."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone

register = template.Library()


def when_text(value: Any) -> str:
    """The text of `when` (usable outside templates: admin columns)."""
    if value is None or value == "":
        return "-"
    if not isinstance(value, datetime):
        return str(value)
    zone = timezone.get_current_timezone()
    local = timezone.localtime(value, zone) if timezone.is_aware(value) else value
    return f"{local:%Y-%m-%d %H:%M} {getattr(zone, 'key', None) or timezone.get_current_timezone_name()}"


@register.filter
def when(value: Any) -> str:
    """See the module docstring."""
    return when_text(value)
