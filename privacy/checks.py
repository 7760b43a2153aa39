"""Deployment checks (``manage.py check --deploy``) for the privacy and login-security settings."""
from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def check_privacy_settings(app_configs=None, **kwargs):
    from cryptography.fernet import Fernet

    problems = []
    keys = list(getattr(settings, "FIELD_ENCRYPTION_KEYS", []) or [])
    if not keys:
        problems.append(Error("FIELD_ENCRYPTION_KEYS is empty: personal data would be encrypted with a key "
                              "derived from SECRET_KEY.", id="privacy.E001"))
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            problems.append(Error(f"FIELD_ENCRYPTION_KEYS entry {position} is not a Fernet key "
                                  "(32 url-safe base64-encoded bytes).", id="privacy.E002"))
    if len(getattr(settings, "PII_HASH_KEY", "") or "") < 32:
        problems.append(Error("PII_HASH_KEY must be a private value of at least 32 characters.", id="privacy.E003"))
    if settings.PII_HASH_KEY and settings.PII_HASH_KEY in keys:
        problems.append(Error("PII_HASH_KEY must differ from the encryption keys.", id="privacy.E004"))
    if settings.ADMIN_URL.strip("/") == "admin":
        problems.append(Warning("The admin is served at the guessable /admin/; set DJANGO_ADMIN_URL.",
                                id="privacy.W001"))
    if "axes" not in settings.INSTALLED_APPS or not getattr(settings, "AXES_ENABLED", True):
        problems.append(Error("Login lock-out (django-axes) is not enabled.", id="privacy.E005"))
    if settings.SESSION_COOKIE_AGE > 12 * 60 * 60:
        problems.append(Warning("Staff sessions last more than 12 hours (SESSION_COOKIE_AGE).", id="privacy.W002"))
    return problems
