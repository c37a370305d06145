"""Project-level views that belong to no app."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness probe: the process answers. Deliberately touches no database."""
    return JsonResponse({"status": "ok"})
