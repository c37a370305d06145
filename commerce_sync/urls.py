from django.contrib import admin
from django.urls import include, path

from commerce_sync.views import healthz, landing, metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("portal/", include("portal.urls")),
    path("setup/", include("setup_flow.urls")),
    path("", landing, name="landing"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("api/v1/", include("commerce_sync.api.urls")),
]

# Under /setup/ a merchant's 404 is a page of the flow, in its language.
handler404 = "setup_flow.views.not_found"
