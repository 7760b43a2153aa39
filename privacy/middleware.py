"""Absolute session lifetime. Idle expiry is Django's own (``SESSION_COOKIE_AGE`` renewed on each
request); this caps a staff session at ``SESSION_ABSOLUTE_MAX_SECONDS`` after sign-in however busy
it is, so a stolen cookie cannot be kept alive for ever. Placed after the authentication middleware."""
from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import logout

SESSION_STARTED_KEY = "_privacy_auth_started"


class SessionAbsoluteExpiryMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = int(time.time())
            started = request.session.get(SESSION_STARTED_KEY)
            if started is None:
                request.session[SESSION_STARTED_KEY] = now
            elif now - int(started) > settings.SESSION_ABSOLUTE_MAX_SECONDS:
                # Flush the session and serve the request as anonymous: the admin sends the user
                # to its login page, the API answers 401/403.
                logout(request)
        return self.get_response(request)
