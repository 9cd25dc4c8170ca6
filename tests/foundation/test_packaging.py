"""``pip install .`` makes a working Cutout: every package, the templates and static files, and
the ``cutout`` command, run from outside the checkout.

The wheel is built from this tree and installed, without dependencies, into a fresh venv that
borrows this environment's installed dependencies (a ``.pth`` file), so the test checks the
package itself in seconds. The container image installs the same way into a venv of its own
with the locked runtime set (Dockerfile), and the container test runs ``cutout remove`` there.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "static" / "img" / "landing" / "before.jpg"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_of_the_tree_is_listed() -> None:
    """A new package that pyproject.toml does not list would be missing from the wheel."""
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = set(find_packages(str(ROOT), include=["cutout*", "accounts*", "billing*"]))
    assert listed - found == {"cutout.site.templates", "cutout.site.static"}
    assert found - listed == set()


def test_the_runtime_set_carries_no_unused_heavyweights() -> None:
    names = {
        line.split("==")[0].strip().lower()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    }
    assert {"django", "celery", "kombu", "redis", "onnxruntime"} <= names
    assert not names & {"pymatting", "numba", "llvmlite", "moto"}
    dev = (ROOT / "requirements-dev.txt").read_text()
    assert "--hash=sha256:" in dev and "\nmoto==" not in dev and "\nflask==" not in dev


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("install")
    wheels = work / "wheels"
    # Built from a copy: setuptools writes build/ and *.egg-info/ next to the sources.
    tree = work / "tree"
    shutil.copytree(
        ROOT,
        tree,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "var", "node_modules", "build", "*.egg-info", "__pycache__", "tests"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(wheels),
            str(tree),
        ],
        check=True,
        timeout=600,
    )
    (wheel,) = wheels.glob("cutout-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"cutout/site/templates/base.html", "cutout/site/static/img/landing/before.jpg"} <= names
    assert not any(name.startswith(("tests/", "templates/", "static/")) for name in names)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
        timeout=300,
    )
    return venv


def _cutout(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: os.environ[key]
        for key in ("PATH", "HOME", "LANG", "CUTOUT_MODEL_DIR")
        if key in os.environ
    }
    env["XDG_DATA_HOME"] = str(cwd / "data")
    return subprocess.run(
        [str(venv / "bin" / "cutout"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_the_installed_command_removes_a_background(installed: Path, tmp_path: Path) -> None:
    helped = _cutout(installed, tmp_path, "--help")
    assert helped.returncode == 0, helped.stderr
    for command in ("remove", "serve", "worker", "fetch-models", "setup"):
        assert command in helped.stdout
    out = tmp_path / "out.png"
    done = _cutout(installed, tmp_path, "remove", str(PHOTO), "-o", str(out), "--pipeline", "fast")
    assert done.returncode == 0, done.stderr
    image = Image.open(io.BytesIO(out.read_bytes()))
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (960, 720))
    assert image.getchannel("A").getextrema() == (0, 255)


@pytest.mark.slow
def test_the_installed_package_finds_its_templates_and_keeps_data_outside(
    installed: Path, tmp_path: Path
) -> None:
    code = (
        "import cutout, django.conf as c; from django.template.loader import get_template; "
        "get_template('landing.html'); s = c.settings; "
        "print(cutout.__file__); print(s.DATA_DIR); print(s.STATICFILES_DIRS[0])"
    )
    shown = _cutout(installed, tmp_path, "manage", "shell", "-c", code)
    assert shown.returncode == 0, shown.stderr
    module, data_dir, static = shown.stdout.strip().splitlines()[-3:]
    assert module.startswith(str(installed)) and not module.startswith(str(ROOT))
    assert data_dir == str(tmp_path / "data" / "cutout")
    assert static.endswith("cutout/site/static") and Path(static, "img", "landing").is_dir()
    checked = _cutout(installed, tmp_path, "manage", "check")
    assert checked.returncode == 0, checked.stderr


def test_serve_runs_gunicorn_with_the_projects_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """``cutout serve`` gets the slow-client limits of cutout/gunicorn_conf.py, not gunicorn's
    defaults, and no gunicorn access log (ours redacts query strings)."""
    from cutout import cli

    ran: list[list[str]] = []

    def run(program: list[str]) -> int:
        ran.append(program)
        return 0

    monkeypatch.setattr(cli, "_exec", run)
    monkeypatch.setattr(cli, "_metrics_dir", lambda kind: None)
    assert cli.main(["serve", "--bind", "0.0.0.0:8000", "--workers", "3"]) == 0
    (program,) = ran
    assert program[1:5] == ["-m", "gunicorn", "-c", "python:cutout.gunicorn_conf"]
    assert program[program.index("--access-logfile") + 1] == os.devnull
    assert program[program.index("--workers") + 1] == "3"
    assert program[program.index("--bind") + 1] == "0.0.0.0:8000"
