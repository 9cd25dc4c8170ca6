import io
import shutil

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image


@pytest.fixture
def folder(tmp_path, scene_png, scene_jpeg):
    src = tmp_path / "in"
    (src / "nested").mkdir(parents=True)
    (src / "one.png").write_bytes(scene_png)
    (src / "nested" / "two.jpg").write_bytes(scene_jpeg)
    (src / "notes.txt").write_text("not an image, and not picked up")
    return src


def test_folder_in_mask_mode_writes_scoreable_masks(folder, tmp_path, model_dir, settings):
    settings.CUTOUT_MODEL_DIR = model_dir
    out = tmp_path / "out"
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(
        "cutout",
        str(folder),
        "-o",
        str(out),
        "--mode",
        "mask",
        "--pipeline",
        "fast",
        stdout=stdout,
        stderr=stderr,
    )
    one = Image.open(out / "one.png")
    two = Image.open(out / "nested" / "two.png")
    assert one.mode == "L" and one.size == (320, 240) and two.size == (320, 240)
    assert np.asarray(one)[130, 160] > 200 and np.asarray(one)[0, 0] < 20
    assert "2 of 2 done" in stdout.getvalue()
    assert "2/2" in stderr.getvalue()  # progress


def test_failures_get_one_line_each_and_a_non_zero_exit(folder, tmp_path, model_dir, settings):
    settings.CUTOUT_MODEL_DIR = model_dir
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out = tmp_path / "out"
    stderr = io.StringIO()
    with pytest.raises(CommandError, match="1 input"):
        call_command(
            "cutout",
            str(folder),
            "-o",
            str(out),
            "--pipeline",
            "fast",
            "--format",
            "webp",
            stderr=stderr,
            stdout=io.StringIO(),
        )
    failures = [line for line in stderr.getvalue().splitlines() if line.startswith("FAILED")]
    assert len(failures) == 1 and "broken.jpg" in failures[0] and "invalid_image" in failures[0]
    assert Image.open(out / "one.webp").mode == "RGBA"  # the good ones are still written


def test_single_file_to_a_named_output(tmp_path, scene_png, model_dir, settings):
    settings.CUTOUT_MODEL_DIR = model_dir
    source = tmp_path / "photo.png"
    source.write_bytes(scene_png)
    target = tmp_path / "result.jpg"
    call_command(
        "cutout",
        str(source),
        "-o",
        str(target),
        "--pipeline",
        "fast",
        "--format",
        "jpg",
        "--mode",
        "background",
        "--bg-color",
        "#00ff00",
        "--crop",
        "--crop-margin",
        "5px",
        "--size",
        "preview",
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    image = Image.open(target)
    assert image.format == "JPEG" and max(image.size) <= 256
    r, g, _b = np.asarray(image)[0, 0]
    assert g > 230 and r < 30


def test_bad_options_and_list_models(tmp_path, settings, model_dir):
    settings.CUTOUT_MODEL_DIR = model_dir
    with pytest.raises(CommandError, match="bg_color"):
        call_command("cutout", str(tmp_path), "--bg-color", "blurple", stdout=io.StringIO())
    out = io.StringIO()
    call_command("cutout", "--list-models", stdout=out)
    text = out.getvalue()
    assert "u2netp" in text and "isnet" in text and "licence" in text and "pipeline best" in text


def test_fetch_models_command_reports_present_models(model_dir, tmp_path, settings):
    target = tmp_path / "models"
    target.mkdir()
    shutil.copy(model_dir / "u2netp.onnx", target / "u2netp.onnx")
    settings.CUTOUT_MODEL_DIR = target
    out = io.StringIO()
    call_command("fetch_models", "--only", "u2netp", stdout=out)
    assert "u2netp: present" in out.getvalue()


def test_two_jobs_write_what_one_job_writes(folder, tmp_path, model_dir, settings):
    settings.CUTOUT_MODEL_DIR = model_dir
    outputs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        stdout = io.StringIO()
        call_command(
            "cutout", str(folder), "-o", str(out), "--mode", "mask", "--pipeline", "fast",
            "--jobs", jobs, stdout=stdout, stderr=io.StringIO(),
        )  # fmt: skip
        assert "2 of 2 done" in stdout.getvalue()
        assert ("2 workers" in stdout.getvalue()) == (jobs == "2")
        outputs[jobs] = [
            np.asarray(Image.open(out / name)) for name in ("one.png", "nested/two.png")
        ]
    for single, pooled in zip(outputs["1"], outputs["2"], strict=True):
        # Same pixels whatever the thread count: at most a rounding step apart.
        assert np.abs(single.astype(int) - pooled.astype(int)).max() <= 2


def test_skip_existing_leaves_finished_outputs_alone(folder, tmp_path, model_dir, settings):
    settings.CUTOUT_MODEL_DIR = model_dir
    out = tmp_path / "out"
    (out / "nested").mkdir(parents=True)
    (out / "one.png").write_bytes(b"already here")
    stdout = io.StringIO()
    call_command(
        "cutout", str(folder), "-o", str(out), "--pipeline", "fast", "--skip-existing",
        "--jobs", "1", stdout=stdout, stderr=io.StringIO(),
    )  # fmt: skip
    assert (out / "one.png").read_bytes() == b"already here"
    assert Image.open(out / "nested" / "two.png").mode == "RGBA"
    assert "1 of 1 done" in stdout.getvalue() and "1 skipped" in stdout.getvalue()
    assert not list(out.rglob("*.part"))


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_is_plain_text_on_a_terminal(folder, tmp_path, model_dir, settings):
    from cutout.management.commands.cutout import Command

    settings.CUTOUT_MODEL_DIR = model_dir
    terminal = _Terminal()
    # As on a real terminal: the command's own stderr, with Django's colours on.
    command = Command(stderr=terminal, force_color=True)
    call_command(
        command, str(folder), "-o", str(tmp_path / "out"), "--pipeline", "fast", "--jobs", "1",
        stdout=io.StringIO(),
    )  # fmt: skip
    text = terminal.getvalue()
    assert "\r\x1b[K[" in text and "2/2 100%" in text
    # No colour or bold codes: Django's error style (ESC[31;1m) used to paint the bar red.
    assert "\x1b[31" not in text and ";1m" not in text
