from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "commerce_sync.core"
    label = "core"
    verbose_name = "Commerce Sync"
    default_auto_field = "django.db.models.BigAutoField"
