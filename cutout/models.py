"""Cutouts, batch jobs and their items.

Files live in the default storage (local disk or S3) under keys namespaced by workspace:
``ws/<workspace id>/cutouts/<cutout id>/<kind>.<ext>``. They are served only through signed,
expiring URLs after a permission check, never from a public bucket.
"""

from __future__ import annotations

import posixpath
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import ApiKey, Workspace


def _cutout_path(instance: Cutout, filename: str) -> str:
    return f"ws/{instance.workspace_id}/cutouts/{instance.id}/{filename}"


def _version_path(instance: CutoutVersion, filename: str) -> str:
    return f"ws/{instance.cutout.workspace_id}/cutouts/{instance.cutout_id}/{filename}"


def _job_path(instance: Job, filename: str) -> str:
    return f"ws/{instance.workspace_id}/jobs/{instance.id}/{filename}"


def _job_item_path(instance: JobItem, filename: str) -> str:
    return f"ws/{instance.job.workspace_id}/jobs/{instance.job_id}/inputs/{instance.id}-{filename}"


class Source(models.TextChoices):
    WEB = "web", "Web app"
    API = "api", "API"
    BATCH = "batch", "Batch job"
    CLI = "cli", "Command line"


class Cutout(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="cutouts")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="cutouts"
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.WEB)
    dialect = models.CharField(max_length=20, blank=True, help_text="API dialect that asked for it")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)

    options = models.JSONField(
        default=dict, help_text="Engine options the result was rendered with"
    )
    pipeline = models.CharField(max_length=20, default="best")
    input_name = models.CharField(max_length=255, blank=True)
    input_sha256 = models.CharField(max_length=64, db_index=True)
    input_bytes = models.PositiveBigIntegerField(default=0)
    dedup_key = models.CharField(max_length=64, db_index=True, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001 (NULL = no key; unique only when set)

    original = models.FileField(upload_to=_cutout_path, max_length=255, blank=True)
    matte = models.FileField(upload_to=_cutout_path, max_length=255, blank=True)
    result = models.FileField(upload_to=_cutout_path, max_length=255, blank=True)
    # Guided refinement (cutouts/refine.py): the models' outputs refining reads (engine.prior),
    # the current hint list ([] = the automatic matte), the current version's number, and until
    # when the original is kept for editing (None with keep_originals: as long as it is kept).
    prior = models.FileField(upload_to=_cutout_path, max_length=255, blank=True)
    hints: models.JSONField[list[Any]] = models.JSONField(default=list, blank=True)
    version = models.PositiveIntegerField(default=0)
    editable_until = models.DateTimeField(null=True, blank=True)
    result_content_type = models.CharField(max_length=40, blank=True)

    width = models.PositiveIntegerField(null=True, blank=True, help_text="Original width")
    height = models.PositiveIntegerField(null=True, blank=True, help_text="Original height")
    result_width = models.PositiveIntegerField(null=True, blank=True)
    result_height = models.PositiveIntegerField(null=True, blank=True)
    metadata: models.JSONField[dict[str, Any]] = models.JSONField(default=dict, blank=True)
    credits_charged = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    processing_ms = models.PositiveIntegerField(null=True, blank=True)
    # Set when a person deletes it from the library: hidden at once, restorable for a short while
    # (cutout.cutouts.services.cutouts_restore), then purged by the retention sweep.
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [
            models.Index(fields=("workspace", "-created_at"), name="cutout_ws_created"),
            models.Index(fields=("workspace", "dedup_key"), name="cutout_ws_dedup"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=("workspace", "idempotency_key"),
                condition=models.Q(idempotency_key__isnull=False),
                name="unique_cutout_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"Cutout {self.id} ({self.status})"

    @property
    def refined(self) -> bool:
        """Whether the current result comes from hints (not the automatic matte)."""
        return bool(self.hints)

    @property
    def thumbnail_name(self) -> str | None:
        """Storage name of the library's WebP thumbnail, kept next to the result (made on first
        view); None without a result."""
        if not self.result:
            return None
        return f"{posixpath.dirname(str(self.result.name))}/thumb.webp"


class CutoutVersion(models.Model):
    """One version of a cutout's matte: the complete hint list a refine call sent and the files
    it gave. Number 0 is the automatic matte (recorded by the first refine); the cutout's own
    ``matte`` / ``result`` are those of its current version, so every reader (downloads,
    re-renders, the batch ZIP) sees the latest."""

    cutout = models.ForeignKey(Cutout, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    hints: models.JSONField[list[Any]] = models.JSONField(default=list, blank=True)
    hints_key = models.CharField(max_length=64, help_text="sha256 of the canonical hint list")
    matte = models.FileField(upload_to=_version_path, max_length=255, blank=True)
    result = models.FileField(upload_to=_version_path, max_length=255, blank=True)
    result_content_type = models.CharField(max_length=40, blank=True)
    result_width = models.PositiveIntegerField(null=True, blank=True)
    result_height = models.PositiveIntegerField(null=True, blank=True)
    options = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    processing_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ("cutout", "number")
        constraints = [
            models.UniqueConstraint(fields=("cutout", "number"), name="unique_cutout_version"),
        ]
        indexes = [models.Index(fields=("cutout", "hints_key"), name="cutout_version_hints")]

    def __str__(self) -> str:
        return f"{self.cutout_id} v{self.number}"


class Job(models.Model):
    """An asynchronous batch of cutouts sharing one set of options."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        WAITING = "waiting", "Waiting for credits"  # nothing left to run but items waiting
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.WEB)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    options = models.JSONField(default=dict)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001 (NULL = no key; unique only when set)
    result_zip = models.FileField(upload_to=_job_path, max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=("workspace", "idempotency_key"),
                condition=models.Q(idempotency_key__isnull=False),
                name="unique_job_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"Job {self.id} ({self.status})"


class JobItem(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        # Not run for want of credits; queued again by cutout.jobs.services.job_resume.
        WAITING = "waiting", "Waiting for credits"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=255)
    input = models.FileField(upload_to=_job_item_path, max_length=255, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    cutout = models.OneToOneField(
        Cutout, null=True, blank=True, on_delete=models.SET_NULL, related_name="job_item"
    )
    attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("job", "position")
        constraints = [
            models.UniqueConstraint(fields=("job", "position"), name="unique_job_item_position"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


def _webhook_secret() -> str:
    import secrets

    return "whsec_" + secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    """Where a workspace wants to hear about finished jobs. Payloads are signed with ``secret``.

    The secret is generated here and shown to the workspace's managers so their receiver can check
    signatures; it signs outgoing payloads, so it is kept (never logged), unlike API keys.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    secret = models.CharField(max_length=100, default=_webhook_secret)
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    # Why deliveries stopped (set when the URL was refused at send time); shown on the page.
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("created_at",)

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one endpoint: the workspace's delivery log."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    event = models.CharField(max_length=40)
    job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_deliveries"
    )
    dedup_key = models.CharField(max_length=200)
    payload: models.JSONField[dict[str, Any]] = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=("endpoint", "dedup_key"), name="unique_webhook_delivery_event"
            ),
        ]
        indexes = [
            models.Index(fields=("workspace", "-created_at"), name="webhook_delivery_ws_created"),
            models.Index(fields=("status", "next_attempt_at"), name="webhook_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint_id} ({self.status})"
