from django.apps import AppConfig


class PartnerConfig(AppConfig):
    name = "connectors.partner"
    label = "partner"
    verbose_name = "Partner commerce"
    default_auto_field = "django.db.models.BigAutoField"
