# PushedRecord now belongs to commerce_sync.inbound (the core). Only Django's
# migration state moves: the table partner_pushedrecord and its rows stay.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("partner", "0001_initial"),
        ("inbound", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="PushedRecord")],
            database_operations=[],
        ),
    ]
