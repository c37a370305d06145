"""`manage.py setup_schedules`: declare the django-q2 schedules (idempotent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone
from django_q.models import Schedule

from commerce_sync.core.services.alerts import DIGEST_TASK
from commerce_sync.idempotency.tasks import PURGE_TASK
from commerce_sync.syncs.scheduling import DISPATCH_EVERY_MINUTES, DISPATCH_SCHEDULE_NAME

PURGE_SCHEDULE_NAME = "purge idempotency keys"
DIGEST_SCHEDULE_NAME = "daily alert digests"


def _next_digest_run(hour: int) -> datetime:
    """The next `hour`:00 UTC from now."""
    now = timezone.now().astimezone(UTC)
    at = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


class Command(BaseCommand):
    help = "Create or update the schedule that dispatches due syncs every few minutes."

    def handle(self, *args, **options) -> None:
        schedule, created = Schedule.objects.update_or_create(
            name=DISPATCH_SCHEDULE_NAME,
            defaults={
                "func": "commerce_sync.core.tasks.dispatch_due_syncs",
                "schedule_type": Schedule.MINUTES,
                "minutes": DISPATCH_EVERY_MINUTES,
                "repeats": -1,
            },
        )
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} schedule {schedule.name!r}: every {schedule.minutes} minutes")
        purge, created = Schedule.objects.update_or_create(
            name=PURGE_SCHEDULE_NAME,
            defaults={"func": PURGE_TASK, "schedule_type": Schedule.HOURLY, "repeats": -1},
        )
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} schedule {purge.name!r}: hourly")
        hour = settings.ALERT_DIGEST_HOUR
        digest, created = Schedule.objects.update_or_create(
            name=DIGEST_SCHEDULE_NAME,
            defaults={
                "func": DIGEST_TASK,
                "schedule_type": Schedule.DAILY,
                "repeats": -1,
                "next_run": _next_digest_run(hour),
            },
        )
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} schedule {digest.name!r}: daily at {hour:02d}:00 UTC")
