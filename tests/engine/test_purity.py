"""``import cutout.engine`` loads no Django and no Celery, and running it does not either."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter, started without DJANGO_SETTINGS_MODULE.
PROBE = """
import io, json, os, pkgutil, sys, importlib

def foreign():
    return sorted(m for m in sys.modules if m.split(".")[0] in ("django", "celery"))

import cutout.engine as engine
after_import = {"foreign": foreign(), "settings": os.environ.get("DJANGO_SETTINGS_MODULE")}

from PIL import Image
buffer = io.BytesIO()
Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "PNG")
result = engine.process(buffer.getvalue(), engine.Options(pipeline="fast"))
image = engine.decode_image(buffer.getvalue())
matte = engine.compute_matte(image, pipeline="fast")
stored = engine.stored_matte_png(image, matte)
engine.render(engine.decoded_from_stored_matte(stored), engine.matte_from_png(stored),
              engine.Options(mode="mask"))
after_run = {
    "foreign": foreign(),
    "setup": sorted(m for m in sys.modules if m.startswith("cutout.engine.setup")),
    "format": result.content_type,
}

names = [m.name for m in pkgutil.walk_packages(engine.__path__, "cutout.engine.")]
for name in names:
    importlib.import_module(name)
after_all = {"foreign": foreign(), "modules": names}
print(json.dumps({"import": after_import, "run": after_run, "all": after_all}))
"""


def test_engine_imports_and_runs_without_django_or_celery(model_dir):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["CUTOUT_MODEL_DIR"] = str(model_dir)
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["import"] == {"foreign": [], "settings": None}
    assert report["run"] == {"foreign": [], "setup": [], "format": "image/png"}
    # Every engine module, the setup package included, imports without them too.
    assert "cutout.engine.setup.int8" in report["all"]["modules"]
    assert "cutout.engine.sessions" in report["all"]["modules"]
    assert report["all"]["foreign"] == []
