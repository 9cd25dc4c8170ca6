"""Django admin for the work: cutouts, batch jobs and their items, webhook deliveries.

Read-only lists with filters and search, for operators looking into what failed and why. Nothing
is edited or deleted here (files and credits have their services); the two actions call services:
re-run a failed batch item (:func:`cutout.jobs.services.job_item_rerun`) and retry a failed
webhook delivery (:func:`cutout.webhooks.services.delivery_retry`). Changelists load their foreign
keys with ``list_select_related``, so a page costs the same queries however many rows it shows.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from cutout.jobs import services as jobs
from cutout.models import Cutout, Job, JobItem, WebhookDelivery, WebhookEndpoint
from cutout.webhooks import services as webhooks


class ReadOnlyAdmin(admin.ModelAdmin):
    """Lists and detail pages to look at; no add, change or delete."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_operate_permission(self, request: HttpRequest) -> bool:
        """May run this page's actions: staff with the model's change permission."""
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


def _report(
    admin_page: admin.ModelAdmin, request: HttpRequest, done: int, total: int, what: str
) -> None:
    skipped = total - done
    text = f"{done} {what} queued again."
    if skipped:
        text += f" {skipped} skipped (not failed, or nothing left to retry)."
    admin_page.message_user(request, text, messages.SUCCESS if done else messages.WARNING)


@admin.register(Cutout)
class CutoutAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "workspace",
        "status",
        "pipeline",
        "source",
        "dialect",
        "error_code",
        "credits_charged",
        "processing_ms",
        "created_at",
    )
    list_filter = ("status", "pipeline", "source", "dialect", "error_code", "created_at")
    search_fields = ("=id", "workspace__name", "workspace__slug", "input_name", "=input_sha256")
    list_select_related = ("workspace",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    exclude = ("idempotency_key",)


class JobItemInline(admin.TabularInline):
    model = JobItem
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("position", "name", "status", "error_code", "attempts", "finished_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ("id", "workspace", "status", "source", "created_at", "finished_at")
    list_filter = ("status", "source", "created_at")
    search_fields = ("=id", "workspace__name", "workspace__slug")
    list_select_related = ("workspace",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    exclude = ("idempotency_key",)
    inlines = (JobItemInline,)


@admin.register(JobItem)
class JobItemAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "job",
        "workspace",
        "status",
        "error_code",
        "attempts",
        "started_at",
        "finished_at",
    )
    list_filter = ("status", "error_code", "finished_at")
    search_fields = ("=id", "=job__id", "name", "job__workspace__name", "error_code")
    list_select_related = ("job", "job__workspace")
    show_full_result_count = False
    actions = ("rerun_failed",)

    @admin.display(description="Workspace", ordering="job__workspace__name")
    def workspace(self, item: JobItem) -> str:
        return str(item.job.workspace)

    @admin.action(description="Run the selected failed items again", permissions=("operate",))
    def rerun_failed(self, request: HttpRequest, queryset: QuerySet[JobItem]) -> None:
        ids = list(queryset.values_list("id", flat=True))
        done = sum(jobs.job_item_rerun(item_id=item_id) for item_id in ids)
        _report(self, request, done, len(ids), "item(s)")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "event",
        "endpoint",
        "workspace",
        "status",
        "attempts",
        "response_status",
        "error",
        "created_at",
        "last_attempt_at",
    )
    list_filter = ("status", "event", "response_status", "created_at")
    search_fields = ("=id", "endpoint__url", "workspace__name", "=job__id")
    list_select_related = ("endpoint", "workspace")
    date_hierarchy = "created_at"
    show_full_result_count = False
    exclude = ("dedup_key",)
    actions = ("retry_failed",)

    @admin.action(description="Retry the selected failed deliveries", permissions=("operate",))
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        ids = list(queryset.values_list("id", flat=True))
        done = sum(webhooks.delivery_retry(delivery_id=delivery_id) for delivery_id in ids)
        _report(self, request, done, len(ids), "deliveries")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ("url", "workspace", "is_active", "description", "created_at")
    list_filter = ("is_active", "created_at")
    search_fields = ("url", "workspace__name", "description")
    list_select_related = ("workspace",)
    exclude = ("secret",)  # it signs payloads: shown only to the workspace's managers
