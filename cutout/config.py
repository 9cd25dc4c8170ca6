"""Reading and validating configuration from environment variables.

Every function here takes the environment as a mapping so that tests can check validation without
touching ``os.environ``. Problems raise :class:`ConfigError` with a message that names the
variable and says what to do, so a typo'd deployment fails at start-up instead of on first use.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import dj_database_url

from cutout.engine.names import PIPELINE_NAMES
from cutout.engine.registry import default_model_dir as engine_model_dir

T = TypeVar("T")

ENVIRONMENTS = ("dev", "test", "production")
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}

S3_VARS = (
    "CUTOUT_S3_BUCKET",
    "CUTOUT_S3_ENDPOINT_URL",
    "CUTOUT_S3_ACCESS_KEY_ID",
    "CUTOUT_S3_SECRET_ACCESS_KEY",
    "CUTOUT_S3_REGION",
)
# Presigned URLs name the host a browser reaches (a compose stack's S3 is http://s3:9000 inside).
S3_PUBLIC = "CUTOUT_S3_PUBLIC_ENDPOINT_URL"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# CUTOUT_ variables that are not settings: the test suite's servers, the compose file's knobs and
# the CLI's own. Anything else starting with CUTOUT_ that no setting reads is reported (a typo).
NOT_SETTINGS = (
    "CUTOUT_TEST_REDIS_URL",
    "CUTOUT_TEST_S3_ENDPOINT",
    "CUTOUT_TEST_COMPOSE",
    "CUTOUT_CHROMIUM",
    "CUTOUT_BIND",
    "CUTOUT_PORT",
    "CUTOUT_WORKERS",
    "CUTOUT_IMAGE",
    "CUTOUT_BASE_IMAGE",
    "CUTOUT_BIND_ADDRESS",
    # read by cutout/gunicorn_conf.py, before Django starts
    "CUTOUT_HEADER_TIMEOUT",
    "CUTOUT_BODY_TIMEOUT",
    "CUTOUT_BODY_MIN_RATE",
    "CUTOUT_MAX_BODY_BYTES",
)
STRIPE_VARS = ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_PUBLISHABLE_KEY")


class ConfigError(Exception):
    """The environment describes a configuration Cutout cannot run with."""


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(
        f"{name}={raw!r} is not a boolean: use one of 1/0, true/false, yes/no, on/off."
    )


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer.") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} is below its minimum of {minimum}.")
    return value


def env_list(env: Mapping[str, str], name: str, default: list[str]) -> list[str]:
    raw = env.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def environment_name(env: Mapping[str, str]) -> str:
    name = env.get("CUTOUT_ENV", "dev").strip().lower()
    if name not in ENVIRONMENTS:
        raise ConfigError(f"CUTOUT_ENV={name!r} is unknown: use one of {', '.join(ENVIRONMENTS)}.")
    return name


def secret_key(env: Mapping[str, str], environment: str, data_dir: Path) -> str:
    """``SECRET_KEY`` from the environment; without it (not in production) the one kept in
    ``<data dir>/secret_key``, made at random on first start. Never a constant."""
    key = env.get("SECRET_KEY", "")
    if key:
        if environment == "production" and (len(key) < 50 or len(set(key)) < 5):
            raise ConfigError(
                "SECRET_KEY must be at least 50 characters with 5 or more distinct ones in production."
            )
        return key
    if environment == "production":
        raise ConfigError(
            "SECRET_KEY is required when CUTOUT_ENV=production. Generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    try:
        return persisted_secret(data_dir / SECRET_KEY_FILE)
    except OSError as exc:
        raise ConfigError(
            f"SECRET_KEY is not set and {data_dir / SECRET_KEY_FILE} could not be made or read "
            f"({exc.strerror or exc}): set SECRET_KEY, or make CUTOUT_DATA_DIR writable."
        ) from None


SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)


def persisted_secret(path: Path) -> str:
    """The key in ``path``; made first (random, mode 0600) when there is none.

    Several processes may start at once (gunicorn workers, a Celery worker): each writes its own
    candidate to a private temporary file and publishes it with ``link``, which fails when the
    name exists, so exactly one candidate wins and every process reads that one, complete. The
    key stays the same across restarts, so sessions, signed links and API-key hashes (whose
    pepper defaults to it) stay valid.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _publish_secret(path, secrets.token_urlsafe(50))
    for _ in range(40):  # a racing writer without link() may still be writing its key
        key = path.read_text().strip()
        if len(key) >= 50:
            return key
        time.sleep(0.05)
    raise ConfigError(f"{path} holds no usable key: delete it, or set SECRET_KEY.")


