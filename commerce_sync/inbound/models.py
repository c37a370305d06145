"""Commerce records a partner pushed to us, one row per record and kind.

The row holds the latest version received (by `modifiedDate`); the sync
reads these rows like any other source and keeps its own copy of what it
posted, so replacing a payload here is how an edit reaches the books.
"""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from commerce_sync.core.models import Merchant


class PushedRecord(models.Model):
    class Kind(models.TextChoices):
        ORDER = "order", "Order"
        TRANSACTION = "transaction", "Transaction"
        LOCATION = "location", "Location"
        PRODUCT = "product", "Product"
        PRODUCT_CATEGORY = "productCategory", "Product category"
        TAX_COMPONENT = "taxComponent", "Tax component"
        PAYMENT_METHOD = "paymentMethod", "Payment method"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="pushed_records")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    source_id = models.CharField(max_length=200)
    created_date = models.DateTimeField(null=True, blank=True)  # reference data has none
    modified_date = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    received_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Created by `connectors.partner`'s first migration, where these rows
        # lived before; the name stays so existing databases keep them.
        db_table = "partner_pushedrecord"
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "kind", "source_id"], name="partner_pushedrecord_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "kind", "created_date"]),
            models.Index(fields=["merchant", "kind", "updated_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.source_id}"
