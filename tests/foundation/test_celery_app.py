"""The Celery app is made at Django start-up (not on ``import cutout``) and is the one tasks use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A fresh Django process that never imports cutout.celery itself, as a web server would be.
PROBE = """
import json, sys
import django
django.setup()
from celery import current_app
from cutout import tasks
app = current_app._get_current_object()
shared = [getattr(tasks, n) for n in dir(tasks) if hasattr(getattr(tasks, n), "delay")]
print(json.dumps({
    "loaded": "cutout.celery" in sys.modules,
    "current_is_ours": app is getattr(sys.modules.get("cutout.celery"), "app", None),
    "tasks": sorted(t.name for t in shared if t.app is app),
    "all_tasks": len(shared),
    "broker": app.conf.broker_url,
}))
"""


def test_django_start_up_makes_our_app_the_one_tasks_publish_with(settings):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cutout.settings"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["loaded"] and report["current_is_ours"]
    assert report["all_tasks"] >= 4 and len(report["tasks"]) == report["all_tasks"]
    assert "cutout.tasks.webhooks_due" in report["tasks"]
    assert report["broker"] == settings.CELERY_BROKER_URL


def test_celery_dash_a_cutout_finds_the_app():
    """``celery -A cutout worker`` resolves ``cutout`` the way this does (the package has no app
    attribute any more, so Celery falls back to ``cutout.celery.app``)."""
    from celery.app.utils import find_app

    from cutout.celery import app

    assert find_app("cutout") is app


def test_a_worker_asked_for_a_missing_gpu_does_not_start(monkeypatch):
    from cutout import celery
    from cutout.engine import runtime

    monkeypatch.setenv(runtime.PROVIDERS_ENV, "CUDAExecutionProvider")
    # SystemExit, not an Exception: Celery's signal dispatch logs and swallows the latter, and
    # the worker would start and then fail every task.
    with pytest.raises(SystemExit, match=r"cutout worker not started.*onnxruntime-gpu"):
        celery._on_worker_init(sender=None)
