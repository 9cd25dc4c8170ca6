"""A GPU that was asked for and cannot run is an error, never a quiet run on the CPU.

This machine has no GPU and the CPU build of onnxruntime: exactly the set-up in which rembg and
onnxruntime itself fall back to the CPU with a log line nobody reads.
"""

from __future__ import annotations

import onnxruntime as ort
import pytest

from cutout.engine import ProviderUnavailable, compute_matte, runtime, sessions
from cutout.engine.errors import ModelMissing

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


@pytest.fixture
def fresh_sessions():
    """Sessions made inside the test are dropped after it (and none of the suite's are used)."""
    saved = dict(sessions._config.sessions)
    sessions._config.sessions.clear()
    yield
    sessions._config.sessions.clear()
    sessions._config.sessions.update(saved)


def test_cuda_asked_for_on_a_cpu_build_stops_the_matte(
    monkeypatch, scene_image, model_dir, fresh_sessions
):
    assert CUDA not in ort.get_available_providers()  # the point of this test: a CPU build
    monkeypatch.setenv(runtime.PROVIDERS_ENV, f"{CUDA},{CPU}")
    with pytest.raises(ProviderUnavailable) as caught:
        compute_matte(scene_image, pipeline="fast", model_dir=model_dir)
    assert CUDA in caught.value.message and "onnxruntime-gpu" in caught.value.message
    # Callers treat it as the service being unable to process (model_missing's family).
    assert isinstance(caught.value, ModelMissing) and caught.value.code == "provider_unavailable"
    assert not sessions._config.sessions  # nothing was left running on the CPU instead


def test_a_session_that_lost_its_gpu_is_refused(
    monkeypatch, scene_image, model_dir, fresh_sessions
):
    """The GPU build with CUDA's libraries missing: onnxruntime creates the session anyway and
    runs it on the CPU. Simulated by letting the request through the build check, so that the
    real onnxruntime session is created with CUDA first and comes back without it."""
    monkeypatch.setattr(runtime, "providers", lambda *args, **kwargs: [CUDA, CPU])
    with pytest.raises(ProviderUnavailable, match="could not start CUDAExecutionProvider"):
        compute_matte(scene_image, pipeline="fast", model_dir=model_dir)


def test_cpu_only_still_runs(monkeypatch, scene_image, model_dir, fresh_sessions):
    monkeypatch.setenv(runtime.PROVIDERS_ENV, CPU)
    assert runtime.check_providers() == [CPU]
    assert compute_matte(scene_image, pipeline="fast", model_dir=model_dir).coverage > 0.05


def test_callers_answer_it_as_a_missing_model():
    """One error table: the service's answer (an outage, 503 with Retry-After in the API) is the
    one for model_missing, while the code in logs says what is really wrong."""
    from cutout.errors import ERRORS, meaning_of

    found = meaning_of(ProviderUnavailable("CUDA is not there"))
    assert found is not None
    code, meaning = found
    assert code == "provider_unavailable" and meaning is ERRORS["model_missing"]
