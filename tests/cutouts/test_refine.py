"""The refine service around the engine: the editing window, retention, versions' files, the
batch ZIP, re-renders of a refined cutout, the workspace setting and the web editor's JSON."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone
from PIL import Image

from accounts import errors as account_errors
from accounts import services as accounts
from accounts.models import Role
from cutout import engine
from cutout.cutouts.refine import NotEditable, cutout_refine
from cutout.cutouts.rerender import cutout_version
from cutout.cutouts.services import cutout_create, cutouts_delete
from cutout.files import retention
from cutout.jobs.results import job_results_zip_write
from cutout.models import Cutout, CutoutVersion, Job, JobItem, Source
from tests.api.test_refine import REMOVE_SQUARE, SQUARE, two_objects_png
from tests.factories import add_member, client_in, make_user, make_workspace

pytestmark = pytest.mark.django_db
MASK = engine.Options(mode="mask", pipeline="fast")


def _make(workspace: Any, **kw: Any) -> Cutout:
    return cutout_create(
        workspace=workspace, data=two_objects_png(), options=MASK, source=Source.API, **kw
    )


def _exists(name: Any) -> bool:
    return bool(name) and default_storage.exists(str(name))


def _square(field: Any) -> float:
    with field.open("rb") as handle:
        image = Image.open(io.BytesIO(handle.read()))
        # A stored matte file is RGBA (its alpha the matte); a mask result is grey.
        mask = np.asarray(image.getchannel("A") if image.mode == "RGBA" else image.convert("L"))
    x0, y0, x1, y1 = SQUARE
    return float((mask[y0:y1, x0:x1] >= 128).mean())


def test_the_original_and_prior_are_kept_for_the_window_then_swept() -> None:
    workspace = make_workspace(credits=5, edit_window_hours=2)
    cutout = _make(workspace)
    assert _exists(cutout.original) and _exists(cutout.prior)
    assert cutout.editable_until is not None
    left = cutout.editable_until - timezone.now()
    assert timedelta(hours=1, minutes=59) < left <= timedelta(hours=2)
    retention.retention_sweep()
    cutout.refresh_from_db()
    assert _exists(cutout.original)  # still in its window
    original, prior = str(cutout.original.name), str(cutout.prior.name)
    report = retention.retention_sweep(now=timezone.now() + timedelta(hours=3))
    cutout.refresh_from_db()
    assert report.originals_deleted == 1 and not cutout.original and not cutout.prior
    assert not _exists(original) and not _exists(prior) and _exists(cutout.matte)
    with pytest.raises(NotEditable, match="editing window"):
        cutout_refine(cutout=cutout, hints=REMOVE_SQUARE)


def test_no_window_keeps_no_original_and_keep_originals_keeps_it_for_good() -> None:
    none = _make(make_workspace(credits=5, edit_window_hours=0))
    assert not none.original and not none.prior and none.editable_until is None
    with pytest.raises(NotEditable):
        cutout_refine(cutout=none, hints=REMOVE_SQUARE)
    kept = _make(make_workspace(credits=5, keep_originals=True, edit_window_hours=0))
    assert kept.editable_until is None and _exists(kept.original)
    retention.retention_sweep(now=timezone.now() + timedelta(days=400))
    kept.refresh_from_db()
    assert _exists(kept.original)
    assert cutout_refine(cutout=kept, hints=REMOVE_SQUARE).version == 1


def test_a_refine_missing_its_prior_computes_and_keeps_it() -> None:
    cutout = _make(make_workspace(credits=5))
    Cutout.objects.filter(pk=cutout.pk).update(prior="")
    cutout.refresh_from_db()
    refined = cutout_refine(cutout=cutout, hints=REMOVE_SQUARE)
    assert _exists(refined.prior) and _square(refined.result) == 0.0


def test_deleting_a_refined_cutout_removes_every_version_file(
    django_capture_on_commit_callbacks: Any,
) -> None:
    workspace = make_workspace(credits=5)
    cutout = _make(workspace)
    cutout = cutout_refine(cutout=cutout, hints=REMOVE_SQUARE)
    cutout = cutout_refine(cutout=cutout, hints=[{"kind": "box", "box": [10, 10, 170, 230]}])
    names = [
        n
        for v in CutoutVersion.objects.filter(cutout=cutout)
        for n in (v.matte.name, v.result.name)
    ]
    names += [cutout.original.name, cutout.prior.name]
    assert len(set(names)) >= 7 and all(_exists(n) for n in names)
    with django_capture_on_commit_callbacks(execute=True):
        cutouts_delete(workspace=workspace, cutouts=[cutout])
    assert not any(_exists(n) for n in names)
    assert not CutoutVersion.objects.filter(cutout_id=cutout.pk).exists()


def test_the_orphan_sweep_keeps_version_files() -> None:
    cutout = cutout_refine(cutout=_make(make_workspace(credits=5)), hints=REMOVE_SQUARE)
    auto = CutoutVersion.objects.get(cutout=cutout, number=0)
    retention.retention_sweep(orphan_grace=timedelta(seconds=-60))
    assert _exists(auto.matte) and _exists(auto.result) and _exists(cutout.prior)


def test_the_batch_zip_holds_the_latest_version() -> None:
    workspace = make_workspace(credits=5)
    cutout = cutout_refine(cutout=_make(workspace), hints=REMOVE_SQUARE)
    job = Job.objects.create(workspace=workspace, status=Job.Status.DONE, options={})
    JobItem.objects.create(
        job=job, position=0, name="two.png", status=JobItem.Status.DONE, cutout=cutout
    )
    job_results_zip_write(job=job)
    with job.result_zip.open("rb") as handle, zipfile.ZipFile(io.BytesIO(handle.read())) as zf:
        data = zf.read("two.png")
    with cutout.result.open("rb") as handle:
        assert data == handle.read()
    mask = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    x0, y0, x1, y1 = SQUARE
    assert (mask[y0:y1, x0:x1] >= 128).mean() == 0.0


def test_a_re_render_of_a_refined_cutout_uses_its_refined_matte() -> None:
    workspace = make_workspace(credits=5)
    auto = _make(workspace)
    before = cutout_version(source=auto, options=engine.Options(mode="transparent"))
    refined = cutout_refine(cutout=auto, hints=REMOVE_SQUARE)
    after = cutout_version(source=refined, options=engine.Options(mode="transparent"))
    assert after.pk != before.pk  # not the automatic matte's re-render
    assert _square(before.matte) > 0.9 and _square(after.matte) == 0.0
    # An upload of the same image is not served the refined result.
    again = _make(workspace)
    assert _square(again.result) > 0.9


def test_only_managers_set_the_editing_window() -> None:
    owner = make_user()
    workspace = make_workspace(owner=owner)
    member = add_member(workspace, Role.MEMBER)
    assert workspace.edit_window_hours == 24
    accounts.workspace_set_edit_window(workspace=workspace, hours=72, by=owner)
    workspace.refresh_from_db()
    assert workspace.edit_window_hours == 72
    with pytest.raises(account_errors.NotAllowed):
        accounts.workspace_set_edit_window(workspace=workspace, hours=1, by=member)
    bad: Any
    for bad in (-1, 24 * 31, 1.5, True):
        with pytest.raises(ValueError, match="hours"):
            accounts.workspace_set_edit_window(workspace=workspace, hours=bad, by=owner)


def test_the_web_editor_refines_with_the_session_and_its_csrf_token(settings: Any) -> None:
    settings.CUTOUT_DEFAULT_PIPELINE = "fast"
    owner = make_user()
    workspace = make_workspace(owner=owner, credits=3)
    cutout = _make(workspace, user=owner)
    client = client_in(owner, workspace)
    state = client.get(f"/app/cutouts/{cutout.pk}/edit.json").json()
    assert state["editable"] and state["version"] == 0 and state["original_url"]
    assert state["matte_url"] and state["result"]["url"] and state["width"] == 320

    strict = Client(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    url = f"/app/cutouts/{cutout.pk}/refine"
    body = json.dumps({"hints": REMOVE_SQUARE})
    assert strict.post(url, body, content_type="application/json").status_code == 403
    strict.get(f"/app/cutouts/{cutout.pk}/")  # the page sets the CSRF cookie
    token = strict.cookies["csrftoken"].value
    r = strict.post(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert r.status_code == 200, r.content[:300]
    state = r.json()
    assert state["refined"] and state["version"] == 1 and state["hints"] == REMOVE_SQUARE
    assert [v["number"] for v in state["versions"]] == [0, 1]
    cutout.refresh_from_db()
    assert _square(cutout.result) == 0.0
    assert CutoutVersion.objects.get(cutout=cutout, number=1).created_by == owner

    bad = strict.post(
        url,
        json.dumps({"hints": [{"kind": "keep"}]}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "hints" and bad.json()["error"]["charged"] is False
    outsider = client_in(make_user(), make_workspace())
    assert outsider.post(url, body, content_type="application/json").status_code == 404