def _publish_secret(path: Path, key: str) -> None:
    candidate = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass  # another process won: its key is the one
        except OSError:  # a file system without hard links: create the name exclusively
            with contextlib.suppress(FileExistsError):
                out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(out, "w") as handle:
                    handle.write(key + "\n")
    finally:
        candidate.unlink(missing_ok=True)


def database(env: Mapping[str, str], data_dir: Path) -> dict[str, Any]:
    url = env.get("DATABASE_URL", "").strip()
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(data_dir / "cutout.sqlite3"),
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
        }
    if not url.startswith(("postgres://", "postgresql://", "sqlite://")):
        raise ConfigError(
            f"DATABASE_URL must start with postgresql:// (or sqlite://), got {url.split(':', 1)[0]!r}."
        )
    try:
        max_age = env_int(env, "DATABASE_CONN_MAX_AGE", 60)
        config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=max_age))
    except ValueError as exc:
        raise ConfigError(f"DATABASE_URL could not be parsed: {exc}") from None
    if config["ENGINE"].endswith("postgresql") and not config.get("NAME"):
        raise ConfigError("DATABASE_URL names no database: add /DBNAME at the end of the URL.")
    return config


def storages(env: Mapping[str, str], media_root: Path) -> dict[str, Any]:
    """FileSystemStorage by default; S3 when the CUTOUT_S3_* variables say so.

    A half-set S3 configuration (say, a bucket without credentials) is an error rather than a
    silent fall-back to the local disk.
    """
    static = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}
    present = {name for name in S3_VARS if env.get(name, "").strip()}
    if not present:
        return {
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(media_root)},
            },
            "staticfiles": static,
        }
    if "CUTOUT_S3_BUCKET" not in present:
        raise ConfigError(
            f"S3 is half-configured: {', '.join(sorted(present))} set but CUTOUT_S3_BUCKET is missing."
        )
    keys = {"CUTOUT_S3_ACCESS_KEY_ID", "CUTOUT_S3_SECRET_ACCESS_KEY"}
    if len(keys & present) == 1:
        missing = (keys - present).pop()
        raise ConfigError(
            f"S3 is half-configured: {missing} is missing (set both keys or neither)."
        )
    endpoint = env.get("CUTOUT_S3_ENDPOINT_URL", "").strip() or None
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise ConfigError(
            f"CUTOUT_S3_ENDPOINT_URL={endpoint!r} must start with http:// or https://."
        )
    options: dict[str, Any] = {
        "bucket_name": env["CUTOUT_S3_BUCKET"].strip(),
        "region_name": env.get("CUTOUT_S3_REGION", "").strip() or "us-east-1",
        "endpoint_url": endpoint,
        "default_acl": None,
        "querystring_auth": True,
        "querystring_expire": 24 * 3600,
        "file_overwrite": False,
        "signature_version": "s3v4",
        "addressing_style": "path" if endpoint else None,
    }
    if "CUTOUT_S3_ACCESS_KEY_ID" in present:
        options["access_key"] = env["CUTOUT_S3_ACCESS_KEY_ID"].strip()
        options["secret_key"] = env["CUTOUT_S3_SECRET_ACCESS_KEY"].strip()
    made = {
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
        "staticfiles": static,
    }
    public = env.get(S3_PUBLIC, "").strip()
    if public:
        if not public.startswith(("http://", "https://")):
            raise ConfigError(f"{S3_PUBLIC}={public!r} must start with http:// or https://.")
        # Only signs URLs (no request is made with it): same bucket and keys, the public host.
        made["s3_public"] = {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {**options, "endpoint_url": public.rstrip("/"), "addressing_style": "path"},
        }
    return made


