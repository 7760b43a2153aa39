"""Settings for the back office, read from the environment.

Defaults give the embedded development set-up: SQLite in ``var/`` and Celery on
kombu's filesystem transport (no external server). Production sets
``DJANGO_SETTINGS_MODULE=backoffice.settings.production`` and the variables
listed in docs/operations.md ("Configuration").
"""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("BACKOFFICE_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEVELOPMENT_SECRET_KEY = "dev-insecure-secret-key-change-me-in-production-0123456789abcdef"  # nosec B105 - dev only; production refuses it
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", DEVELOPMENT_SECRET_KEY)
DEBUG = env_bool("DJANGO_DEBUG", True)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "simple_history",
    "axes",
    "core",
    "approvals",
    "integrations",
    "accounts",
    "ledger",
    "installments",
    "cashloans",
    "insurance",
    "cob",
    "debt_collection",
    "risk",
    "privacy",
    "notices",
    "bureau",
    "staff",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "integrations.middleware.ApiGuardMiddleware",  # /api/: NUL, nesting depth, size → JSON 400/413; JSON 500
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "privacy.middleware.SessionAbsoluteExpiryMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "backoffice.wsgi.application"

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
            ],
        },
    },
]

# --- Database: SQLite by default, DATABASE_URL (PostgreSQL via psycopg 3) otherwise.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'backoffice.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Login lock-out (django-axes): 5 failures for a user name from one address → that user name is
# locked from that address for 30 min (other staff behind the same address, and the same user elsewhere,
# are not). ``privacy.auth.LoginLockoutBackend`` is axes' backend; it must come first.
AUTHENTICATION_BACKENDS = [
    "privacy.auth.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "0.5"))  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # the pair together (a list inside the list)
AXES_LOCKOUT_CALLABLE = "privacy.lockout.lockout_response"  # the admin-styled page: when to retry, whom to call
STAFF_LOCKOUT_CONTACT = os.environ.get("STAFF_LOCKOUT_CONTACT", "your administrator (the IT service desk)")
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "privacy.auth.client_ip"
# Reverse proxies in front of the app that append to X-Forwarded-For (production: 1).
TRUSTED_PROXY_COUNT = int(os.environ.get("DJANGO_TRUSTED_PROXY_COUNT", "0"))

# --- Sessions: 30 minutes idle (renewed by privacy's middleware), 10 hours at most, gone with the browser.
SESSION_COOKIE_AGE = int(os.environ.get("DJANGO_SESSION_IDLE_SECONDS", str(30 * 60)))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_ABSOLUTE_MAX_SECONDS = int(os.environ.get("DJANGO_SESSION_MAX_SECONDS", str(10 * 60 * 60)))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

LANGUAGE_CODE = "en-us"
# Staff screens in English or Simplified Chinese: the chooser in the admin header (Django's set_language)
# keeps the choice in a cookie; a browser asking for Chinese (zh-CN) gets Chinese until then.
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"

# --- Staff screens (staff app): static files, import/export permissions and safety.
STATICFILES_DIRS = [BASE_DIR / "static"]
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "import"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
STAFF_IMPORT_ASYNC_ROWS = int(os.environ.get("STAFF_IMPORT_ASYNC_ROWS", "2000"))

ADMIN_URL = os.environ.get("DJANGO_ADMIN_URL", "admin/")

# --- Personal data protection (PRODUCT §9). Keys: comma-separated Fernet keys, newest first.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS")
PII_HASH_KEY = os.environ.get("PII_HASH_KEY", "")

# --- REST framework: token clients (integrations) and staff sessions; JSON only; one error body.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["integrations.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["integrations.throttling.ClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"client": os.environ.get("API_THROTTLE_RATE", "1200/min")},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "integrations.pagination.Pagination",
    "PAGE_SIZE": 50,
    "COERCE_DECIMAL_TO_STRING": True,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# The cache (API throttling counters, dashboard figures): per process by default; set REDIS_CACHE_URL so
# every web process and worker shares it (required for per-client throttling with several processes).
if os.environ.get("REDIS_CACHE_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["REDIS_CACHE_URL"]}}
API_THROTTLE_CACHE = os.environ.get("API_THROTTLE_CACHE", "default")  # must be shared (Redis) across processes
API_IDEMPOTENCY_TTL_HOURS = int(os.environ.get("API_IDEMPOTENCY_TTL_HOURS", "48"))  # at least 24
API_IDEMPOTENCY_LOCK_SECONDS = int(os.environ.get("API_IDEMPOTENCY_LOCK_SECONDS", "300"))
# Limit granted by POST /api/v1/applications/ while no risk decision engine is installed.
API_APPLICATION_DEFAULT_LIMIT = os.environ.get("API_APPLICATION_DEFAULT_LIMIT", "5000.00")
API_DEFAULT_PRODUCT_CODE = os.environ.get("API_DEFAULT_PRODUCT_CODE", "baitiao")
SPECTACULAR_SETTINGS = {
    # Swagger UI and ReDoc served from this project (drf-spectacular-sidecar), never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "TITLE": "Consumer-credit back office API",
    "DESCRIPTION": (
        "Integration API (v1) for the storefront: applications, accounts, quotes, purchases, refunds, "
        "statements, bill installments, early settlement and repayments.\n\n"
        "Authenticate with `Authorization: Bearer <token>` (tokens are issued to API clients by "
        "administrators; each client holds scopes). Money is a JSON string with 2 decimals (`\"530.00\"`), "
        "rates are fraction strings (`\"0.005\"`), APRs percent strings (`\"10.90\"`). Every call that moves "
        "money needs an `Idempotency-Key` header: the same key with the same body replays the first answer "
        "(header `Idempotent-Replayed: true`); with a different body it is refused (422 "
        "`idempotency_key_reuse`); while the first is still running, 409 `idempotency_in_progress`. "
        "Errors always have the body `{\"error\": {\"code\", \"message\", \"details\"}}`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # A plan's status appears on plans and on cash loans (issue 16): one named enum for both.
    "ENUM_NAME_OVERRIDES": {"PlanStatusEnum": "installments.models.Plan.Status"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "integrations.schema.add_error_responses",
    ],
}

# --- Celery. Default: the embedded filesystem broker (no server); CELERY_BROKER_URL for Redis.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_IS_EMBEDDED = CELERY_BROKER_URL.startswith("filesystem://")
if CELERY_BROKER_IS_EMBEDDED:
    _queue_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
    _queue_dir.mkdir(parents=True, exist_ok=True)
    _processed_dir.mkdir(parents=True, exist_ok=True)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SOFT_TIME_LIMIT = 15 * 60
CELERY_TASK_TIME_LIMIT = 20 * 60
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A worker keeps its database connection across tasks (Celery's Django fix-up closes it only every N tasks,
# and always when it is unusable): a fanned-out close of business no longer opens a connection per chunk.
CELERY_DB_REUSE_MAX = int(os.environ.get("CELERY_DB_REUSE_MAX", "200"))
CELERY_BEAT_SCHEDULE: dict = {
    # Filled in by the apps' schedules (see backoffice/schedule.py).
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")

# The collector's desk (docs/desk-collector.md): the telephony gateway behind click-to-call, and the page
# an SMS payment link opens (a signed token of the case and account is appended).
COLLECTIONS_DIALLER = os.environ.get("COLLECTIONS_DIALLER", "debt_collection.telephony.LoggingDialler")
COLLECTIONS_PAYMENT_LINK_BASE = os.environ.get("COLLECTIONS_PAYMENT_LINK_BASE", "https://pay.example.com/baitiao/")
COLLECTIONS_PAYMENT_LINK_MAX_AGE_DAYS = int(os.environ.get("COLLECTIONS_PAYMENT_LINK_MAX_AGE_DAYS", "7"))

from backoffice.schedule import BEAT_SCHEDULE  # noqa: E402

CELERY_BEAT_SCHEDULE.update(BEAT_SCHEDULE)

VAR_DIR.mkdir(parents=True, exist_ok=True)
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
