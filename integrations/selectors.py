"""Reads for API clients and tokens."""
from __future__ import annotations

from integrations.models import ApiToken
from integrations.tokens import hash_token, looks_like_token


def token_find(raw: str) -> ApiToken | None:
    """The token (with its client and service user) whose secret is ``raw``; ``None`` if unknown.
    Revocation and expiry are checked by the caller, so it can say which."""
    if not looks_like_token(raw):
        return None
    return ApiToken.objects.select_related("client", "client__user").filter(key_hash=hash_token(raw)).first()
