"""Django settings for Cutout.

Everything comes from environment variables with embedded defaults (see README, "Configuration").
Invalid or half-set configuration raises ``ImproperlyConfigured`` at start-up.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from cutout import config

BASE_DIR = Path(__file__).resolve().parent.parent
ENV = config.os_environ()

try:
    CUTOUT_ENV = config.environment_name(ENV)
    PRODUCTION = CUTOUT_ENV == "production"
    DEBUG = config.env_bool(ENV, "DJANGO_DEBUG", False)
    if PRODUCTION and DEBUG:
        raise config.ConfigError("DJANGO_DEBUG must be off when CUTOUT_ENV=production.")
    DATA_DIR = Path(ENV.get("CUTOUT_DATA_DIR") or BASE_DIR / "var").expanduser()
    SECRET_KEY = config.secret_key(ENV, CUTOUT_ENV, DATA_DIR)
    MEDIA_ROOT = DATA_DIR / "media"
    DATABASES = {"default": config.database(ENV, DATA_DIR)}
    STORAGES = config.storages(ENV, MEDIA_ROOT)
    STRIPE = config.stripe(ENV)
    CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = config.celery_broker(ENV, DATA_DIR)
    ALLOWED_HOSTS = config.env_list(
        ENV,
        "ALLOWED_HOSTS",
        [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"],
    )
    if PRODUCTION and not ALLOWED_HOSTS:
        raise config.ConfigError(
            "ALLOWED_HOSTS is required when CUTOUT_ENV=production (comma-separated)."
        )
    CSRF_TRUSTED_ORIGINS = config.env_list(ENV, "CSRF_TRUSTED_ORIGINS", [])
    CUTOUT_MODEL_DIR = config.default_model_dir(ENV)
    CUTOUT_INTRA_OP_THREADS = config.env_int(ENV, "CUTOUT_INTRA_OP_THREADS", 0)
    CUTOUT_MAX_UPLOAD_BYTES = config.env_int(
        ENV, "CUTOUT_MAX_UPLOAD_BYTES", 20 * 1024 * 1024, minimum=1
    )
    CUTOUT_MAX_PIXELS = config.env_int(ENV, "CUTOUT_MAX_PIXELS", 25_000_000, minimum=1024)
    CUTOUT_TRIAL_CREDITS = config.env_int(ENV, "CUTOUT_TRIAL_CREDITS", 25)
    CUTOUT_LOW_BALANCE_THRESHOLD = config.env_int(ENV, "CUTOUT_LOW_BALANCE_THRESHOLD", 5)
    CUTOUT_DEFAULT_PIPELINE = ENV.get("CUTOUT_DEFAULT_PIPELINE", "best")
    CUTOUT_KEY_PEPPER = ENV.get("CUTOUT_KEY_PEPPER", "") or SECRET_KEY
    CELERY_TASK_ALWAYS_EAGER = config.env_bool(ENV, "CELERY_TASK_ALWAYS_EAGER", False)
    CUTOUT_API_RATE_LIMIT = config.env_int(ENV, "CUTOUT_API_RATE_LIMIT", 60)
    CUTOUT_API_RATE_WINDOW = config.env_int(ENV, "CUTOUT_API_RATE_WINDOW", 60, minimum=1)
    CUTOUT_RATELIMIT_REDIS_URL = ENV.get("CUTOUT_RATELIMIT_REDIS_URL", "").strip()
    if CUTOUT_RATELIMIT_REDIS_URL and not CUTOUT_RATELIMIT_REDIS_URL.startswith(
        ("redis://", "rediss://")
    ):
        raise config.ConfigError("CUTOUT_RATELIMIT_REDIS_URL must be a redis:// URL.")
    CUTOUT_FETCH_ALLOWED_NETWORKS = config.env_list(ENV, "CUTOUT_FETCH_ALLOWED_NETWORKS", [])
    CUTOUT_API4AI_ANONYMOUS_KEY = ENV.get("CUTOUT_API4AI_ANONYMOUS_KEY", "").strip()
    CUTOUT_TRUSTED_PROXIES = config.env_int(ENV, "CUTOUT_TRUSTED_PROXIES", 0)
    CUTOUT_SOURCE_URL = ENV.get("CUTOUT_SOURCE_URL", "").strip()
    CUTOUT_BATCH_MAX_ITEMS = config.env_int(ENV, "CUTOUT_BATCH_MAX_ITEMS", 500, minimum=1)
    CUTOUT_BATCH_MAX_BYTES = config.env_int(ENV, "CUTOUT_BATCH_MAX_BYTES", 1 << 30, minimum=1)
    CUTOUT_BATCH_MAX_ZIP_ENTRIES = config.env_int(
        ENV, "CUTOUT_BATCH_MAX_ZIP_ENTRIES", 2000, minimum=1
    )
    CUTOUT_ITEM_MAX_ATTEMPTS = config.env_int(ENV, "CUTOUT_ITEM_MAX_ATTEMPTS", 5, minimum=1)
    CUTOUT_ITEM_MAX_RETRIES = config.env_int(ENV, "CUTOUT_ITEM_MAX_RETRIES", 3)
    CUTOUT_ITEM_RETRY_BACKOFF = float(
        config.env_int(ENV, "CUTOUT_ITEM_RETRY_BACKOFF", 10, minimum=1)
    )
    CACHES = config.caches(ENV)
    LOG_LEVEL = ENV.get("LOG_LEVEL", "INFO").upper()
    LOG_FORMAT = ENV.get("LOG_FORMAT", "json" if PRODUCTION else "text")
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

SITE_URL = ENV.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
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
        "DIRS": [BASE_DIR / "templates"],
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
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Base64 bodies (remove.bg's image_file_b64, the native image_b64) are 4/3 of the image size.
DATA_UPLOAD_MAX_MEMORY_SIZE = CUTOUT_MAX_UPLOAD_BYTES * 4 // 3 + 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = CUTOUT_BATCH_MAX_ITEMS + 10

EMAIL_BACKEND = ENV.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = ENV.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(ENV.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = ENV.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = ENV.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = config.env_bool(ENV, "EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = ENV.get("DEFAULT_FROM_EMAIL", "Cutout <noreply@cutout.localhost>")

# Security: strict in production, relaxed for local http.
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_SSL_REDIRECT = config.env_bool(ENV, "SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = config.env_int(ENV, "SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REFERRER_POLICY = "same-origin"

# Celery: results live in our own models, so no result backend is needed.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = config.worker_prefetch(str(CELERY_BROKER_URL))
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = config.env_int(ENV, "CELERY_TASK_TIME_LIMIT", 300, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = max(CELERY_TASK_TIME_LIMIT - 30, 5)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "cutout.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "cutout.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": LOG_FORMAT if LOG_FORMAT in ("text", "json") else "text",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.server": {"level": "WARNING"},
        # httpx logs full URLs at INFO, and callers' URLs may carry presigned signatures.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
