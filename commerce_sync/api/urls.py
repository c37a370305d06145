"""The partner API, mounted at /api/v1/ with Codat's Sync for Commerce paths
below it (so a Codat client's server URL becomes https://<host>/api/v1).
Each area has its own module of views and adds its routes here."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView
from rest_framework.permissions import AllowAny

from commerce_sync.api import syncs
from commerce_sync.api.configuration import ConfigurationView
from commerce_sync.api.views import PushRecordsView

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
        SpectacularRedocView.as_view(
            url_name="api:schema", authentication_classes=[], permission_classes=[AllowAny]
        ),
        name="docs",
    ),
    path(
        "companies/<str:merchant_id>/push/<str:data_type>",
        PushRecordsView.as_view(),
        name="push-records",
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
]
