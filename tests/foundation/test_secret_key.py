"""Without SECRET_KEY, a random key is made on first start and kept (mode 0600) under the data
folder: never a constant, the same for every process and across restarts (issue 17, item 4)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cutout import config

ROOT = Path(__file__).resolve().parents[2]


def test_a_random_key_is_made_once_and_kept(tmp_path: Path) -> None:
    key = config.secret_key({}, "dev", tmp_path)
    path = tmp_path / config.SECRET_KEY_FILE
    assert len(key) >= 50 and len(set(key)) > 20
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config.secret_key({}, "dev", tmp_path) == key  # the next start reads the same one
    assert config.secret_key({}, "test", tmp_path / "other") != key  # another install: another
    assert "insecure" not in key
    # No temporary candidate is left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([config.SECRET_KEY_FILE, "other"])


def test_a_key_from_the_environment_wins(tmp_path: Path) -> None:
    assert config.secret_key({"SECRET_KEY": "from-env"}, "dev", tmp_path) == "from-env"
    assert not (tmp_path / config.SECRET_KEY_FILE).exists()


def test_an_unusable_data_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(config.ConfigError, match="set SECRET_KEY"):
        config.secret_key({}, "dev", blocker / "data")


def test_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from cutout import config; "
        "print(config.persisted_secret(Path(sys.argv[1])))"
    )
    target = tmp_path / "data" / config.SECRET_KEY_FILE
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(target)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    keys = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert len(keys) == 1 and len(keys.pop()) >= 50
    assert [p.name for p in target.parent.iterdir()] == [config.SECRET_KEY_FILE]


def test_settings_keep_the_key_and_the_api_key_pepper_across_restarts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "CUTOUT_KEY_PEPPER")}
    env.update({"CUTOUT_DATA_DIR": str(tmp_path), "CUTOUT_ENV": "dev"})
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.SECRET_KEY, settings.CUTOUT_KEY_PEPPER)"
    )

    def start() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "cutout.settings"},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout.split()

    first, second = start(), start()
    assert first == second  # API keys hashed with the pepper stay valid after a restart
    assert first[0] == first[1] == (tmp_path / config.SECRET_KEY_FILE).read_text().strip()
