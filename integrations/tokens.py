"""Token format and hashing. A token is ``bo_`` + 43 URL-safe characters (256 random bits); only its
SHA-256 is stored. A random 256-bit secret needs no slow hash: nothing can be guessed from the digest."""
from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_PREFIX = "bo_"  # nosec B105 - a public prefix that tells tokens apart, not a secret
PREFIX_LENGTH = 11  # "bo_" + 8 characters, shown to staff to tell tokens apart
_TOKEN_RE = re.compile(r"^bo_[A-Za-z0-9_-]{43}$")


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def looks_like_token(raw: str) -> bool:
    return bool(_TOKEN_RE.match(raw or ""))


def token_prefix(raw: str) -> str:
    return raw[:PREFIX_LENGTH]
