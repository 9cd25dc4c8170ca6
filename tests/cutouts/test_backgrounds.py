"""cutout_create and re-renders with backgrounds, free previews and "nothing found"."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from billing.models import LedgerEntry, Reservation
from cutout import engine
from cutout.cutouts.records import background_bytes, background_name, credits_for
from cutout.cutouts.refine import cutout_refine
from cutout.cutouts.rerender import cutout_format_file, cutout_version
from cutout.cutouts.services import cutout_create, cutouts_delete
from cutout.files.retention import retention_sweep
from cutout.models import Cutout, Source
from tests.api.images import image_bytes, open_image
from tests.api.test_refine import REMOVE_SQUARE, two_objects_png
from tests.factories import balance, make_caller

pytestmark = pytest.mark.django_db

JPEG = image_bytes(160, 120, "JPEG", quality=92)


def png(colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def opts(**kw) -> engine.Options:
    kw.setdefault("pipeline", "fast")
    return engine.Options(**kw)


def create(caller, data: bytes = JPEG, **kw):
    kw.setdefault("options", opts())
    return cutout_create(
        workspace=caller.workspace, data=data, api_key=caller.api_key, source=Source.API, **kw
    )


def test_a_background_picture_goes_under_the_subject_and_is_named_by_its_hash() -> None:
    caller = make_caller(credits=5)
    bg = png((0, 80, 160))
    cutout = create(caller, background=bg)
    assert cutout.status == Cutout.Status.SUCCEEDED and cutout.credits_charged == 1
    assert cutout.options["bg_image"] == "sha256:" + hashlib.sha256(bg).hexdigest()
    result = np.asarray(open_image(cutout.result.read()))
    assert result.shape == (120, 160, 3)  # opaque
    assert result[2, 2].tolist() == [0, 80, 160]
    # Another picture is another request (no dedup onto the first); the same one is deduplicated.
    other = create(caller, background=png((200, 0, 0)))
    assert other.credits_charged == 1 and np.asarray(open_image(other.result.read()))[2, 2][0] > 150
    again = create(caller, background=bg)
    assert again.credits_charged == 0 and again.metadata["dedup_of"] == str(cutout.pk)


def test_a_bad_background_picture_costs_nothing() -> None:
    caller = make_caller(credits=5)
    with pytest.raises(engine.InvalidImage):
        create(caller, background=b"not a picture")
    assert balance(caller.workspace) == 5 and not Cutout.objects.exists()
    with pytest.raises(engine.InvalidOption):
        create(caller, options=opts(bg_image="sha256:abc"))  # named, never sent
    assert not Reservation.objects.exists()


def test_background_blur_at_upload_time() -> None:
    caller = make_caller(credits=5)
    cutout = create(caller, options=opts(bg_blur="3%"))
    assert cutout.metadata["background"] == "blur"
    assert open_image(cutout.result.read()).mode == "RGB"


@pytest.mark.parametrize(("size", "charged"), [("preview", 0), ("0.25mp", 0), ("full", 1)])
def test_previews_are_free(size, charged) -> None:
    caller = make_caller(credits=2)
    options = opts(size=size)
    assert credits_for(options) == charged
    cutout = create(caller, options=options)
    assert cutout.status == Cutout.Status.SUCCEEDED and cutout.credits_charged == charged
    assert balance(caller.workspace) == 2 - charged
    assert LedgerEntry.objects.filter(kind="debit").count() == charged
    assert Reservation.objects.count() == charged  # a free preview reserves nothing


def test_a_free_preview_needs_no_credit() -> None:
    caller = make_caller(credits=0)
    cutout = create(caller, options=opts(size="preview"))
    assert cutout.status == Cutout.Status.SUCCEEDED and cutout.credits_charged == 0


def test_a_solid_colour_is_refused_as_unknown_foreground_and_not_charged() -> None:
    caller = make_caller(credits=3)
    with pytest.raises(engine.NoForeground) as caught:
        create(caller, data=png((240, 240, 240), (160, 120)))
    assert caught.value.code == "unknown_foreground"
    assert balance(caller.workspace) == 3
    failed = Cutout.objects.get()
    assert failed.status == Cutout.Status.FAILED and failed.error_code == "unknown_foreground"
    assert failed.credits_charged == 0 and not failed.result and not failed.matte
    assert Reservation.objects.get().status == Reservation.Status.RELEASED


def test_backgrounds_are_free_versions_of_the_stored_matte() -> None:
    caller = make_caller(credits=1)
    source = create(caller)
    assert balance(caller.workspace) == 0
    on_green = cutout_version(source=source, options=opts(), background=png((0, 200, 0), (16, 16)))
    assert on_green.credits_charged == 0 and on_green.metadata["rerender_of"] == str(source.pk)
    arr = np.asarray(open_image(on_green.result.read()))
    assert arr[1, 1].tolist() == [0, 200, 0]
    placed = cutout_version(source=source, options=opts(bg_color="white", scale="50%"))
    box = placed.metadata["bbox"]
    assert max(box["width"] / 160, box["height"] / 120) == pytest.approx(0.5, abs=0.03)
    assert balance(caller.workspace) == 0 and LedgerEntry.objects.filter(kind="debit").count() == 1


def test_a_blurred_background_version_needs_the_original() -> None:
    caller = make_caller(credits=2)
    caller.workspace.edit_window_hours = 0  # originals kept neither for good nor for editing
    caller.workspace.save()
    source = create(caller)
    with pytest.raises(engine.InvalidOption) as caught:
        cutout_version(source=source, options=opts(bg_blur="2%"))
    assert caught.value.field == "bg_blur" and "original" in caught.value.message

    caller.workspace.keep_originals = True
    caller.workspace.save()
    kept = create(caller, data=image_bytes(160, 120, "JPEG", seed=4))
    blurred = cutout_version(source=kept, options=opts(bg_blur="2%"))
    assert blurred.credits_charged == 0 and blurred.metadata["background"] == "blur"
    assert open_image(blurred.result.read()).mode == "RGB"


@pytest.mark.parametrize("free", [{"size": "preview"}, {"watermark": True}])
def test_a_free_cutout_has_only_free_versions(free) -> None:
    caller = make_caller(credits=3)
    source = create(caller, options=opts(**free))
    assert source.credits_charged == 0
    with pytest.raises(engine.InvalidOption) as caught:
        cutout_version(source=source, options=opts())  # full size, no mark: would be paid work
    assert caught.value.field == "size"
    again = cutout_version(source=source, options=opts(bg_color="white", **free))
    assert again.credits_charged == 0 and balance(caller.workspace) == 3


def test_a_free_preview_is_not_refined_into_a_paid_result() -> None:
    caller = make_caller(credits=3)
    source = create(caller, options=opts(size="preview"))
    box = [{"kind": "box", "box": [20, 10, 140, 115]}]
    with pytest.raises(engine.InvalidOption) as caught:
        cutout_refine(cutout=source, hints=box, options=opts())  # full size: paid work
    assert caught.value.field == "size"
    refined = cutout_refine(cutout=source, hints=box)  # in its own (preview) options: fine
    assert refined.credits_charged == 0 and balance(caller.workspace) == 3


def _corner(data: bytes) -> list[int]:
    return np.asarray(open_image(data).convert("RGB"))[1, 1].tolist()


def test_a_background_picture_is_kept_with_its_version_and_other_formats_show_it() -> None:
    caller = make_caller(credits=1)
    source = create(caller)
    picture = png((0, 0, 220), (20, 15))
    on_blue = cutout_version(source=source, options=opts(mode="background"), background=picture)
    assert background_bytes(on_blue) == picture  # stored with the version, as sent
    for fmt in ("jpeg", "webp", "png"):
        with default_storage.open(cutout_format_file(cutout=on_blue, fmt=fmt), "rb") as handle:
            corner = _corner(handle.read())
        assert corner[2] > 180 and corner[0] < 40 and corner[1] < 40, (fmt, corner)
    # An upload on a picture keeps it too (the API's bg_image_*), and so does its dedup copy.
    uploaded = create(make_caller(credits=2), background=picture, data=JPEG)
    assert background_bytes(uploaded) == picture
    with default_storage.open(cutout_format_file(cutout=uploaded, fmt="webp"), "rb") as handle:
        assert _corner(handle.read())[2] > 180
    # Without its picture, another format is refused in words, not rendered without it.
    name = background_name(on_blue)
    assert name is not None
    default_storage.delete(name)
    with pytest.raises(engine.InvalidOption) as caught:
        cutout_format_file(cutout=on_blue, fmt="avif")
    assert caught.value.field == "bg_image" and "no longer stored" in caught.value.message
    assert balance(caller.workspace) == 0


def test_a_background_picture_lives_and_goes_with_its_cutout(
    django_capture_on_commit_callbacks,
) -> None:
    caller = make_caller(credits=1)
    source = create(caller)
    version = cutout_version(source=source, options=opts(), background=png((9, 9, 9)))
    name = background_name(version)
    assert name is not None and default_storage.exists(name)
    retention_sweep(now=timezone.now() + timedelta(days=1), orphan_grace=timedelta(0))
    assert default_storage.exists(name)  # not an orphan while its cutout lives
    with django_capture_on_commit_callbacks(execute=True):
        cutouts_delete(workspace=caller.workspace, cutouts=[source])
    assert not default_storage.exists(name)


def test_a_cutout_on_a_picture_is_refined_on_that_picture() -> None:
    """A refine (editor or API) renders on the picture kept with the cutout, and so do the other
    formats of the refined version."""
    caller = make_caller(credits=5)
    green = (0, 200, 0)
    cutout = create(caller, data=two_objects_png(), background=png(green))
    before = np.asarray(open_image(cutout.result.read()))
    assert before[120, 240].tolist() != list(green)  # the square is kept at first
    refined = cutout_refine(cutout=cutout, hints=REMOVE_SQUARE)
    assert refined.version == 1 and refined.options["bg_image"] == cutout.options["bg_image"]
    after = np.asarray(open_image(refined.result.read()))
    assert after.shape[2] == 3  # opaque, on the picture
    assert np.abs(after[120, 240].astype(int) - green).max() <= 8  # removed: the picture shows
    assert np.abs(after[2, 2].astype(int) - green).max() <= 8
    with default_storage.open(cutout_format_file(cutout=refined, fmt="webp"), "rb") as handle:
        webp = np.asarray(open_image(handle.read()).convert("RGB"))
    assert np.abs(webp[120, 240].astype(int) - green).max() <= 12
    assert balance(caller.workspace) == 4  # the refine and the format are free
