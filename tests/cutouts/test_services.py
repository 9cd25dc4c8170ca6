"""cutout_create / cutout_rerender: charging, failures, dedup, idempotency, storage."""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone
from PIL import Image

from billing.errors import InsufficientCredits, MonthlyCapExceeded
from billing.models import LedgerEntry, Reservation
from cutout import engine
from cutout.cutouts import services
from cutout.cutouts.rerender import cutout_rerender
from cutout.cutouts.services import CutoutInProgress, IdempotencyKeyReused, cutout_create
from cutout.models import Cutout, Source
from tests.api.images import image_bytes, open_image, scene
from tests.factories import balance, make_caller

pytestmark = pytest.mark.django_db

JPEG = image_bytes(160, 120, "JPEG", quality=92)


@pytest.fixture(autouse=True)
def _fast(settings) -> None:
    settings.CUTOUT_DEFAULT_PIPELINE = "fast"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def opts(**kw) -> engine.Options:
    kw.setdefault("pipeline", "fast")
    return engine.Options(**kw)


def create(caller, data: bytes = JPEG, **kw):
    kw.setdefault("options", opts())
    return cutout_create(
        workspace=caller.workspace, data=data, api_key=caller.api_key, source=Source.API, **kw
    )


def test_success_charges_one_credit_and_stores_matte_and_result() -> None:
    caller = make_caller(credits=3)
    cutout = create(caller, input_name="cat.jpg", dialect="native")
    assert cutout.status == Cutout.Status.SUCCEEDED and cutout.credits_charged == 1
    assert balance(caller.workspace) == 2
    entry = LedgerEntry.objects.get(kind="debit")
    assert entry.cutout_id == cutout.pk and entry.actor_api_key == caller.api_key
    assert str(cutout.result.name).startswith(f"ws/{caller.workspace.pk}/cutouts/{cutout.pk}/")
    # The original is kept for the workspace's editing window (24 h unless it says otherwise),
    # so the cutout can be refined; the retention sweep removes it after (tests/cutouts/
    # test_refine.py).
    assert cutout.original.read() == JPEG and cutout.editable_until is not None
    result = open_image(cutout.result.read())
    assert result.mode == "RGBA" and result.size == (160, 120)
    # The subject (centre) is opaque and a corner transparent.
    alpha = np.asarray(result.getchannel("A"))
    _, true_alpha = scene(160, 120, 1)
    assert alpha[true_alpha > 0.99].mean() > 200 and alpha[true_alpha < 0.01].mean() < 40
    assert cutout.width == 160 and cutout.result_width == 160 and cutout.input_name == "cat.jpg"
    assert cutout.metadata["pipeline"] == "fast" and cutout.metadata["bbox"]["width"] > 20
    # The stored matte reads back as the engine's matte of the same size.
    matte = engine.matte_from_png(cutout.matte.read())
    assert matte.size == (160, 120)
    assert (matte.pipeline, matte.models) == ("fast", ("u2netp",))  # its facts came along too
    assert matte.confidence == cutout.metadata["confidence"]
    assert Reservation.objects.get().status == Reservation.Status.CAPTURED


def test_keep_originals_keeps_the_upload() -> None:
    caller = make_caller()
    caller.workspace.keep_originals = True
    caller.workspace.save()
    cutout = create(caller)
    assert cutout.original.read() == JPEG


def test_bad_input_fails_before_anything_is_reserved(monkeypatch) -> None:
    caller = make_caller(credits=2)
    with pytest.raises(engine.InvalidImage):
        create(caller, data=b"definitely not an image")
    with pytest.raises(engine.ImageTooSmall):
        create(caller, data=image_bytes(20, 20, "PNG"))
    assert Cutout.objects.count() == 0 and Reservation.objects.count() == 0
    assert balance(caller.workspace) == 2


