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
