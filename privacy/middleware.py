"""Session lifetime for staff.

* **Idle expiry**: a session lives ``SESSION_COOKIE_AGE`` (30 min) after it was last renewed. It
  is renewed by marking it modified at most once a minute (``SESSION_RENEW_SECONDS``), rather than
  with ``SESSION_SAVE_EVERY_REQUEST`` (a database write on every request).
* **Absolute expiry**: however busy, a session ends ``SESSION_ABSOLUTE_MAX_SECONDS`` after sign-in,
  so a stolen cookie cannot be kept alive for ever.

Sign-in stamps the session (``stamp_session_start``, on Django's ``user_logged_in`` signal) in the
same save as the login itself, so the middleware only reads on ordinary requests. Placed after the
authentication middleware."""
from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import logout

SESSION_STARTED_KEY = "_privacy_auth_started"
SESSION_RENEWED_KEY = "_privacy_renewed"
SESSION_RENEW_SECONDS = 60


def stamp_session_start(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    if session is not None:
        now = int(time.time())
        session[SESSION_STARTED_KEY] = now
        session[SESSION_RENEWED_KEY] = now


class SessionAbsoluteExpiryMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = int(time.time())
            session = request.session
            started = session.get(SESSION_STARTED_KEY)
            if started is None:
                session[SESSION_STARTED_KEY] = now
                session[SESSION_RENEWED_KEY] = now
            elif now - int(started) > settings.SESSION_ABSOLUTE_MAX_SECONDS:
                # Flush the session and serve the request as anonymous: the admin sends the user
                # to its login page, the API answers 401/403.
                logout(request)
            elif now - int(session.get(SESSION_RENEWED_KEY, 0)) >= SESSION_RENEW_SECONDS:
                session[SESSION_RENEWED_KEY] = now  # modified: saved with a fresh expiry
        return self.get_response(request)
