from typing import Any

from django.core.management.base import BaseCommand

from commerce_sync.core.services.credentials import credential_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt all connection credentials with the first key in CREDENTIALS_KEYS. "
        "Run after prepending a new key; remove the old key once it has finished."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = credential_rotate()
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted credentials of {count} connection(s)."))
