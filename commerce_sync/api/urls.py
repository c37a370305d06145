"""The partner API, mounted at /api/v1/ with Codat's Sync for Commerce paths
below it (so a Codat client's server URL becomes https://<host>/api/v1).
Each area has its own module of views and adds its routes here."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from commerce_sync.api.views import PushRecordsView
from commerce_sync.api.webhooks import (
    WebhookDeliveriesView,
    WebhookDetailView,
    WebhookListView,
    WebhookRedeliverView,
    WebhookRotateSecretView,
)

app_name = "api"

urlpatterns = [
    # The description and its reference page are public, like Codat's.
    path(
        "schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[AllowAny]),
        name="schema",
    ),
    path(
        "docs/",
        # Swagger UI from drf-spectacular-sidecar: every asset served by us, no
        # CDN and no web fonts (drf-spectacular's Redoc page loads Google Fonts).
        SpectacularSwaggerView.as_view(
            url_name="api:schema", authentication_classes=[], permission_classes=[AllowAny]
        ),
        name="docs",
    ),
    path(
        "companies/<str:merchant_id>/push/<str:data_type>",
        PushRecordsView.as_view(),
        name="push-records",
    ),
    path("webhooks", WebhookListView.as_view(), name="webhooks"),
    path("webhooks/<str:webhook_id>", WebhookDetailView.as_view(), name="webhook"),
    path(
        "webhooks/<str:webhook_id>/rotate-secret",
        WebhookRotateSecretView.as_view(),
        name="webhook-rotate-secret",
    ),
    path(
        "webhooks/<str:webhook_id>/deliveries",
        WebhookDeliveriesView.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "webhooks/<str:webhook_id>/deliveries/<str:delivery_id>/redeliver",
        WebhookRedeliverView.as_view(),
        name="webhook-redeliver",
    ),
]
