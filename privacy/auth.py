"""Login lock-out (django-axes).

``LoginLockoutBackend`` is axes' standalone backend with one difference: a call to
``authenticate()`` without an HTTP request (the test client's ``login()``, a management command,
a shell) is let through to the next backend instead of raising ``AxesBackendRequestParameterRequired``.
Such a call does not come from the network, so there is no address to throttle and no attacker
to lock out; every login the network can reach (the admin login form, DRF's session login,
basic authentication) passes its request and is counted and locked out as usual.
"""
from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LoginLockoutBackend(AxesStandaloneBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def client_ip(request) -> str | None:
    """The client's address for lock-out and access logs (``AXES_CLIENT_IP_CALLABLE``).

    Behind ``TRUSTED_PROXY_COUNT`` reverse proxies, each appending the address it received the
    request from to ``X-Forwarded-For``, the client is the entry that many places from the right;
    anything further left was written by the client and is not trusted. Without a proxy (count 0)
    it is the socket's address."""
    from django.conf import settings

    remote = request.META.get("REMOTE_ADDR") or None
    count = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if count <= 0:
        return remote
    chain = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    return chain[-count] if len(chain) >= count else remote
