"""Reads for API clients and tokens."""
from __future__ import annotations

from integrations.models import ApiClient, ApiScopeGrant, ApiToken
from integrations.tokens import hash_token, looks_like_token


def token_find(raw: str) -> ApiToken | None:
    """The token (with its client and service user) whose secret is ``raw``; ``None`` if unknown.
    Revocation and expiry are checked by the caller, so it can say which."""
    if not looks_like_token(raw):
        return None
    return ApiToken.objects.select_related("client", "client__user").filter(key_hash=hash_token(raw)).first()


def scope_grants_in_force(*, client: ApiClient, scopes: list[str]) -> list[ApiScopeGrant]:
    """The approved grants of ``scopes`` on ``client``, with who asked and who approved (one query)."""
    return list(ApiScopeGrant.objects.select_related("requested_by", "approved_by").filter(
        client=client, scope__in=scopes, status=ApiScopeGrant.Status.APPROVED).order_by("scope"))


def scopes_awaiting_approval(*, client: ApiClient, scopes: list[str]) -> list[str]:
    """Which of ``scopes`` have a grant waiting for a second person on ``client``."""
    return sorted(ApiScopeGrant.objects.filter(client=client, scope__in=scopes, status=ApiScopeGrant.Status.PENDING)
                  .values_list("scope", flat=True))
