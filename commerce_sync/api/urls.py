"""The partner API, mounted at /api/v1/ with Codat's Sync for Commerce paths
below it (so a Codat client's server URL becomes https://<host>/api/v1).
Each area has its own module of views and adds its routes here."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from commerce_sync.api import companies, connections, integrations, sync_flow, syncs
from commerce_sync.api.configuration import ConfigurationView
from commerce_sync.api.errors import api_not_found
from commerce_sync.api.push import PushRecordsView
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
    # Companies, connections, integrations and the sync flow (api-companies).
    path("companies", companies.CompaniesView.as_view(), name="companies"),
    path("companies/<str:company_id>", companies.CompanyView.as_view(), name="company"),
    path(
        "companies/<str:company_id>/connections",
        connections.ConnectionsView.as_view(),
        name="connections",
    ),
    path(
        "companies/<str:company_id>/connections/<str:connection_id>",
        connections.ConnectionView.as_view(),
        name="connection",
    ),
    path(
        "companies/<str:company_id>/connections/<str:connection_id>/authorization",
        connections.ConnectionAuthorizationView.as_view(),
        name="connection-authorization",
    ),
    path("config/integrations", integrations.IntegrationsView.as_view(), name="integrations"),
    path(
        "config/integrations/<str:platform_key>/branding",
        integrations.IntegrationBrandingView.as_view(),
        name="integration-branding",
    ),
    path(
        "config/sync/commerce/<str:commerce_key>/<str:accounting_key>/start",
        sync_flow.SyncFlowStartView.as_view(),
        name="sync-flow-start",
    ),
    path(
        "sync/commerce/config/ui/text", sync_flow.SyncFlowTextView.as_view(), name="sync-flow-text"
    ),
    path(
        "clients/<str:client_id>/config/ui/accounts/platform/<str:platform_key>",
        sync_flow.VisibleAccountsView.as_view(),
        name="visible-accounts",
    ),
    path(
        "sync/commerce/config/ui/accounts/platform/<str:platform_key>",
        sync_flow.VisibleAccountsUpdateView.as_view(),
        name="visible-accounts-update",
    ),
]

# Configuration and syncs (commerce_sync/api/configuration.py, commerce_sync/api/syncs.py).
urlpatterns += [
    path(
        "config/companies/<str:companyId>/sync/commerce",
        ConfigurationView.as_view(),
        name="configuration",
    ),
    path(
        "companies/<str:companyId>/sync/commerce/latest",
        syncs.RequestSyncView.as_view(),
        name="request-sync",
    ),
    path(
        "meta/companies/<str:companyId>/sync/commerce/historic",
        syncs.RequestSyncForDateRangeView.as_view(),
        name="request-sync-for-date-range",
    ),
    path(
        "meta/companies/<str:companyId>/sync/commerce/status",
        syncs.SyncStatusView.as_view(),
        name="sync-status",
    ),
    path(
        "companies/<str:companyId>/sync/commerce/syncs/lastSuccessful/status",
        syncs.LastSuccessfulSyncView.as_view(),
        name="last-successful-sync",
    ),
    path(
        "companies/<str:companyId>/sync/commerce/syncs/latest/status",
        syncs.LatestSyncView.as_view(),
        name="latest-sync",
    ),
    path(
        "companies/<str:companyId>/sync/commerce/syncs/list/status",
        syncs.ListSyncsView.as_view(),
        name="list-syncs",
    ),
    path(
        "companies/<str:companyId>/sync/commerce/syncs/<str:syncId>/status",
        syncs.SyncByIdView.as_view(),
        name="sync-by-id",
    ),
    # Last: anything else under /api/v1/ is a JSON 404, not an HTML page.
    re_path(r"^.*$", api_not_found),
]
