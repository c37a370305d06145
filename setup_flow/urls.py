from django.urls import path

from setup_flow import views

app_name = "setup_flow"

urlpatterns = [
    path("", views.index, name="index"),
    path("start/<str:code>", views.start, name="start"),
    path("language", views.language, name="language"),
    path("brand.css", views.brand_css, name="brand_css"),
    path("stage/<str:name>", views.stage, name="stage"),
    path("suggest", views.suggest, name="suggest"),
    path("locations", views.locations, name="locations"),
    path("accounts/new", views.account_new, name="account_new"),
    path("invite", views.invite, name="invite"),
    path("invited/done", views.invited_done, name="invited_done"),
    path("review", views.review, name="review"),
    path("preview", views.preview, name="preview"),
    path("finish", views.finish, name="finish"),
    path("done", views.done, name="done"),
    path("settings", views.settings_page, name="settings"),
    path("alerts/<str:token>", views.alert_settings, name="alert_settings"),
    path("connect/<str:connection_id>", views.oauth_start, name="oauth_start"),
    path("reconnect/<str:connection_id>", views.reconnect, name="reconnect"),
    path("shop/<str:connection_id>", views.shopify_shop, name="shopify_shop"),
    path("clover-region/<str:connection_id>", views.clover_region, name="clover_region"),
    path("sumup-code/<str:connection_id>", views.sumup_code, name="sumup_code"),
    path(
        "freeagent-transit/<str:connection_id>", views.freeagent_transit, name="freeagent_transit"
    ),
    path("oauth/callback", views.oauth_callback, name="oauth_callback"),
    path("organisation", views.organisation, name="organisation"),
]
