"""The prepared GPU benchmark (cutout.tools.gpu_bench) on this CPU-only machine.

It is the script a session with the accelerator runs once; here it must refuse CUDA loudly (this
is the CPU build of onnxruntime) and run end to end on the CPU provider. No timing is asserted.
"""

from __future__ import annotations

import onnx
import pytest

from cutout.engine import MODELS, runtime
from cutout.tools import gpu_bench


def test_cuda_on_a_cpu_build_stops_the_run_with_the_reason(monkeypatch, capsys):
    monkeypatch.setenv(runtime.PROVIDERS_ENV, "")
    assert gpu_bench.main(["--providers", "CUDAExecutionProvider", "--images", "1"]) == 2
    err = capsys.readouterr().err
    assert "CUDAExecutionProvider" in err and "onnxruntime-gpu" in err


def test_free_batch_makes_the_batch_dimension_symbolic(model_dir):
    model = gpu_bench.free_batch(onnx.load(str(model_dir / MODELS["u2netp"].file)))
    for info in (*model.graph.input, *model.graph.output):
        dims = info.type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch" and not dims[0].HasField("dim_value")
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]] == [
        3,
        320,
        320,
    ]


@pytest.mark.slow
def test_the_script_runs_on_the_cpu_provider(monkeypatch, capsys):
    monkeypatch.setenv(runtime.PROVIDERS_ENV, "")
    argv = ["--providers", "CPUExecutionProvider", "--pipeline", "fast", "--images", "2"]
    argv += ["--size", "320x240", "--concurrency", "2", "--batch", "2", "--runs", "1"]
    assert gpu_bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "pipeline fast on CPUExecutionProvider" in out
    assert "end to end, 1 in flight:" in out and "end to end, 2 in flight:" in out
    assert "total=" in out and "inference=" in out
    # u2netp batches: a batch of two gives each row what a single run gives (else "differ").
    line = next(line for line in out.splitlines() if line.startswith("u2netp"))
    assert "batch 2:" in line and "images/s" in line.split("batch 2:")[1], line
