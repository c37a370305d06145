from django.urls import path

from portal.sites import portal_site

urlpatterns = [
    path("", portal_site.urls),
]
