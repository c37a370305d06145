from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "commerce_sync.webhooks"
    label = "webhooks"
    verbose_name = "Partner webhooks"
    default_auto_field = "django.db.models.BigAutoField"
