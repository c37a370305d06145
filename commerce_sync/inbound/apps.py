from django.apps import AppConfig


class InboundConfig(AppConfig):
    name = "commerce_sync.inbound"
    label = "inbound"
    verbose_name = "Pushed commerce records"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The push source reads our own tables, so it lives here, above the
        # connectors, and joins their registry under its platform key.
        from commerce_sync.inbound.sources import push_source_build
        from connectors import registry

        registry.commerce_source_register("partner-push", push_source_build)
