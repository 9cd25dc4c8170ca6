"""Deleting from the library with an undo (cutouts.trash), the sweep's purge after the window,
and the result in another format: a file next to the result, not a version (cutouts.rerender)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from cutout import engine
from cutout.cutouts import selectors
from cutout.cutouts.rerender import cutout_format_file, cutout_version
from cutout.cutouts.services import cutout_create
from cutout.cutouts.trash import cutouts_restore, cutouts_trash
from cutout.files.retention import UNDO_WINDOW, retention_sweep
from cutout.models import Cutout
from tests.api.images import image_bytes
from tests.factories import make_workspace

pytestmark = pytest.mark.django_db


def _made(workspace, seed: int) -> Cutout:
    return cutout_create(
        workspace=workspace,
        data=image_bytes(160, 120, "JPEG", seed=seed),
        options=engine.Options(pipeline="fast"),
    )


def test_trash_hides_restore_brings_back_and_the_sweep_purges_after_the_window() -> None:
    workspace = make_workspace(credits=5)
    other = make_workspace(credits=5)
    kept, gone = _made(workspace, 0), _made(workspace, 1)
    version = cutout_version(source=gone, options=engine.Options(pipeline="fast", mode="mask"))
    theirs = _made(other, 2)

    assert cutouts_trash(workspace=workspace, cutouts=[gone, theirs]) == [str(gone.pk)]
    visible = set(selectors.cutouts_for_workspace(workspace).values_list("pk", flat=True))
    assert visible == {kept.pk}
    assert selectors.cutout_get(workspace=workspace, cutout_id=version.pk) is None
    assert Cutout.objects.get(pk=theirs.pk).deleted_at is None  # not this workspace's to trash

    assert cutouts_restore(workspace=other, ids=[gone.pk]) == 0  # not theirs to restore
    assert cutouts_restore(workspace=workspace, ids=[gone.pk]) == 1
    assert selectors.cutouts_for_workspace(workspace).count() == 3  # with its version

    cutouts_trash(workspace=workspace, cutouts=[gone])
    files = [str(gone.result.name), str(gone.matte.name), str(version.result.name)]
    early = retention_sweep(now=timezone.now() + UNDO_WINDOW - timedelta(seconds=30))
    assert early.trash_purged == 0 and Cutout.objects.filter(pk=gone.pk).exists()
    late = retention_sweep(now=timezone.now() + UNDO_WINDOW + timedelta(seconds=30))
    assert late.trash_purged == 2 and late.cutouts_deleted == 0
    assert not Cutout.objects.filter(pk__in=[gone.pk, version.pk]).exists()
    assert not any(default_storage.exists(name) for name in files)
    assert cutouts_restore(workspace=workspace, ids=[gone.pk]) == 0
    assert Cutout.objects.filter(pk__in=[kept.pk, theirs.pk]).count() == 2


def test_restore_after_the_window_is_refused_even_before_the_purge() -> None:
    workspace = make_workspace(credits=2)
    cutout = _made(workspace, 3)
    cutouts_trash(workspace=workspace, cutouts=[cutout])
    Cutout.objects.filter(pk=cutout.pk).update(
        deleted_at=timezone.now() - UNDO_WINDOW - timedelta(seconds=1)
    )
    assert cutouts_restore(workspace=workspace, ids=[cutout.pk]) == 0


def test_another_format_is_a_file_beside_the_result_not_a_version() -> None:
    workspace = make_workspace(credits=2)
    cutout = _made(workspace, 4)
    assert cutout_format_file(cutout=cutout, fmt="png") == cutout.result.name
    name = cutout_format_file(cutout=cutout, fmt="jpeg")
    assert name.endswith("/format.jpg") and name.startswith(f"ws/{workspace.pk}/")
    assert cutout_format_file(cutout=cutout, fmt="jpeg") == name  # made once
    with default_storage.open(name) as handle:
        assert Image.open(handle).format == "JPEG"
    assert Cutout.objects.count() == 1
    # The sweep keeps it while its cutout lives (it is a derived file, not an orphan).
    report = retention_sweep(now=timezone.now() + timedelta(days=2), orphan_grace=timedelta(0))
    assert report.orphans_deleted == 0 and default_storage.exists(name)
    cutout.refresh_from_db()  # the sweep took the original (past its editing window)
    mask = cutout_version(source=cutout, options=engine.Options(pipeline="fast", mode="mask"))
    with pytest.raises(engine.EngineError):
        cutout_format_file(cutout=mask, fmt="zip")
