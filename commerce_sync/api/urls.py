from django.urls import path

from commerce_sync.api.views import PushRecordsView

app_name = "api"

urlpatterns = [
    path(
        "companies/<str:merchant_id>/push/<str:data_type>",
        PushRecordsView.as_view(),
        name="push-records",
    ),
]