def test_insufficient_credits_refuses_before_model_work(monkeypatch) -> None:
    caller = make_caller(credits=0)
    monkeypatch.setattr(engine, "compute_matte", lambda *a, **k: pytest.fail("model ran"))
    with pytest.raises(InsufficientCredits):
        create(caller)
    assert Cutout.objects.count() == 0 and LedgerEntry.objects.filter(kind="debit").count() == 0


def test_monthly_cap_refuses() -> None:
    caller = make_caller(credits=5, monthly_cap=1)
    create(caller)
    with pytest.raises(MonthlyCapExceeded):
        create(caller, data=image_bytes(160, 120, "PNG"))
    assert balance(caller.workspace) == 4


def test_no_transaction_is_open_during_inference(monkeypatch) -> None:
    caller = make_caller()
    seen = []
    real = engine.compute_matte

    def spy(*args, **kwargs):
        # pytest-django wraps each test in one atomic block; ours must not add another.
        seen.append(len(connection.savepoint_ids))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "compute_matte", spy)
    create(caller)
    assert seen == [0]


@pytest.mark.parametrize("where", ["render", "storage", "capture"])
def test_failure_after_reserving_releases_and_keeps_nothing(monkeypatch, where) -> None:
    caller = make_caller(credits=2)
    if where == "render":
        monkeypatch.setattr(
            engine, "render", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom"))
        )
    elif where == "storage":
        real = services.save_file

        def failing(field, name, data):
            if name.startswith("result"):
                raise OSError("disk full")
            real(field, name, data)

        monkeypatch.setattr(services, "save_file", failing)
    else:

        def failing_capture(**kwargs):
            raise RuntimeError("database went away")

        monkeypatch.setattr(services, "credits_capture", failing_capture)
    with pytest.raises((RuntimeError, OSError)):
        create(caller, idempotency_key="k1")
    cutout = Cutout.objects.get()
    assert cutout.status == Cutout.Status.FAILED and cutout.credits_charged == 0
    assert cutout.error_code and not cutout.matte and not cutout.result
    assert cutout.idempotency_key is None  # a retry with the same key may run again
    assert Reservation.objects.get().status == Reservation.Status.RELEASED
    assert balance(caller.workspace) == 2
    assert LedgerEntry.objects.filter(kind="debit").count() == 0
    from django.core.files.storage import default_storage

    folder = f"ws/{caller.workspace.pk}/cutouts/{cutout.pk}"
    assert not default_storage.exists(folder) or default_storage.listdir(folder) == ([], [])


def test_retry_after_failure_with_same_key_runs_again(monkeypatch) -> None:
    caller = make_caller(credits=2)
    monkeypatch.setattr(engine, "render", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("x")))
    with pytest.raises(RuntimeError):
        create(caller, idempotency_key="retry")
    monkeypatch.undo()
    cutout = create(caller, idempotency_key="retry")
    assert cutout.status == Cutout.Status.SUCCEEDED and balance(caller.workspace) == 1


def test_dedup_is_free_and_gets_its_own_files() -> None:
    caller = make_caller(credits=5)
    first = create(caller)
    second = create(caller)
    assert second.pk != first.pk and second.credits_charged == 0
    assert second.metadata["dedup_of"] == str(first.pk)
    assert second.result.name != first.result.name
    assert second.result.read() == first.result.read()
    assert balance(caller.workspace) == 4
    # Other options are a different result and cost a credit.
    third = create(caller, options=opts(mode="mask"))
    assert third.credits_charged == 1 and balance(caller.workspace) == 3
    # Dedup is per workspace: another workspace pays for the same image.
    other = make_caller(credits=1)
    assert create(other).credits_charged == 1


