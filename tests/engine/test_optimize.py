"""The int8 model files: built deterministically from the verified source, checked by manifest,
used by the engine when good, and giving mattes close to the float model's.

The build runs on the real u2netp (small enough for every run). The installed files that
``fetch_models`` built are checked against their float sources on project-made images.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from cutout.engine import DecodedImage, compute_matte, derived, registry, runtime, sessions
from cutout.engine.errors import ProviderUnavailable
from cutout.engine.inference import model_input
from cutout.engine.setup import calibration, graph, int8
from cutout.tools.synthetic import photo_like, subject_scene


@pytest.fixture(scope="module")
def built(model_dir, tmp_path_factory):
    """A private model dir with u2netp and its int8 file, built once for the module."""
    directory = tmp_path_factory.mktemp("models")
    shutil.copy(model_dir / "u2netp.onnx", directory / "u2netp.onnx")
    manifest = int8.build("u2netp", model_dir=directory)
    return directory, manifest


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_build_is_deterministic_and_recorded(built, tmp_path):
    directory, manifest = built
    int8_file = derived.derived_path("u2netp", directory)
    assert int8_file.name == "u2netp.int8.onnx"
    on_disk = json.loads(derived.manifest_path("u2netp", directory).read_text())
    assert on_disk == manifest
    assert manifest["source_sha256"] == registry.MODELS["u2netp"].sha256
    assert manifest["optimizer_version"] == derived.OPTIMIZER_VERSION
    assert manifest["sha256"] == _sha(int8_file)
    assert manifest["size_bytes"] == int8_file.stat().st_size
    # A second build from scratch, elsewhere, writes the very same bytes.
    shutil.copy(directory / "u2netp.onnx", tmp_path / "u2netp.onnx")
    again = int8.build("u2netp", model_dir=tmp_path)
    assert again["sha256"] == manifest["sha256"]
    assert (tmp_path / "u2netp.int8.onnx").read_bytes() == int8_file.read_bytes()


def test_derived_file_is_int8_with_one_output_and_float_sensitive_conv(built):
    directory, _ = built
    model_graph = onnx.load(str(derived.derived_path("u2netp", directory))).graph
    assert len(model_graph.output) == 1  # the six side outputs are gone
    ops = [node.op_type for node in model_graph.node]
    assert ops.count("QuantizeLinear") > 50 and ops.count("DequantizeLinear") > 100
    int8_weights = [
        init for init in model_graph.initializer if init.data_type == TensorProto.INT8 and init.dims
    ]
    assert len(int8_weights) > 100  # per-channel int8 conv weights
    names = {init.name for init in model_graph.initializer}
    # The one ill-conditioned conv (a ~1300 bias cancelled by its weights) kept its float weight.
    assert "2258" in names and "2258_quantized" not in names
    # ~3x smaller than the float source.
    assert (
        derived.derived_path("u2netp", directory).stat().st_size
        < 0.4 * (directory / "u2netp.onnx").stat().st_size
    )


def test_stale_or_damaged_file_is_refused_and_engine_falls_back(built, tmp_path, caplog):
    directory, _ = built
    spec = registry.MODELS["u2netp"]
    for name in ("u2netp.onnx", "u2netp.int8.onnx", "u2netp.int8.json"):
        shutil.copy(directory / name, tmp_path / name)
    source = tmp_path / "u2netp.onnx"
    cpu = ["CPUExecutionProvider"]
    assert derived.stale_reason("u2netp", tmp_path) is None
    assert derived.session_model(spec, source, cpu, full_hash=True) == tmp_path / "u2netp.int8.onnx"

    int8_file = tmp_path / "u2netp.int8.onnx"
    data = bytearray(int8_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    int8_file.write_bytes(bytes(data))
    assert "sha256" in (derived.stale_reason("u2netp", tmp_path) or "")
    with caplog.at_level(logging.WARNING, logger="cutout.engine"):
        assert derived.session_model(spec, source, cpu, full_hash=True) == source
    assert "u2netp.int8.onnx does not match its manifest" in caplog.text
    assert "fetch_models" in caplog.text

    manifest = json.loads((tmp_path / "u2netp.int8.json").read_text())
    manifest["source_sha256"] = "0" * 64  # built from another source
    (tmp_path / "u2netp.int8.json").write_text(json.dumps(manifest))
    assert "different source sha256" in (derived.stale_reason("u2netp", tmp_path) or "")
    int8_file.unlink()
    assert "not built" in (derived.stale_reason("u2netp", tmp_path) or "")


def test_int8_mattes_match_float_on_project_images(built, monkeypatch):
    """Through the whole engine: the int8 file and the float source give nearly the same matte."""
    directory, _ = built
    images = [
        subject_scene(480, 360, seed=11)[0],
        subject_scene(400, 400, seed=12, background="plain", subject_rgb=(40, 90, 200))[0],
        photo_like(900, 600, seed=13)[0],
    ]
    mattes = {}
    for setting in ("1", "0"):
        monkeypatch.setenv(derived.DISABLE_ENV, setting)
        sessions._config.sessions.pop(("u2netp", directory, 0), None)  # load per the setting
        mattes[setting] = [
            compute_matte(
                DecodedImage.from_pil(Image.fromarray(rgb)), pipeline="fast", model_dir=directory
            ).alpha
            for rgb in images
        ]
        # The source has u2netp's seven outputs, the int8 file only the one the engine reads.
        outputs = len(sessions.get_session("u2netp", directory).get_outputs())
        assert outputs == (1 if setting == "1" else 7)
    sessions._config.sessions.pop(("u2netp", directory, 0), None)
    for quantised, reference in zip(mattes["1"], mattes["0"], strict=True):
        fg_q, fg_r = quantised >= 128, reference >= 128
        assert fg_r.mean() > 0.05  # the float model found the subject
        assert (fg_q & fg_r).sum() / (fg_q | fg_r).sum() > 0.97
        diff = np.abs(quantised.astype(np.int16) - reference.astype(np.int16))
        assert diff.mean() < 3.0  # of 255


def test_installed_int8_files_match_their_sources(model_dir):
    """What fetch_models built in the real model dir: fresh, and close to float on a scene."""
    rgb = photo_like(800, 600, seed=21)[0]
    image = DecodedImage.from_pil(Image.fromarray(rgb))
    for name in derived.RECIPES:
        reason = derived.stale_reason(name, model_dir)
        assert reason is None, f"{name}: {reason}; run `python manage.py fetch_models`"
        spec = registry.MODELS[name]
        tensor = model_input(image, name)
        out = {}
        for path in (model_dir / spec.file, derived.derived_path(name, model_dir)):
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            output = sessions.output_name(session, spec)
            out[path.name] = session.run([output], {session.get_inputs()[0].name: tensor})[0]
        reference, quantised = out[spec.file], out[f"{name}.int8.onnx"]
        assert quantised.shape == reference.shape
        fg_r, fg_q = reference >= 0.5, quantised >= 0.5
        assert fg_r.mean() > 0.05
        assert (fg_q & fg_r).sum() / (fg_q | fg_r).sum() > 0.95, name
        assert float(np.abs(quantised - reference).mean()) < 0.02, name


def test_float16_graph_is_widened_and_pruned_to_its_first_output():
    """Graph surgery on a tiny float16-weight graph with a side output, like IMG.LY's ISNet."""
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((4, 3, 3, 3)).astype(np.float16)
    side = rng.standard_normal((2, 4, 1, 1)).astype(np.float16)
    nodes = [
        helper.make_node("Cast", ["x"], ["x16"], to=TensorProto.FLOAT16),
        helper.make_node("Conv", ["x16", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Sigmoid", ["r"], ["main16"]),
        helper.make_node("Cast", ["main16"], ["main"], to=TensorProto.FLOAT),
        helper.make_node("Conv", ["r", "s"], ["side16"]),
        helper.make_node("Cast", ["side16"], ["side"], to=TensorProto.FLOAT),
    ]
    tiny = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [
            helper.make_tensor_value_info("main", TensorProto.FLOAT, [1, 4, 8, 8]),
            helper.make_tensor_value_info("side", TensorProto.FLOAT, [1, 2, 8, 8]),
        ],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(side, "s")],
    )
    model = helper.make_model(tiny, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    before = ort.InferenceSession(model.SerializeToString()).run(["main"], {"x": x})[0]

    wide = graph.prepare_float_model(model)
    assert [o.name for o in wide.graph.output] == ["main"]
    assert all(init.data_type == TensorProto.FLOAT for init in wide.graph.initializer)
    assert [init.name for init in wide.graph.initializer] == ["w"]  # the side conv's weight went
    assert [node.op_type for node in wide.graph.node] == ["Conv", "Relu", "Sigmoid", "Cast"]
    after = ort.InferenceSession(wide.SerializeToString()).run(["main"], {"x": x})[0]
    np.testing.assert_allclose(after, before, atol=2e-3)  # float16 rounding of the activations


def test_percentile_range_is_exact_and_includes_zero():
    rng = np.random.default_rng(1)
    values = rng.standard_normal(2_000_000).astype(np.float32)
    values[:50] = 1000.0  # rare spikes, as ISNet's decoder makes in image corners
    low, high = calibration._percentile_range(values, 99.99)
    k = round((values.size - 1) * 0.9999)
    assert high == float(np.sort(values)[k]) and high < 10.0
    assert low == float(np.sort(values)[values.size - 1 - k])
    assert calibration._percentile_range(np.abs(values) + 1.0, 99.99)[0] == 0.0


def test_providers_from_environment():
    cpu = "CPUExecutionProvider"
    assert runtime.providers({}, [cpu]) == [cpu]
    # Asked for and not in this build: an error that says what to install, not a quiet CPU run.
    with pytest.raises(ProviderUnavailable, match="onnxruntime-gpu"):
        runtime.providers({runtime.PROVIDERS_ENV: "CUDAExecutionProvider"}, [cpu])
    gpu = ["CUDAExecutionProvider", cpu]
    env = {runtime.PROVIDERS_ENV: " CUDAExecutionProvider , CPUExecutionProvider"}
    assert runtime.providers(env, gpu) == gpu
    spec = registry.MODELS["u2netp"]
    source = registry.resolve_model_dir() / spec.file
    # On a GPU the float source runs: int8 QDQ graphs are a CPU optimisation.
    assert derived.session_model(spec, source, gpu, full_hash=False) == source
