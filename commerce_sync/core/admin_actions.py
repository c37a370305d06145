"""Admin actions shared by the operator's admin and the support portal:
thin callers of the services, reporting the outcome in plain words."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from commerce_sync.core.models import SyncRun
from commerce_sync.errors import ApplicationError
from commerce_sync.syncs.recovery import push_items_retry_failed

if TYPE_CHECKING:
    from commerce_sync.core.admin import ReadOnlyModelAdmin


@admin.action(
    description="Retry the failed push items of the selected runs",
    permissions=["retry"],  # core.retry_syncrun (ReadOnlyModelAdmin.has_retry_permission)
)
def retry_failed_items(
    modeladmin: ReadOnlyModelAdmin, request: HttpRequest, queryset: QuerySet[SyncRun]
) -> None:
    actor = modeladmin.audit_actor(request)  # the portal's: support:<partner>:<user>
    for run in queryset.filter(status=SyncRun.Status.FAILED).select_related("merchant"):
        try:
            run = push_items_retry_failed(run=run, actor=actor)
        except ApplicationError as error:
            modeladmin.message_user(
                request, f"{run.merchant.name}: {error.message}", messages.ERROR
            )
            continue
        failed = run.push_items.filter(status="failed").count()
        level = messages.SUCCESS if run.status == SyncRun.Status.SUCCEEDED else messages.WARNING
        modeladmin.message_user(
            request,
            f"{run.merchant.name}, run {run.pk}: {run.status} ({run.status_code}), {failed} item(s) still failed",
            level,
        )
