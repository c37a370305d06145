"""Response security headers that vary by page family.

`PagePolicyCSPMiddleware` is django-csp's middleware with one addition: the
directives of `settings.CSP_PREFIX_REPLACE` replace the site-wide ones for
paths under a prefix. Every page gets a Content-Security-Policy; the pages
built on Django's admin (the admin, the portal) may use inline `style`
(their templates and the admin's own do), never inline script; the API's
Swagger UI page, whose bootstrap drf-spectacular renders inline, may run
inline script too. Nothing loads from another origin anywhere.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase


class PagePolicyCSPMiddleware(CSPMiddleware):
    """CSPMiddleware whose policy is replaced per path prefix (the first of
    `settings.CSP_PREFIX_REPLACE` that the path starts with: `{prefix:
    {directive: [sources]}}`) unless the view set its own with django-csp's
    decorators."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if report_only or parts.replace is not None:
            return parts
        for prefix, replace in getattr(settings, "CSP_PREFIX_REPLACE", {}).items():
            if request.path_info.startswith(prefix):
                parts.replace = dict(replace)
                break
        return parts
