"""Bearer-token authentication for API clients.

``Authorization: Bearer <token>`` (``Token <token>`` is accepted too). On success ``request.user`` is
the client's service user and ``request.auth`` the :class:`ApiToken` (``request.auth.client`` is the
client). A missing header lets the next authenticator (the staff session) try; a bad, revoked or
expired token is refused with 401 and the error body."""
from __future__ import annotations

import datetime as dt

from django.utils import timezone
from rest_framework import authentication, exceptions

from integrations.models import ApiToken
from integrations.selectors import token_find

LAST_USED_RESOLUTION = dt.timedelta(minutes=1)  # write ``last_used_at`` at most once a minute
_KEYWORDS = {"bearer", "token"}


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode("latin-1").lower() not in _KEYWORDS:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Bearer <token>'.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = token_find(raw)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        now = timezone.now()
        if token.revoked_at is not None or not token.client.is_active:
            raise exceptions.AuthenticationFailed("This token has been revoked.")
        if token.expires_at is not None and token.expires_at <= now:
            raise exceptions.AuthenticationFailed("This token has expired.")
        if not token.client.user.is_active:
            raise exceptions.AuthenticationFailed("This client is disabled.")
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return token.client.user, token

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


def request_client(request):
    """The :class:`ApiClient` of a token-authenticated request, else ``None`` (staff session)."""
    auth = getattr(request, "auth", None)
    return auth.client if isinstance(auth, ApiToken) else None
