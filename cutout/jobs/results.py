"""The results ZIP of a finished job: every result, named after its input, and a manifest."""

from __future__ import annotations

import csv
import io
import posixpath
import tempfile
import zipfile

from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from cutout.files import storage
from cutout.jobs.intake import READ_CHUNK
from cutout.models import Job, JobItem
from cutout.spreadsheet import safe_row


def _arcname(name: str, extension: str, used: set[str]) -> str:
    stem = posixpath.splitext(name)[0] or "image"
    candidate = f"{stem}{extension}"
    counter = 2
    while candidate.lower() in used:
        candidate = f"{stem}-{counter}{extension}"
        counter += 1
    used.add(candidate.lower())
    return candidate


def job_results_zip_write(*, job: Job) -> str:
    """Write ``results.zip`` (every result, named after its input, plus ``manifest.csv``)."""
    items = list(JobItem.objects.filter(job=job).select_related("cutout").order_by("position"))
    used: set[str] = {"manifest.csv"}
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(["position", "input", "status", "result", "error_code", "error_message"])
    with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as spool:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for item in items:
                result = ""
                cutout = item.cutout
                if item.status == JobItem.Status.DONE and cutout is not None and cutout.result:
                    extension = posixpath.splitext(str(cutout.result.name))[1] or ".png"
                    result = _arcname(item.name, extension, used)
                    info = zipfile.ZipInfo(result, date_time=_zip_time(item))
                    info.compress_type = zipfile.ZIP_STORED
                    with (
                        default_storage.open(str(cutout.result.name), "rb") as source,
                        zf.open(info, "w", force_zip64=True) as target,
                    ):
                        while chunk := source.read(READ_CHUNK):
                            target.write(chunk)
                writer.writerow(  # names and messages are text, never formulas
                    safe_row(
                        [
                            item.position + 1,
                            item.name,
                            item.status,
                            result,
                            item.error_code,
                            item.error_message,
                        ]
                    )
                )
            zf.writestr("manifest.csv", manifest.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
        spool.seek(0)
        previous = job.result_zip.name
        job.result_zip.save("results.zip", File(spool), save=False)
        if previous and previous != job.result_zip.name:
            storage.storage_delete_quietly(previous)
    return str(job.result_zip.name)


def _zip_time(item: JobItem) -> tuple[int, int, int, int, int, int]:
    moment = timezone.localtime(item.finished_at or timezone.now())
    return (
        max(moment.year, 1980),
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
    )
