from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "commerce_sync.core"
    label = "core"
    verbose_name = "Commerce Sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """A partner or key saved or deleted in this process (revoked through
        the service, the admin, a shell) drops this process's remembered API
        keys at once (`selectors.partner_get_by_api_key_cached`)."""
        from django.db.models.signals import post_delete, post_save

        from commerce_sync.core.models import Partner, PartnerApiKey
        from commerce_sync.core.selectors import api_key_cache_clear

        for model in (Partner, PartnerApiKey):
            for signal in (post_save, post_delete):
                signal.connect(
                    api_key_cache_clear,
                    sender=model,
                    dispatch_uid=f"api-key-cache-{model.__name__}",
                )
