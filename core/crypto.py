"""Encryption at rest for personal data (Fernet via ``cryptography``) and keyed look-up hashes.

``FIELD_ENCRYPTION_KEYS`` holds comma-separated Fernet keys, newest first: the newest encrypts,
all decrypt (``MultiFernet``), and ``manage.py rotate_pii_keys`` re-encrypts. ``PII_HASH_KEY`` keys
the HMAC used for exact look-ups. In development both are derived from ``SECRET_KEY``; production
settings refuse to start without them.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


def _derived_key(purpose: str) -> bytes:
    digest = hashlib.sha256(f"{purpose}:{settings.SECRET_KEY}".encode()).digest()
    return base64.urlsafe_b64encode(digest)


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


def fernet() -> MultiFernet:
    keys = tuple(settings.FIELD_ENCRYPTION_KEYS) or (_derived_key("field-encryption").decode(),)
    return _fernet(keys)


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:  # a key was removed before rotation finished
        raise ValueError("cannot decrypt personal data: no configured key matches") from exc


def rotate(token: str) -> str:
    """Re-encrypt ``token`` under the newest key."""
    return fernet().rotate(token.encode()).decode()


def pii_hash(value: str) -> str:
    key = (settings.PII_HASH_KEY or _derived_key("pii-hash").decode()).encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


class EncryptedTextField(models.TextField):
    """Stores a Fernet token; Python code sees the clear text. Not searchable: pair it with a hash."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)
