"""`manage.py retry_failed --run ID`: write a failed run's failed items again."""

from __future__ import annotations

import sys
import uuid

from django.core.management.base import BaseCommand, CommandError

from commerce_sync.core.models import SyncRun
from commerce_sync.core.services.audit import operator_actor
from commerce_sync.errors import ApplicationError
from commerce_sync.syncs.recovery import push_items_retry_failed


class Command(BaseCommand):
    help = "Retry the failed push items of one sync run."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--run", required=True, help="sync run id")

    def handle(self, *args, **options) -> None:
        try:
            run_id = uuid.UUID(options["run"])
        except ValueError:
            raise CommandError(f"{options['run']!r} is not a sync run id (a UUID)") from None
        run = SyncRun.objects.select_related("merchant").filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"No sync run {run_id}")
        try:
            run = push_items_retry_failed(run=run, actor=operator_actor("cli"))
        except ApplicationError as error:
            self.stdout.write(f"{run.merchant.name}: refused ({error.status_code}) {error.message}")
            sys.exit(1)
        failed = run.push_items.filter(status="failed").count()
        self.stdout.write(
            f"{run.merchant.name}: run {run.pk} {run.status} ({run.status_code}), {failed} item(s) still failed"
        )
        if failed:
            sys.exit(1)
