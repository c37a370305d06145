from django.apps import AppConfig


class IdempotencyConfig(AppConfig):
    name = "commerce_sync.idempotency"
    label = "idempotency"
    verbose_name = "API idempotency keys"
    default_auto_field = "django.db.models.BigAutoField"