@pytest.mark.parametrize("lost", ["matte", "result"])
def test_dedup_source_whose_files_are_gone_is_made_again(lost) -> None:
    """A stored file can vanish (a retention sweep halfway, a bucket cleaned by hand): the same
    request must then be processed afresh, not answered with an error forever."""
    caller = make_caller(credits=5)
    first = create(caller)
    field = getattr(first, lost)
    field.storage.delete(field.name)
    again = create(caller)
    assert again.status == Cutout.Status.SUCCEEDED and again.credits_charged == 1
    assert "dedup_of" not in again.metadata
    assert open_image(again.result.read()).size == (160, 120)
    assert balance(caller.workspace) == 3
    # The broken record is no longer offered for dedup; the new one is.
    third = create(caller)
    assert third.metadata["dedup_of"] == str(again.pk) and third.credits_charged == 0
    assert Cutout.objects.filter(status=Cutout.Status.FAILED).count() == 0
    assert balance(caller.workspace) == 3


def test_idempotency_key_returns_the_same_cutout_and_charges_once() -> None:
    caller = make_caller(credits=5)
    first = create(caller, idempotency_key="abc")
    again = create(caller, idempotency_key="abc")
    assert again.pk == first.pk and getattr(again, "replayed", False)
    assert balance(caller.workspace) == 4
    assert LedgerEntry.objects.filter(kind="debit").count() == 1
    with pytest.raises(IdempotencyKeyReused):
        create(caller, data=image_bytes(160, 120, "PNG"), idempotency_key="abc")
    with pytest.raises(IdempotencyKeyReused):
        create(caller, options=opts(mode="mask"), idempotency_key="abc")
    # Keys are per workspace.
    other = make_caller(credits=1)
    assert create(other, idempotency_key="abc").workspace_id == other.workspace.pk


def test_key_of_a_cutout_in_progress(monkeypatch) -> None:
    caller = make_caller(credits=5)
    opt = opts()
    running = Cutout.objects.create(
        workspace=caller.workspace,
        status=Cutout.Status.PROCESSING,
        idempotency_key="busy",
        input_sha256=__import__("hashlib").sha256(JPEG).hexdigest(),
        options=engine.options_as_dict(opt),
        started_at=timezone.now(),
    )
    with pytest.raises(CutoutInProgress):
        create(caller, options=opt, idempotency_key="busy")
    # Abandoned long ago (its process died): taken over, its held credit released.
    from billing.services import credits_reserve

    held = credits_reserve(
        workspace=caller.workspace, idempotency_key=f"cutout:{running.pk}", cutout=running
    )
    Cutout.objects.filter(pk=running.pk).update(started_at=timezone.now() - timedelta(hours=1))
    cutout = create(caller, options=opt, idempotency_key="busy")
    assert cutout.pk != running.pk and cutout.status == Cutout.Status.SUCCEEDED
    held.refresh_from_db()
    running.refresh_from_db()
    assert held.status == Reservation.Status.RELEASED and running.status == Cutout.Status.FAILED
    assert balance(caller.workspace) == 4


def test_job_item_gets_an_idempotency_key() -> None:
    from cutout.models import Job, JobItem

    caller = make_caller(credits=3)
    job = Job.objects.create(workspace=caller.workspace)
    item = JobItem.objects.create(job=job, position=0, name="a.jpg")
    first = create(caller, job_item=item)
    second = create(caller, job_item=item)
    assert first.pk == second.pk and balance(caller.workspace) == 2
    assert Reservation.objects.get().job_item_id == item.pk


def test_rerender_is_free_and_uses_the_stored_matte(monkeypatch) -> None:
    caller = make_caller(credits=1)
    first = create(caller)
    monkeypatch.setattr(engine, "compute_matte", lambda *a, **k: pytest.fail("model ran"))
    white = cutout_rerender(cutout=first, options=opts(mode="background", format="jpeg"))
    assert white.pk != first.pk and white.credits_charged == 0
    assert white.metadata["rerender_of"] == str(first.pk)
    assert balance(caller.workspace) == 0
    img = open_image(white.result.read())
    assert img.format == "JPEG" and img.size == (160, 120)
    corners = np.asarray(img)[[0, 0, -1, -1], [0, -1, 0, -1]]
    assert corners.min() > 240  # white background
    # The subject keeps its colour: compare with the first (transparent) result where opaque.
    rgba = np.asarray(open_image(first.result.read()))
    solid = rgba[..., 3] == 255
    diff = np.abs(np.asarray(img, dtype=int)[solid] - rgba[..., :3].astype(int)[solid])
    assert diff.mean() < 6  # JPEG noise only
    mask = cutout_rerender(cutout=first, options=opts(mode="mask"))
    assert open_image(mask.result.read()).mode == "L"


