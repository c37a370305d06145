# PushedRecord moved here from connectors.partner, whose first migration
# created its table: only Django's migration state is created here, so an
# existing database keeps the table partner_pushedrecord and its rows.

import django.core.serializers.json
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("core", "0001_initial"),
        ("partner", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="PushedRecord",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("order", "Order"),
                                    ("transaction", "Transaction"),
                                    ("location", "Location"),
                                    ("product", "Product"),
                                    ("productCategory", "Product category"),
                                    ("taxComponent", "Tax component"),
                                    ("paymentMethod", "Payment method"),
                                ],
                                max_length=20,
                            ),
                        ),
                        ("source_id", models.CharField(max_length=200)),
                        ("created_date", models.DateTimeField(blank=True, null=True)),
                        ("modified_date", models.DateTimeField(blank=True, null=True)),
                        (
                            "payload",
                            models.JSONField(
                                encoder=django.core.serializers.json.DjangoJSONEncoder
                            ),
                        ),
                        (
                            "received_at",
                            models.DateTimeField(default=django.utils.timezone.now, editable=False),
                        ),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "merchant",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="pushed_records",
                                to="core.merchant",
                            ),
                        ),
                    ],
                    options={
                        "indexes": [
                            models.Index(
                                fields=["merchant", "kind", "created_date"],
                                name="partner_pus_merchan_1d8ffe_idx",
                            ),
                            models.Index(
                                fields=["merchant", "kind", "updated_at"],
                                name="partner_pus_merchan_991d28_idx",
                            ),
                        ],
                        "db_table": "partner_pushedrecord",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("merchant", "kind", "source_id"),
                                name="partner_pushedrecord_unique",
                            )
                        ],
                    },
                ),
            ],
        ),
    ]
