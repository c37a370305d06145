"""The database cache's table (settings.CACHES without REDIS_URL): the rate
limits and cached accounting options live there, shared by every process.
`createcachetable` makes it from the settings and skips it when it exists."""

from django.core.management import call_command
from django.db import migrations


def cache_table_create(apps, schema_editor) -> None:
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("idempotency", "0001_idempotency_keys")]

    operations = [migrations.RunPython(cache_table_create, migrations.RunPython.noop)]
