"""The load benchmark (cutout.tools.load_bench): its figures, and one bounded real run.

No timing is asserted (timings are the benchmark's output, not a test's pass mark): the test
checks that the run talks to real servers, counts what it sent and reads back what they did.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cutout.tools import load_bench


def test_percentiles_pick_ranks_of_the_sorted_values():
    values = [float(v) for v in (5, 1, 4, 2, 3, 10, 9, 8, 7, 6)]
    assert load_bench._percentile(values, 50) == 5.0  # rank round(0.5 * 9) = 4: the 5th of 1..10
    assert load_bench._percentile(values, 95) == 10.0
    assert load_bench._percentile([], 50) != load_bench._percentile([], 50)  # nan


def test_figures_count_errors_and_overhead_over_engine_time():
    rows: list[dict[str, Any]] = [
        {"ok": True, "status": 201, "s": 1.1, "engine_ms": 1000.0},
        {"ok": True, "status": 201, "s": 1.3, "engine_ms": 1000.0},
        {"ok": False, "status": 503, "s": 0.1},
        {"ok": False, "status": "ConnectError", "s": 0.2},
    ]
    figures = load_bench._figures(rows, elapsed=2.0)
    assert figures["requests"] == 4 and figures["rps"] == 2.0
    assert figures["error_rate"] == 0.5
    assert figures["errors"] == ["503", "ConnectError"]
    assert figures["engine_ms_median"] == 1000.0
    assert figures["overhead_median"] == pytest.approx(0.2)  # median of 10 % and 30 %


def test_engine_time_is_the_engine_stages_of_the_response():
    body = {"metadata": {"timings_ms": {"decode": 5, "matte": 100, "layout": 10, "encode": 20}}}
    assert load_bench._engine_ms(body) == 135.0
    assert load_bench._engine_ms({}) == 0.0


@pytest.mark.slow
def test_a_bounded_run_against_two_real_workers(tmp_path, capsys):
    out = tmp_path / "figures.json"
    argv = ["--pipeline", "fast", "--clients", "1,2", "--requests", "1", "--size", "480x360"]
    assert load_bench.main([*argv, "--setups", "prod2", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())["prod2"]
    assert [row["clients"] for row in figures] == [1, 2]
    assert [row["requests"] for row in figures] == [1, 2]
    assert all(row["error_rate"] == 0.0 for row in figures), figures
    # The gunicorn master and its two workers, each with the model loaded (tens of MB at least).
    assert all(len(row["rss_mb"]) == 3 for row in figures)
    assert all(sorted(row["rss_mb"])[-2] > 50 for row in figures)
    assert figures[0]["engine_ms_median"] > 0 and figures[0]["overhead_median"] is not None
    printed = capsys.readouterr().out
    assert "prod2    1    1" in printed and "HTTP overhead" in printed