def stripe(env: Mapping[str, str]) -> dict[str, str]:
    """Stripe keys: all absent (billing off) or a coherent set."""
    values = {name: env.get(name, "").strip() for name in STRIPE_VARS}
    secret, webhook = values["STRIPE_SECRET_KEY"], values["STRIPE_WEBHOOK_SECRET"]
    if not secret and not webhook:
        if values["STRIPE_PUBLISHABLE_KEY"]:
            raise ConfigError("STRIPE_PUBLISHABLE_KEY is set but STRIPE_SECRET_KEY is missing.")
        return {"secret_key": "", "webhook_secret": "", "publishable_key": "", "api_base": ""}
    if not secret:
        raise ConfigError("STRIPE_WEBHOOK_SECRET is set but STRIPE_SECRET_KEY is missing.")
    if not webhook:
        raise ConfigError(
            "STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is missing: without it no payment "
            "can ever be credited."
        )
    if not secret.startswith(("sk_", "rk_")):
        raise ConfigError(
            "STRIPE_SECRET_KEY does not look like a Stripe secret key (sk_… or rk_…)."
        )
    if not webhook.startswith("whsec_"):
        raise ConfigError("STRIPE_WEBHOOK_SECRET does not look like a webhook secret (whsec_…).")
    api_base = env.get("STRIPE_API_BASE", "").strip()
    if api_base and not api_base.startswith(("http://", "https://")):
        raise ConfigError(f"STRIPE_API_BASE={api_base!r} must be an http(s) URL.")
    return {
        "secret_key": secret,
        "webhook_secret": webhook,
        "publishable_key": values["STRIPE_PUBLISHABLE_KEY"],
        "api_base": api_base,
    }


def celery_broker(env: Mapping[str, str], data_dir: Path) -> tuple[str, dict[str, Any]]:
    """The broker URL and transport options. Default: kombu's filesystem transport (no server)."""
    url = env.get("CELERY_BROKER_URL", "").strip()
    if not url:
        queue_dir = data_dir / "broker"
        return "filesystem://", {
            "data_folder_in": str(queue_dir / "queue"),
            "data_folder_out": str(queue_dir / "queue"),
            "processed_folder": str(queue_dir / "processed"),
            "control_folder": str(queue_dir / "control"),
            "store_processed": False,
            # How long kombu sleeps on an empty queue folder (default 1 s): every new job and
            # every job's closing task waited up to that long; a folder listing each 0.1 s is idle.
            "polling_interval": 0.1,
        }
    if not url.startswith(("redis://", "rediss://", "filesystem://", "memory://")):
        raise ConfigError(
            f"CELERY_BROKER_URL={url!r}: use redis://HOST:6379/0 (or leave it unset)."
        )
    # A task whose worker dies is delivered again after this long (seconds).
    return url, {"visibility_timeout": env_int(env, "CELERY_VISIBILITY_TIMEOUT", 900, minimum=30)}


def worker_prefetch(broker_url: str) -> int:
    """How many tasks a worker process reserves ahead (Celery's prefetch multiplier).

    One on Redis: a worker then never holds an image back that another idle worker could take,
    and its event loop fetches the next task as soon as one is acknowledged. kombu's filesystem
    transport (the embedded default) has no event loop: with one task reserved the worker looked
    again only after its 2 s drain timeout, so every batch item waited about 2 s (0.45 images/s
    for ``fast`` at 1024x768 instead of 3.9). Four reserved keep the worker busy.
    """
    return 4 if broker_url.startswith("filesystem://") else 1


def caches(env: Mapping[str, str]) -> dict[str, Any]:
    """Local memory by default; Redis (shared by every process) with CUTOUT_CACHE_URL.

    Throttles and API rate limits count in this cache, so production should share it.
    """
    url = env.get("CUTOUT_CACHE_URL", "").strip()
    if not url:
        return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    if not url.startswith(("redis://", "rediss://")):
        raise ConfigError(f"CUTOUT_CACHE_URL={url!r}: use redis://HOST:6379/2 (or leave it unset).")
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "cutout",
        }
    }


def networks(env: Mapping[str, str], name: str) -> list[str]:
    """A comma-separated list of CIDRs (``10.0.0.0/8, 192.168.1.5``), each checked."""
    import ipaddress

    values = env_list(env, name, [])
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ConfigError(f"{name}: {value!r} is not a network (e.g. 10.0.0.0/8).") from None
    return values


def default_data_dir(base_dir: Path, env: Mapping[str, str]) -> Path:
    """``var/`` in a checkout; the user's data folder for an installed package."""
    if (base_dir / "manage.py").is_file():
        return base_dir / "var"
    return Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "cutout"


def default_model_dir(env: Mapping[str, str]) -> Path:
    return engine_model_dir(dict(env))


def os_environ() -> Mapping[str, str]:
    return os.environ


# ---------------------------------------------------------------------------------------------
# Reading every setting once, collecting every problem


