"""The page django-axes answers with when a username is locked out of the
portal's (or the operator admin's) login: a page in the admin's style, HTTP
429, saying why, for how long and what to do (settings.AXES_LOCKOUT_CALLABLE).

django-axes calls it as `(request, original_response, credentials)`; its
context facts (failure limit, cool-off) come from the same settings axes
reads (AXES_FAILURE_LIMIT, AXES_COOLOFF_TIME)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

LOCKOUT_STATUS = 429


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """The lockout page (status 429, rendered at once): the site whose login
    was refused (the portal under /portal/, else the operator admin) gives
    the header and links; the text gives the failure limit, the minutes to
    wait, and who can unlock the account sooner."""
    from portal.sites import portal_site  # the site imports views; keep this module light

    site = portal_site if request.path.startswith("/portal/") else admin.site
    cool_off = settings.AXES_COOLOFF_TIME
    minutes = int(cool_off.total_seconds() // 60) if isinstance(cool_off, timedelta) else None
    username = ""
    if credentials:
        username = str(credentials.get("username", ""))
    elif request.method == "POST":
        username = request.POST.get("username", "")
    context = {
        **site.each_context(request),
        "title": "Sign-in locked",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": minutes,
        "username": username[:150],
        "login_url": f"/{'portal' if site is portal_site else 'admin'}/login/",
    }
    response = TemplateResponse(request, "portal/lockout.html", context, status=LOCKOUT_STATUS)
    if minutes:
        response["Retry-After"] = str(minutes * 60)
    return response.render()