def test_rerender_matches_a_fresh_render_when_the_original_was_kept() -> None:
    caller = make_caller(credits=1)
    caller.workspace.keep_originals = True
    caller.workspace.save()
    first = create(caller)
    again = cutout_rerender(cutout=first, options=opts())
    assert again.result.read() == first.result.read()


def test_rerender_without_original_keeps_edges_close_to_the_real_render() -> None:
    """Without the original, edge colours come from the stored foreground; they stay close."""
    caller = make_caller(credits=2)
    kept = make_caller(credits=2)
    kept.workspace.keep_originals = True
    kept.workspace.save()
    a = cutout_rerender(cutout=create(caller), options=opts(mode="background", bg_color="#0000ff"))
    b = cutout_rerender(cutout=create(kept), options=opts(mode="background", bg_color="#0000ff"))
    pa = np.asarray(open_image(a.result.read()), dtype=int)
    pb = np.asarray(open_image(b.result.read()), dtype=int)
    assert np.abs(pa - pb).mean() < 2 and np.abs(pa - pb).max() < 80


def test_stored_matte_keeps_no_background_pixels() -> None:
    caller = make_caller(credits=1)
    rgb = np.zeros((120, 160, 3), np.uint8)
    rgb[:] = (0, 255, 0)  # a green-screen background
    src, _ = scene(160, 120, 1)
    _, alpha = scene(160, 120, 1)
    rgb[alpha > 0.5] = src[alpha > 0.5]
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "PNG")
    cutout = create(caller, data=out.getvalue())
    stored = np.asarray(open_image(cutout.matte.read()).convert("RGBA"))
    outside = stored[..., 3] == 0
    assert outside.sum() > 1000
    green = (stored[..., 1] > 200) & (stored[..., 0] < 60) & (stored[..., 2] < 60)
    assert not (green & outside).any()


def test_delete_takes_rerenders_and_files_but_not_the_ledger(
    django_capture_on_commit_callbacks,
) -> None:
    from django.core.files.storage import default_storage

    caller = make_caller(credits=3)
    caller.workspace.keep_originals = True
    caller.workspace.save()
    first = create(caller)
    white = cutout_rerender(cutout=first, options=opts(mode="background", format="jpeg"))
    kept = create(caller, data=image_bytes(150, 110, "JPEG", quality=90))
    other = make_caller(credits=1)
    foreign = create(other)
    names = [
        str(f.name) for row in (first, white) for f in (row.original, row.matte, row.result) if f
    ]
    assert len(names) >= 5 and all(default_storage.exists(n) for n in names)
    debits = LedgerEntry.objects.filter(kind="debit").count()

    # Another workspace's cutout is not this workspace's to delete.
    assert services.cutouts_delete(workspace=caller.workspace, cutouts=[foreign]) == 0
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert services.cutouts_delete(workspace=caller.workspace, cutouts=[first]) == 2
    assert len(callbacks) == 1  # files go only once the rows are gone for good
    assert not Cutout.objects.filter(pk__in=[first.pk, white.pk]).exists()
    assert Cutout.objects.filter(pk__in=[kept.pk, foreign.pk]).count() == 2
    assert not any(default_storage.exists(n) for n in names)
    assert default_storage.exists(str(kept.result.name))
    assert LedgerEntry.objects.filter(kind="debit").count() == debits
    assert balance(caller.workspace) == 1
