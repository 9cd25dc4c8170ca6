"""ZIP bombs and oversized batches cannot exhaust memory (issue 17, item 1).

Credits and counts are checked from the central directory before anything is inflated; entries
are then copied one at a time under the per-file and the batch's byte bounds. Memory is measured
with tracemalloc (every Python allocation, zlib's output buffers included): what it shows does
not depend on the machine's speed or load. ``python -m cutout.tools.harden_bench zipbomb``
measures the worker's RSS for the issue's full-size attack.
"""

from __future__ import annotations

import functools
import io
import threading
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.db import connections

from billing.errors import InsufficientCredits
from cutout.jobs import intake
from cutout.jobs.intake import JobInputError
from cutout.jobs.services import job_create
from cutout.models import Job, JobItem
from tests.factories import balance, make_workspace

MB = 1024 * 1024
FAST = {"pipeline": "fast", "mode": "transparent", "format": "png"}


@functools.cache
def bomb(entries: int, entry_bytes: int) -> bytes:
    """A small ZIP of ``entries`` files of zeros, ``entry_bytes`` each once inflated."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for i in range(entries):
            with zf.open(f"img-{i:03d}.png", "w") as entry:
                for _ in range(entry_bytes // MB):
                    entry.write(bytes(MB))
    return out.getvalue()


@pytest.fixture
def inflations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the ZIP entries opened for reading."""
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def counting_open(self: zipfile.ZipFile, name: Any, mode: str = "r", **kw: Any) -> Any:
        if mode == "r":
            opened.append(getattr(name, "filename", name))
        return real_open(self, name, mode, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "open", counting_open)
    return opened


@pytest.mark.django_db
def test_without_credits_nothing_is_inflated(inflations: list[str]) -> None:
    archive = bomb(50, 2 * MB)
    assert len(archive) < 300_000
    workspace = make_workspace(credits=10)
    tracemalloc.start()
    try:
        with pytest.raises(InsufficientCredits) as caught:
            job_create(workspace=workspace, zip_file=archive, options=FAST)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.needed == 50 and caught.value.available == 10
    assert inflations == []  # refused from the central directory alone
    assert peak < 2 * MB, peak
    assert not Job.objects.exists() and balance(workspace) == 10


@pytest.mark.django_db
def test_a_web_upload_of_a_bomb_without_credits_is_a_402(
    client: Any, inflations: list[str]
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import signed_up

    person = signed_up(credits=3)
    client.force_login(person.user)
    upload = SimpleUploadedFile("bomb.zip", bomb(50, 2 * MB), content_type="application/zip")
    response = client.post(
        "/app/upload",
        {"style": "transparent", "format": "png", "size": "full", "image": upload},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 402, response.content
    assert response.json()["error"]["code"] == "no_credits"
    assert inflations == []


@pytest.mark.django_db
def test_entries_declared_too_large_are_never_inflated(settings: Any, inflations) -> None:
    settings.CUTOUT_MAX_UPLOAD_BYTES = 1 * MB
    workspace = make_workspace(credits=10)
    job = job_create(workspace=workspace, zip_file=bomb(3, 2 * MB), options=FAST)
    assert inflations == []
    assert set(job.items.values_list("error_code", flat=True)) == {"image_too_large"}
    assert set(job.items.values_list("status", flat=True)) == {JobItem.Status.FAILED}


@pytest.mark.django_db(transaction=True)
def test_concurrent_bombs_stay_within_a_few_megabytes(settings: Any) -> None:
    """Four batches at once (the web server's threads), each unpacking 20 x 1 MB of zeros:
    holding them would take 80 MB; streaming takes a few spooled megabytes."""
    settings.CUTOUT_MAX_UPLOAD_BYTES = 1 * MB
    archive = bomb(20, 1 * MB)
    workspaces = [make_workspace(credits=20) for _ in range(4)]
    jobs: list[Job] = []
    errors: list[BaseException] = []

    def submit(workspace: Any) -> None:
        try:
            jobs.append(job_create(workspace=workspace, zip_file=archive, options=FAST))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    tracemalloc.start()
    try:
        threads = [threading.Thread(target=submit, args=(w,)) for w in workspaces]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not errors, errors
    assert len(jobs) == 4
    # Holding the batches would peak near 80 MB; streaming peaks at 11-18 MB across runs (spools,
    # the upload threads, storage clients), so the bound sits well between the two.
    assert peak < 32 * MB, f"peak {peak / MB:.1f} MB"
    for job in jobs:
        items = list(job.items.order_by("position"))
        assert len(items) == 20 and {i.status for i in items} == {JobItem.Status.QUEUED}
        assert default_storage.size(str(items[0].input.name)) == 1 * MB


@pytest.mark.django_db
def test_unpacked_bytes_are_counted_whatever_the_sizes_say(settings: Any) -> None:
    """File objects of unknown size: the batch budget stops the copy, nothing is kept."""
    settings.CUTOUT_BATCH_MAX_BYTES = 3 * MB
    settings.CUTOUT_MAX_UPLOAD_BYTES = 2 * MB

    class Unsized(io.BytesIO):
        name = "x.png"

    files = [Unsized(bytes(MB + 1)) for _ in range(3)]
    workspace = make_workspace(credits=10)
    with pytest.raises(JobInputError) as caught:
        job_create(workspace=workspace, files=files, options=FAST)
    assert caught.value.code == "batch_too_large"
    assert not Job.objects.exists()
    stored = [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
    assert stored == []  # what was copied before the bound was deleted


def test_an_entry_copy_stops_at_the_upload_limit(settings: Any) -> None:
    settings.CUTOUT_MAX_UPLOAD_BYTES = MB
    entry = intake.BatchEntry(name="big.png", declared=0, opener=lambda: io.BytesIO(bytes(5 * MB)))
    budget = intake.ByteBudget(100 * MB)
    assert intake.entry_spool(entry, budget) is None
    assert budget.used <= MB + intake.READ_CHUNK  # it stopped reading at the limit
