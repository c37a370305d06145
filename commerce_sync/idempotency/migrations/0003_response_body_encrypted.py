import connectors.credentials
from django.db import migrations


class Migration(migrations.Migration):
    """Stored answers become encrypted. Keys live 24 hours, so the old column
    is dropped rather than converted: a key in flight is simply forgotten."""

    dependencies = [("idempotency", "0002_cache_table")]

    operations = [
        migrations.RemoveField(model_name="idempotencykey", name="response_body"),
        migrations.AddField(
            model_name="idempotencykey",
            name="response_body",
            field=connectors.credentials.EncryptedJSONField(blank=True, null=True),
        ),
    ]
