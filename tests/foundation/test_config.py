"""Configuration comes from the environment and fails loudly when it is incoherent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from cutout import config

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "CUTOUT_ENV": "production",
    "SECRET_KEY": "k3Y-" + "abcdefghij0123456789" * 3,
    "ALLOWED_HOSTS": "cutout.example.com",
    "DATABASE_URL": "postgresql://u:p@db.internal:5432/cutout",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
}


def test_defaults_need_no_server(tmp_path: Path) -> None:
    db = config.database({}, tmp_path)
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "cutout.sqlite3")
    storages = config.storages({}, tmp_path / "media")
    assert storages["default"]["BACKEND"].endswith("FileSystemStorage")
    url, options = config.celery_broker({}, tmp_path)
    assert url == "filesystem://"
    assert options["data_folder_in"].startswith(str(tmp_path))
    # No event loop on the filesystem transport: reserve ahead, or each task waits 2 s.
    assert config.worker_prefetch(url) == 4
    assert config.worker_prefetch("redis://localhost:6379/0") == 1


def test_postgres_url_is_parsed(tmp_path: Path) -> None:
    db = config.database({"DATABASE_URL": "postgresql://u:p@h:5433/name"}, tmp_path)
    assert (db["ENGINE"], db["NAME"], db["HOST"], db["PORT"]) == (
        "django.db.backends.postgresql",
        "name",
        "h",
        5433,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "mysql://u:p@h/db"}, "must start with postgresql://"),
        ({"DATABASE_URL": "postgresql://u:p@h:5432"}, "names no database"),
    ],
)
def test_bad_database_urls_are_refused(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(config.ConfigError, match=message):
        config.database(env, tmp_path)


def test_s3_configuration(tmp_path: Path) -> None:
    env = {
        "CUTOUT_S3_BUCKET": "results",
        "CUTOUT_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "CUTOUT_S3_ACCESS_KEY_ID": "id",
        "CUTOUT_S3_SECRET_ACCESS_KEY": "secret",
    }
    default = config.storages(env, tmp_path)["default"]
    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    assert default["OPTIONS"]["bucket_name"] == "results"
    assert default["OPTIONS"]["querystring_auth"] is True  # never a public bucket
    assert default["OPTIONS"]["default_acl"] is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CUTOUT_S3_ENDPOINT_URL": "http://s3"}, "CUTOUT_S3_BUCKET is missing"),
        (
            {"CUTOUT_S3_BUCKET": "b", "CUTOUT_S3_ACCESS_KEY_ID": "id"},
            "SECRET_ACCESS_KEY is missing",
        ),
        ({"CUTOUT_S3_BUCKET": "b", "CUTOUT_S3_ENDPOINT_URL": "s3.local"}, "must start with http"),
    ],
)
def test_half_set_s3_fails_loudly(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(config.ConfigError, match=message):
        config.storages(env, tmp_path)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STRIPE_SECRET_KEY": "sk_test_1"}, "STRIPE_WEBHOOK_SECRET is missing"),
        ({"STRIPE_WEBHOOK_SECRET": "whsec_1"}, "STRIPE_SECRET_KEY is missing"),
        ({"STRIPE_SECRET_KEY": "pk_test_1", "STRIPE_WEBHOOK_SECRET": "whsec_1"}, "secret key"),
        ({"STRIPE_SECRET_KEY": "sk_test_1", "STRIPE_WEBHOOK_SECRET": "nope"}, "webhook secret"),
        ({"STRIPE_PUBLISHABLE_KEY": "pk_test_1"}, "STRIPE_SECRET_KEY is missing"),
    ],
)
def test_half_set_stripe_fails_loudly(env: dict[str, str], message: str) -> None:
    with pytest.raises(config.ConfigError, match=message):
        config.stripe(env)


def test_stripe_off_without_keys() -> None:
    assert config.stripe({})["secret_key"] == ""


def test_production_requires_a_real_secret_key(tmp_path) -> None:
    with pytest.raises(config.ConfigError, match="SECRET_KEY is required"):
        config.secret_key({}, "production", tmp_path)
    with pytest.raises(config.ConfigError, match="at least 50"):
        config.secret_key({"SECRET_KEY": "short"}, "production", tmp_path)
    assert not (tmp_path / config.SECRET_KEY_FILE).exists()  # production never makes one


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"DJANGO_DEBUG": "maybe"}, "is not a boolean"),
        ({"CUTOUT_ENV": "staging"}, "CUTOUT_ENV='staging' is unknown"),
        ({"CELERY_BROKER_URL": "amqp://x"}, "use redis://"),
    ],
)
def test_typos_stop_django_from_starting(env: dict[str, str], error: str) -> None:
    result = _manage(["check"], env)
    assert result.returncode != 0
    assert "Cutout configuration error" in result.stderr
    assert error in result.stderr


def test_check_deploy_is_clean_in_production() -> None:
    result = _manage(["check", "--deploy", "--fail-level", "WARNING"], PROD_ENV)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_without_allowed_hosts_fails() -> None:
    env = {k: v for k, v in PROD_ENV.items() if k != "ALLOWED_HOSTS"}
    result = _manage(["check"], env)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS is required" in result.stderr


def _manage(args: list[str], extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    keep = ("PATH", "HOME", "LANG", "PYTHONPATH", "CUTOUT_MODEL_DIR", "XDG_CACHE_HOME")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(extra)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cache_is_local_by_default_and_redis_when_configured() -> None:
    assert config.caches({})["default"]["BACKEND"].endswith("LocMemCache")
    redis_cache = config.caches({"CUTOUT_CACHE_URL": "redis://cache:6379/2"})["default"]
    assert redis_cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert redis_cache["LOCATION"] == "redis://cache:6379/2"
    with pytest.raises(config.ConfigError, match="CUTOUT_CACHE_URL"):
        config.caches({"CUTOUT_CACHE_URL": "memcached://x"})


@pytest.mark.redis
def test_redis_cache_is_shared_between_processes(redis_url: str) -> None:
    """Two separate processes see the same counter: what throttles rely on in production."""
    import uuid

    key = f"shared-counter-{uuid.uuid4().hex}"
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','cutout.settings');"
        "django.setup(); from django.core.cache import cache;"
        f"cache.add({key!r}, 0, 60); print(cache.incr({key!r}))"
    )
    env = {"CUTOUT_CACHE_URL": redis_url}
    first = _python(code, env)
    second = _python(code, env)
    assert (first, second) == ("1", "2")


def _python(code: str, extra: dict[str, str]) -> str:
    keep = ("PATH", "HOME", "LANG", "PYTHONPATH", "CUTOUT_MODEL_DIR", "XDG_CACHE_HOME")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(extra)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


# ---------------------------------------------------------------------------------------------
# Every variable checked at start-up (config.Reader)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CUTOUT_DEFAULT_PIPELINE": "fastest"}, "CUTOUT_DEFAULT_PIPELINE='fastest' is unknown"),
        ({"LOG_FORMAT": "jsn"}, "LOG_FORMAT='jsn' is unknown: use one of text, json"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL='loud' is unknown"),
        ({"EMAIL_PORT": "abc"}, "EMAIL_PORT='abc' is not an integer"),
        ({"EMAIL_PORT": "70000"}, "EMAIL_PORT=70000 is above its maximum of 65535"),
        ({"EMAIL_TIMEOUT": "0"}, "EMAIL_TIMEOUT=0 is below its minimum of 1"),
        ({"EMAIL_USE_TLS": "1", "EMAIL_USE_SSL": "1"}, "EMAIL_USE_TLS and EMAIL_USE_SSL"),
        ({"DEFAULT_FROM_EMAIL": "nobody"}, "DEFAULT_FROM_EMAIL='nobody' is not an email address"),
        ({"ADMINS": "ops"}, "ADMINS='ops': use comma-separated addresses"),
        ({"SITE_URL": "cutout.example.com"}, "SITE_URL='cutout.example.com' is not a URL"),
        ({"CUTOUT_SOURCE_URL": "ftp://x"}, "CUTOUT_SOURCE_URL='ftp://x' is not a URL"),
        ({"SENTRY_DSN": "nope"}, "SENTRY_DSN='nope' is not a URL"),
        ({"SENTRY_TRACES_SAMPLE_RATE": "2"}, "SENTRY_TRACES_SAMPLE_RATE='2' must be between"),
        ({"CUTOUT_FETCH_ALLOWED_NETWORKS": "10.0.0.0/8,intranet"}, "'intranet' is not a network"),
        ({"CUTOUT_WORKER_PRELOAD": "fast,quick"}, "CUTOUT_WORKER_PRELOAD: 'quick' unknown"),
        ({"CUTOUT_ORT_PROVIDERS": "CUDA"}, "'CUDA' is not an onnxruntime provider name"),
        ({"CUTOUT_METRICS_TOKEN": "short"}, "CUTOUT_METRICS_TOKEN must be at least 16"),
        ({"CUTOUT_RATELIMIT_REDIS_URL": "http://x"}, "CUTOUT_RATELIMIT_REDIS_URL='http://x'"),
        ({"CSRF_TRUSTED_ORIGINS": "cutout.example.com"}, "must start with http:// or https://"),
        (
            {"CUTOUT_S3_BUCKET": "b", "CUTOUT_S3_PUBLIC_ENDPOINT_URL": "s3.example.com"},
            "CUTOUT_S3_PUBLIC_ENDPOINT_URL",
        ),
        ({"CUTOUT_SOURCE_ARCHIVE": "/no/such/archive.tar.gz"}, "CUTOUT_SOURCE_ARCHIVE"),
    ],
)
def test_each_setting_is_checked_and_named(
    env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ImproperlyConfigured, match="Cutout configuration error") as raised:
        _settings(env, monkeypatch)
    assert message in str(raised.value)


def test_the_settings_module_loads_with_no_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = _settings({}, monkeypatch)
    assert loaded["CUTOUT_DEFAULT_PIPELINE"] == "best" and loaded["LOG_FORMAT"] == "text"
    assert loaded["EMAIL_PORT"] == 25 and loaded["EMAIL_TIMEOUT"] == 10
    assert loaded["EMAIL_BACKEND"] == "cutout.mail.QueuedEmailBackend"
    assert loaded["CUTOUT_UNKNOWN_VARIABLES"] == []


def _settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """cutout/settings.py evaluated against ``env`` alone, in this process (no Django start)."""
    import runpy

    monkeypatch.setattr(config, "os_environ", lambda: {"CUTOUT_DATA_DIR": str(ROOT / "var"), **env})
    return runpy.run_path(str(ROOT / "cutout" / "settings.py"))


def test_every_problem_is_reported_at_once() -> None:
    env = {"CUTOUT_DEFAULT_PIPELINE": "fastest", "LOG_FORMAT": "jsn", "EMAIL_PORT": "abc"}
    result = _manage(["check"], env)
    assert result.returncode != 0
    assert "3 problems" in result.stderr
    for name in env:
        assert f"  - {name}=" in result.stderr


def test_the_reader_keeps_defaults_and_parses_values() -> None:
    reader = config.Reader(
        {
            "A": " 7 ",
            "B": "yes",
            "C": "x, y,,z",
            "D": "0.25",
            "P": "Fast",
            "M": "Ops <o@x.io>, b@x.io",
        }
    )
    assert reader.integer("A", 1) == 7 and reader.integer("MISSING", 3) == 3
    assert reader.flag("B", False) is True and reader.items("C", []) == ["x", "y", "z"]
    assert reader.number("D", 0.0, maximum=1.0) == 0.25
    assert reader.pipeline("P", "best") == "fast"
    assert reader.addresses("M") == [("Ops", "o@x.io"), ("b@x.io", "b@x.io")]
    reader.check()  # nothing wrong
    assert {"A", "B", "C", "D", "P", "M", "MISSING"} <= reader.names


def test_an_unknown_cutout_variable_is_a_check_warning() -> None:
    result = _manage(["check"], {"CUTOUT_DEFAULT_PIPELNE": "fast"})
    assert result.returncode == 0, result.stderr
    assert "cutout.W001" in result.stderr + result.stdout
    assert (
        "CUTOUT_DEFAULT_PIPELNE is set but is not a Cutout setting" in result.stderr + result.stdout
    )


def test_the_readme_table_names_only_variables_the_settings_read() -> None:
    """One place for each fact: the README's table and the settings agree."""
    import re

    from django.conf import settings

    assert settings.CUTOUT_UNKNOWN_VARIABLES == []
    table = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    reader = config.Reader({})
    code = (ROOT / "cutout" / "settings.py").read_text()
    read = (
        set(re.findall(r'"([A-Z][A-Z0-9_]{2,})"', code))
        | set(config.S3_VARS)
        | set(config.STRIPE_VARS)
    )
    gunicorn = (ROOT / "cutout" / "gunicorn_conf.py").read_text()
    read |= set(re.findall(r'"(CUTOUT_[A-Z0-9_]+)"', gunicorn))
    read |= {
        config.S3_PUBLIC,
        "STRIPE_API_BASE",
        "DATABASE_CONN_MAX_AGE",
        "CELERY_VISIBILITY_TIMEOUT",
    }
    assert reader.problems == []
    assert documented - read == set(), "documented but never read"


def test_every_variable_the_settings_read_is_in_the_readme_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other direction: a new setting cannot go undocumented."""
    import re

    table = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    read = _settings({}, monkeypatch)["env"].names  # type: ignore[attr-defined]
    # Test-only knobs: eager tasks for the suite, the Stripe stand-in's address.
    assert read - documented == {"CELERY_TASK_ALWAYS_EAGER", "STRIPE_API_BASE"}


def test_the_web_servers_variables_are_not_reported_as_unknown() -> None:
    """gunicorn_conf reads its own variables before Django starts: cutout.W001 must not call
    them typos."""
    import re

    gunicorn = (ROOT / "cutout" / "gunicorn_conf.py").read_text()
    names = set(re.findall(r'_number\("(CUTOUT_[A-Z0-9_]+)"', gunicorn))
    assert names and names <= set(config.NOT_SETTINGS)
