"""Django settings for Cutout.

Everything comes from environment variables with embedded defaults (see README, "Configuration").
Invalid or half-set configuration raises ``ImproperlyConfigured`` at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from cutout import config

BASE_DIR = Path(__file__).resolve().parent.parent
# A checkout has manage.py, templates/ and static/ at its top; `pip install .` puts templates/ and
# static/ inside the package (cutout/site/) and local files under the user's data folder.
CHECKOUT = (BASE_DIR / "manage.py").is_file()
SITE_FILES_DIR = BASE_DIR if CHECKOUT else Path(__file__).resolve().parent / "site"
ENV = config.os_environ()
# Every variable is read once through this reader; config.Reader.check() then reports every
# problem at once, each naming its variable (README, "Configuration").
env = config.Reader(ENV)

try:
    CUTOUT_ENV = config.environment_name(ENV)
    PRODUCTION = CUTOUT_ENV == "production"
    DEBUG = env.flag("DJANGO_DEBUG", False)
    if PRODUCTION and DEBUG:
        env.problem("DJANGO_DEBUG must be off when CUTOUT_ENV=production.")
    DATA_DIR = Path(env.text("CUTOUT_DATA_DIR") or config.default_data_dir(BASE_DIR, ENV))
    DATA_DIR = DATA_DIR.expanduser()
    SECRET_KEY = config.secret_key(ENV, CUTOUT_ENV, DATA_DIR)
    MEDIA_ROOT = DATA_DIR / "media"
    DATABASES = {
        "default": env.run(
            config.database,
            ENV,
            DATA_DIR,
            default={},
            names=("DATABASE_URL", "DATABASE_CONN_MAX_AGE"),
        )
    }
    STORAGES = env.run(
        config.storages, ENV, MEDIA_ROOT, default={}, names=(*config.S3_VARS, config.S3_PUBLIC)
    )
    STRIPE = env.run(config.stripe, ENV, default={}, names=(*config.STRIPE_VARS, "STRIPE_API_BASE"))
    CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = env.run(
        config.celery_broker,
        ENV,
        DATA_DIR,
        default=("memory://", {}),
        names=("CELERY_BROKER_URL", "CELERY_VISIBILITY_TIMEOUT"),
    )
    ALLOWED_HOSTS = env.items(
        "ALLOWED_HOSTS",
        [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"],
    )
    if PRODUCTION and not ALLOWED_HOSTS:
        env.problem("ALLOWED_HOSTS is required when CUTOUT_ENV=production (comma-separated).")
    CSRF_TRUSTED_ORIGINS = env.items("CSRF_TRUSTED_ORIGINS", [])
    for origin in CSRF_TRUSTED_ORIGINS:
        if not origin.startswith(("http://", "https://")):
            env.problem(f"CSRF_TRUSTED_ORIGINS: {origin!r} must start with http:// or https://.")
    CUTOUT_MODEL_DIR = config.default_model_dir(ENV)
    env.names.add("CUTOUT_MODEL_DIR")
    CUTOUT_INTRA_OP_THREADS = env.integer("CUTOUT_INTRA_OP_THREADS", 0, maximum=256)
    CUTOUT_OPTIMIZED_MODELS = env.flag("CUTOUT_OPTIMIZED_MODELS", True)  # read by the engine
    CUTOUT_ORT_PROVIDERS = env.items("CUTOUT_ORT_PROVIDERS", [])  # read by the engine
    for provider in CUTOUT_ORT_PROVIDERS:
        if not provider.endswith("ExecutionProvider"):
            env.problem(
                f"CUTOUT_ORT_PROVIDERS: {provider!r} is not an onnxruntime provider name "
                "(e.g. CUDAExecutionProvider,CPUExecutionProvider)."
            )
    CUTOUT_MAX_UPLOAD_BYTES = env.integer("CUTOUT_MAX_UPLOAD_BYTES", 20 * 1024 * 1024, minimum=1)
    CUTOUT_MAX_PIXELS = env.integer("CUTOUT_MAX_PIXELS", 25_000_000, minimum=1024)
    CUTOUT_TRIAL_CREDITS = env.integer("CUTOUT_TRIAL_CREDITS", 25)
    CUTOUT_LOW_BALANCE_THRESHOLD = env.integer("CUTOUT_LOW_BALANCE_THRESHOLD", 5)
    CUTOUT_DEFAULT_PIPELINE = env.pipeline("CUTOUT_DEFAULT_PIPELINE", "best")
    CUTOUT_WORKER_PRELOAD = env.choices(
        "CUTOUT_WORKER_PRELOAD", (*config.PIPELINE_NAMES, "none"), [CUTOUT_DEFAULT_PIPELINE]
    )
    # What each gunicorn worker loads when it starts (cutout/gunicorn_conf.py).
    CUTOUT_WEB_PRELOAD = env.choices(
        "CUTOUT_WEB_PRELOAD", (*config.PIPELINE_NAMES, "none"), [CUTOUT_DEFAULT_PIPELINE]
    )
    CUTOUT_KEY_PEPPER = env.text("CUTOUT_KEY_PEPPER") or SECRET_KEY
    # Rotation: sessions and signed links made with an older key still verify (django.core.signing).
    SECRET_KEY_FALLBACKS = env.items("SECRET_KEY_FALLBACKS", [])
    if SECRET_KEY_FALLBACKS and not env.text("CUTOUT_KEY_PEPPER"):
        env.problem(
            "SECRET_KEY_FALLBACKS is set but CUTOUT_KEY_PEPPER is not: API keys are hashed with "
            "the pepper, which defaults to SECRET_KEY, so every key would stop working. Set "
            "CUTOUT_KEY_PEPPER to the key they were made with (the old SECRET_KEY)."
        )
    CELERY_TASK_ALWAYS_EAGER = env.flag("CELERY_TASK_ALWAYS_EAGER", False)
    CUTOUT_API_RATE_LIMIT = env.integer("CUTOUT_API_RATE_LIMIT", 60)
    CUTOUT_API_RATE_WINDOW = env.integer("CUTOUT_API_RATE_WINDOW", 60, minimum=1)
    CUTOUT_RATELIMIT_REDIS_URL = env.url("CUTOUT_RATELIMIT_REDIS_URL", schemes=("redis", "rediss"))
    CUTOUT_FETCH_ALLOWED_NETWORKS = env.run(
        config.networks,
        ENV,
        "CUTOUT_FETCH_ALLOWED_NETWORKS",
        default=[],
        names=("CUTOUT_FETCH_ALLOWED_NETWORKS",),
    )
    CUTOUT_API4AI_ANONYMOUS_KEY = env.text("CUTOUT_API4AI_ANONYMOUS_KEY")
    # Key-less API4AI calls have their own limits, apart from the key's: per rate window, per month
    CUTOUT_API4AI_ANONYMOUS_RATE_LIMIT = env.integer("CUTOUT_API4AI_ANONYMOUS_RATE_LIMIT", 10)
    CUTOUT_API4AI_ANONYMOUS_MONTHLY_CAP = env.integer("CUTOUT_API4AI_ANONYMOUS_MONTHLY_CAP", 100)
    CUTOUT_TRUSTED_PROXIES = env.integer("CUTOUT_TRUSTED_PROXIES", 0, maximum=10)
    CUTOUT_SOURCE_URL = env.url("CUTOUT_SOURCE_URL")
    CUTOUT_SOURCE_ARCHIVE = env.text("CUTOUT_SOURCE_ARCHIVE")
    if CUTOUT_SOURCE_ARCHIVE and not Path(CUTOUT_SOURCE_ARCHIVE).is_file():
        env.problem(f"CUTOUT_SOURCE_ARCHIVE={CUTOUT_SOURCE_ARCHIVE!r} is not a file.")
    CUTOUT_BATCH_MAX_ITEMS = env.integer("CUTOUT_BATCH_MAX_ITEMS", 500, minimum=1)
    CUTOUT_BATCH_MAX_BYTES = env.integer("CUTOUT_BATCH_MAX_BYTES", 1 << 30, minimum=1)
    CUTOUT_BATCH_MAX_ZIP_ENTRIES = env.integer("CUTOUT_BATCH_MAX_ZIP_ENTRIES", 2000, minimum=1)
    CUTOUT_ITEM_MAX_ATTEMPTS = env.integer("CUTOUT_ITEM_MAX_ATTEMPTS", 5, minimum=1)
    CUTOUT_ITEM_MAX_RETRIES = env.integer("CUTOUT_ITEM_MAX_RETRIES", 3)
    CUTOUT_ITEM_RETRY_BACKOFF = float(env.integer("CUTOUT_ITEM_RETRY_BACKOFF", 10, minimum=1))
    CACHES = env.run(config.caches, ENV, default={}, names=("CUTOUT_CACHE_URL",))
    LOG_LEVEL = env.choice("LOG_LEVEL", config.LOG_LEVELS, "info").upper()
    LOG_FORMAT = env.choice("LOG_FORMAT", ("text", "json"), "json" if PRODUCTION else "text")
    SITE_URL = env.url("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
    CUTOUT_STATIC_ROOT = env.text("CUTOUT_STATIC_ROOT")
    CUTOUT_METRICS_TOKEN = env.text("CUTOUT_METRICS_TOKEN")
    if CUTOUT_METRICS_TOKEN and len(CUTOUT_METRICS_TOKEN) < 16:
        env.problem("CUTOUT_METRICS_TOKEN must be at least 16 characters (or unset).")
    CUTOUT_WORKER_METRICS_PORT = env.integer("CUTOUT_WORKER_METRICS_PORT", 0, maximum=65535)
    SENTRY_DSN = env.url("SENTRY_DSN")
    SENTRY_TRACES_SAMPLE_RATE = env.number("SENTRY_TRACES_SAMPLE_RATE", 0.0, maximum=1.0)
    SENTRY_ENVIRONMENT = env.text("SENTRY_ENVIRONMENT", CUTOUT_ENV)
    ADMINS = env.addresses("ADMINS")
    EMAIL_DELIVERY_BACKEND = env.text(
        "EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
    )
    EMAIL_QUEUE = env.flag("EMAIL_QUEUE", True)
    EMAIL_HOST = env.text("EMAIL_HOST", "localhost")
    EMAIL_PORT = env.integer("EMAIL_PORT", 25, minimum=1, maximum=65535)
    EMAIL_HOST_USER = env.text("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env.text("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env.flag("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = env.flag("EMAIL_USE_SSL", False)
    if EMAIL_USE_TLS and EMAIL_USE_SSL:
        env.problem("EMAIL_USE_TLS and EMAIL_USE_SSL are both on: set one (TLS is STARTTLS).")
    EMAIL_TIMEOUT = env.integer("EMAIL_TIMEOUT", 10, minimum=1, maximum=300)
    DEFAULT_FROM_EMAIL = env.email("DEFAULT_FROM_EMAIL", "Cutout <noreply@cutout.localhost>")
    SERVER_EMAIL = env.email("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
    SECURE_SSL_REDIRECT = env.flag("SECURE_SSL_REDIRECT", PRODUCTION)
    SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
    CELERY_TASK_TIME_LIMIT = env.integer("CELERY_TASK_TIME_LIMIT", 300, minimum=10)
    env.names.update(("CUTOUT_ENV", "SECRET_KEY"))
    # CUTOUT_ variables nothing read: reported by the cutout.W001 check (cutout/checks.py).
    CUTOUT_UNKNOWN_VARIABLES = env.unknown("CUTOUT_", ignore=config.NOT_SETTINGS)
    env.check()
except config.ConfigError as exc:
    raise ImproperlyConfigured(f"Cutout configuration error: {exc}") from None

if not PRODUCTION:
    # Local defaults keep their files under var/; production points these elsewhere.
    for folder in (
        DATA_DIR,
        MEDIA_ROOT,
        DATA_DIR / "broker" / "queue",
        DATA_DIR / "broker" / "processed",
        DATA_DIR / "broker" / "control",
    ):
        folder.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "drf_spectacular_sidecar",  # Swagger UI's files, for /api/docs
    "accounts",
    "billing",
    "cutout",
]

MIDDLEWARE = [
    "cutout.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.WorkspaceMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

AUTH_USER_MODEL = "accounts.User"
ROOT_URLCONF = "cutout.urls"
WSGI_APPLICATION = "cutout.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [SITE_FILES_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.workspace",
                "billing.context_processors.credits",
                "cutout.web.context_processors.web",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "landing"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = (
    Path(CUTOUT_STATIC_ROOT)
    if CUTOUT_STATIC_ROOT
    else (BASE_DIR / "staticfiles" if CHECKOUT else DATA_DIR / "staticfiles")
)
STATICFILES_DIRS = [SITE_FILES_DIR / "static"]
MEDIA_URL = "media/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Base64 bodies (remove.bg's image_file_b64, the native image_b64) are 4/3 of the image size.
DATA_UPLOAD_MAX_MEMORY_SIZE = CUTOUT_MAX_UPLOAD_BYTES * 4 // 3 + 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = CUTOUT_BATCH_MAX_ITEMS + 10

# Mail leaves from a Celery task (cutout.mail), through EMAIL_BACKEND there; EMAIL_QUEUE=0 sends
# in the calling process instead.
EMAIL_BACKEND = "cutout.mail.QueuedEmailBackend" if EMAIL_QUEUE else EMAIL_DELIVERY_BACKEND

# Security: strict in production, relaxed for local http.
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REFERRER_POLICY = "same-origin"
else:
    SECURE_SSL_REDIRECT = False
    SECURE_HSTS_SECONDS = 0

# Celery: results live in our own models, so no result backend is needed.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = config.worker_prefetch(str(CELERY_BROKER_URL))
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SOFT_TIME_LIMIT = max(CELERY_TASK_TIME_LIMIT - 30, 5)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "cutout.logging.RequestIdFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "cutout.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": LOG_FORMAT,
        },
        # ADMINS get a mail for every ERROR line (a failed request, a task that raised). Sent
        # straight through the delivery backend, not the mail queue: it works when the broker
        # is what failed, and a failing mail task cannot mail about itself in a loop.
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false", "request_id"],
            "email_backend": EMAIL_DELIVERY_BACKEND,
        },
    },
    "root": {"handlers": ["console", *(["mail_admins"] if ADMINS else [])], "level": LOG_LEVEL},
    "loggers": {
        # Django's own handlers go: its lines reach the root's (one console line, one mail).
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "django.server": {"level": "WARNING"},
        # httpx logs full URLs at INFO, and callers' URLs may carry presigned signatures.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

if SENTRY_DSN:
    # Imported only then: without a DSN, sentry-sdk is never loaded.
    from cutout.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT, traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE
    )