class Reader:
    """Reads each variable of ``env`` once, parsed and validated, and collects every problem.

    ``cutout.settings`` reads all its variables through one reader and then calls :meth:`check`,
    which raises one :class:`ConfigError` listing every variable that is wrong, each message
    naming its variable. A value that is wrong is replaced by its default meanwhile, so the rest
    of the settings can still be read and checked. :attr:`names` is what was read, for
    :meth:`unknown` (variables that look like Cutout's but are not: typos).
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []
        self.names: set[str] = set()

    def run(self, func: Callable[..., T], *args: Any, default: Any, names: Iterable[str] = ()) -> T:
        """One of this module's functions; its ConfigError is collected and ``default`` returned."""
        self.names.update(names)
        try:
            return func(*args)
        except ConfigError as exc:
            self.problems.append(str(exc))
            return default

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def raw(self, name: str) -> str | None:
        self.names.add(name)
        return self.env.get(name)

    def text(self, name: str, default: str = "") -> str:
        raw = self.raw(name)
        return default if raw is None or not raw.strip() else raw.strip()

    def flag(self, name: str, default: bool) -> bool:
        self.names.add(name)
        return self.run(env_bool, self.env, name, default, default=default)

    def integer(
        self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None
    ) -> int:
        self.names.add(name)
        value = self.run(lambda: env_int(self.env, name, default, minimum=minimum), default=default)
        if maximum is not None and value > maximum:
            self.problem(f"{name}={value} is above its maximum of {maximum}.")
            return default
        return value

    def number(
        self, name: str, default: float, *, minimum: float = 0.0, maximum: float | None = None
    ) -> float:
        raw = self.raw(name)
        if raw is None or not raw.strip():
            return default
        try:
            value = float(raw)
        except ValueError:
            self.problem(f"{name}={raw!r} is not a number.")
            return default
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            self.problem(f"{name}={raw!r} must be {bounds}.")
            return default
        return value

    def choice(self, name: str, choices: Iterable[str], default: str) -> str:
        options = tuple(choices)
        raw = self.raw(name)
        if raw is None or not raw.strip():
            return default
        value = raw.strip().lower()
        if value not in options:
            self.problem(f"{name}={raw!r} is unknown: use one of {', '.join(options)}.")
            return default
        return value

    def items(self, name: str, default: list[str]) -> list[str]:
        self.names.add(name)
        return env_list(self.env, name, default)

    def choices(self, name: str, choices: Iterable[str], default: list[str]) -> list[str]:
        """A comma-separated list whose every item is one of ``choices``."""
        options = tuple(choices)
        values = [item.lower() for item in self.items(name, default)]
        wrong = [item for item in values if item not in options]
        if wrong:
            self.problem(
                f"{name}: {', '.join(map(repr, wrong))} unknown: use some of {', '.join(options)}."
            )
            return default
        return values

    def url(
        self, name: str, default: str = "", *, schemes: tuple[str, ...] = ("http", "https")
    ) -> str:
        value = self.text(name, default)
        if value and value != default:
            parts = urlsplit(value)
            if parts.scheme not in schemes or not parts.netloc:
                self.problem(
                    f"{name}={value!r} is not a URL: it must start with "
                    f"{' or '.join(s + '://' for s in schemes)} and name a host."
                )
                return default
        return value

    def email(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if "@" not in parseaddr(value)[1]:
            self.problem(
                f"{name}={value!r} is not an email address (e.g. Cutout <noreply@example.com>)."
            )
            return default
        return value

    def addresses(self, name: str) -> list[tuple[str, str]]:
        """``Name <a@example.com>, b@example.com`` as Django's ADMINS pairs."""
        raw = self.text(name)
        if not raw:
            return []
        pairs = getaddresses([raw])
        wrong = [address for _, address in pairs if "@" not in address]
        if wrong or not pairs:
            self.problem(
                f"{name}={raw!r}: use comma-separated addresses, e.g. Ops <ops@example.com>."
            )
            return []
        return [(person or address, address) for person, address in pairs]

    def pipeline(self, name: str, default: str) -> str:
        return self.choice(name, PIPELINE_NAMES, default)

    def unknown(self, prefix: str, *, ignore: Iterable[str] = ()) -> list[str]:
        """Variables starting with ``prefix`` that nothing read (a typo'd name is not a setting)."""
        skip = set(ignore) | self.names
        return sorted(name for name in self.env if name.startswith(prefix) and name not in skip)

    def check(self) -> None:
        if len(self.problems) == 1:
            raise ConfigError(self.problems[0])
        if self.problems:
            raise ConfigError(
                f"{len(self.problems)} problems:\n" + "\n".join(f"  - {p}" for p in self.problems)
            )
