"""The CLI benchmark (cutout.tools.cli_bench): real ``manage.py cutout`` runs over a folder."""

from __future__ import annotations

import pytest

from cutout.tools import cli_bench


@pytest.mark.slow
def test_the_three_runs_write_every_output(capsys):
    # main() itself checks that the folder run wrote one PNG per input, and fails otherwise.
    assert cli_bench.main(["--images", "2", "--size", "320x240", "--pipeline", "fast"]) == 0
    out = capsys.readouterr().out
    assert "over 2 JPEGs of 320x240" in out
    assert "--jobs 1:" in out and "default (--jobs" in out and "x one job" in out
    assert "--skip-existing:" in out and "for 2 existing outputs" in out


def test_a_failing_run_stops_the_bench_with_its_output(tmp_path):
    with pytest.raises(SystemExit, match="failed"):
        cli_bench._run(tmp_path / "missing", tmp_path / "out", ["--pipeline", "fast"], {})
