from django.urls import path

from setup_flow import views

app_name = "setup_flow"

urlpatterns = [
    path("", views.placeholder, name="index"),
]
