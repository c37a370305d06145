"""Project-level views that belong to no app: the landing page, the
liveness probe and the Prometheus metrics."""

from __future__ import annotations

import hmac
import ipaddress
import os

import prometheus_client
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, multiprocess

from commerce_sync.core.metrics import ProductCollector
from commerce_sync.core.models import Merchant
from commerce_sync.core.services.demo import DEMO_EXTERNAL_ID

_product_registry = CollectorRegistry(auto_describe=False)
_product_registry.register(ProductCollector())


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness probe: the process answers. Deliberately touches no database."""
    return JsonResponse({"status": "ok"})


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    """`/`: what this server offers and where (the admin, the portal, the API
    reference, the demo merchant's setup flow)."""
    demo = (
        Merchant.objects.filter(partner__slug="demo", external_id=DEMO_EXTERNAL_ID)
        .values("name")
        .first()
    )
    return render(request, "commerce_sync/landing.html", {"demo": demo})


def _client_allowed(address: str) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    for allowed in settings.METRICS_ALLOWED_IPS:
        try:
            if client in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            continue
    return False


def _token_valid(request: HttpRequest) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), settings.METRICS_TOKEN.encode()
    )


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics (text exposition format): django-prometheus's
    request and process figures plus the product's (`core/metrics.py`).

    Closed unless configured: with neither `METRICS_TOKEN` nor
    `METRICS_ALLOWED_IPS` set it is a 404. Each one set must pass: the
    bearer token (`Authorization: Bearer <METRICS_TOKEN>`) and/or the client
    address (REMOTE_ADDR, the proxy's address behind one) inside one of the
    allowed addresses or networks; otherwise 403."""
    if not settings.METRICS_TOKEN and not settings.METRICS_ALLOWED_IPS:
        raise Http404("Metrics are not enabled")
    if settings.METRICS_TOKEN and not _token_valid(request):
        return HttpResponse("Forbidden: send Authorization: Bearer <METRICS_TOKEN>\n", status=403)
    if settings.METRICS_ALLOWED_IPS and not _client_allowed(request.META.get("REMOTE_ADDR", "")):
        return HttpResponse("Forbidden: this address may not read the metrics\n", status=403)
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:  # several processes on this machine
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = prometheus_client.REGISTRY
    body = prometheus_client.generate_latest(registry) + prometheus_client.generate_latest(
        _product_registry
    )
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)
