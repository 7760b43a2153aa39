"""Production settings: PostgreSQL and Redis from the environment, hardened."""
from django.core.exceptions import ImproperlyConfigured

from . import *  # noqa: F401,F403
from . import DEVELOPMENT_SECRET_KEY, SECRET_KEY, env_bool, os

if not SECRET_KEY or SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a private value of at least 50 characters in production."
    )
if not os.environ.get("FIELD_ENCRYPTION_KEYS") or not os.environ.get("PII_HASH_KEY"):
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS and PII_HASH_KEY must be set in production.")

DEBUG = False  # never in production: a debug page shows personal data
TRUSTED_PROXY_COUNT = int(os.environ.get("DJANGO_TRUSTED_PROXY_COUNT", "1"))  # TLS ends at the proxy
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sessions (idle and absolute expiry) and login lock-out are set in the base settings.
